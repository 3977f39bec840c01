"""Daily runs from a saved state (triage/scale/state.py): the scores and features of a full run
over all the parts, day after day, while orders settle, change after settling and reopen;
bad input and a damaged state are one clear error."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from tests.dask_data import assert_same_scores
from triage.cli import cli
from triage.errors import DataFileError, InputError
from triage.orders.risk.snapshots import censor
from triage.scale.state import RiskState, _read_table, _write_table

DAYS = ("2024-08-25", "2024-08-26", "2024-08-30", "2024-09-10")


@pytest.fixture(scope="module")
def market():
    """3,000 simulated orders over 90 days: at the later days, orders bought in July are
    settled (every fact known before the 35 days the features look back)."""
    from triage.orders.data.schema import validate_events, validate_orders
    from triage.orders.data.simulator import simulate_marketplace

    sim = simulate_marketplace(3000, seed=7, start="2024-07-01", days=90)
    orders = validate_orders(sim.orders)
    return orders, validate_events(sim.events, orders["order_id"])


def changes(before, after, since):
    """What a day adds: the orders new or delivered since `before`, and the later events."""
    orders, events = after
    if before is None:
        return orders, events
    was = orders["order_id"].map(before[0].set_index("order_id")["delivered_at"])
    changed = ~orders["order_id"].isin(before[0]["order_id"]) | (
        was.isna() != orders["delivered_at"].isna()
    )
    return orders[changed.to_numpy()], events[events["time"] > since]


def add_part(root: Path, name: str, orders=None, events=None) -> None:
    for table, frame in (("orders", orders), ("events", events)):
        (root / table).mkdir(parents=True, exist_ok=True)
        if frame is not None:
            frame.to_parquet(root / table / f"part-{name}.parquet")


def full_scores(scorer, orders, events, at) -> pd.DataFrame:
    frame = scorer.score_frame(orders, events, as_of=at).drop(columns="row")
    return frame.sort_values("order_id").reset_index(drop=True)


def state_scores(scorer, root: Path, at, parts=None) -> tuple[pd.DataFrame, RiskState]:
    """A run from the state under `root` over `parts` (orders, events: paths or URLs; the
    folders under `root` by default): its scores by order id, and the state, saved."""
    state = RiskState.load(root / "state")
    orders, events = parts or (str(root / "orders"), str(root / "events"))
    run = state.apply_parts(orders, events, as_of=at)
    frame = scorer.score_frame(run.orders, run.events, as_of=run.as_of, features=run.features)
    state.save()
    frame = frame.drop(columns="row").sort_values("order_id").reset_index(drop=True)
    return frame, state


def day_by_day(market, root: Path, days):
    """Per day, after writing what it added as parts: (day, its time, the tables known then)."""
    before = since = None
    for day in days:
        at = pd.Timestamp(day, tz="UTC")
        now = censor(*market, at)
        add_part(root, day, *changes(before, now, since))
        yield day, at, now
        before, since = now, at


def run_days(scorer, market, root: Path, days=DAYS):
    """Each day's parts added and scored from the state; returns the last day's tables."""
    for _, at, now in day_by_day(market, root, days):
        got, state = state_scores(scorer, root, at)
        assert_same_scores(full_scores(scorer, *now, at), got)
    return now, state


def test_daily_runs_score_as_full_runs(api_risk_scorer, market, tmp_path):
    _, state = run_days(api_risk_scorer, market, tmp_path)
    # orders settled and folded, others live, the open ones kept whole
    assert len(state.settled["h1"]) > 500 and len(state.live) > 1000
    assert 100 < len(state.open_orders) < len(state.live)
    assert (tmp_path / "state" / "CURRENT").read_text().strip() == "gen-000004"
    assert len(list((tmp_path / "state").glob("gen-*"))) == 1  # the older ones removed
    meta = json.loads((tmp_path / "state" / "gen-000004" / "state.json").read_text())
    assert meta["settled_orders"] == len(state.settled["h1"])


def settled_order(state: RiskState, orders: pd.DataFrame, skip=()) -> pd.Series:
    from triage.scale.state import find_keys, id_hashes

    h1, h2 = id_hashes(orders["order_id"])
    settled = find_keys(state.settled["h1"], state.settled["h2"], h1, h2) >= 0
    found = orders[settled & ~orders["order_id"].isin(list(skip)).to_numpy()]
    assert len(found), "no settled order to change"
    return found.iloc[0]


def test_changes_to_settled_orders_are_exact(api_risk_scorer, market, tmp_path):
    """A settled order delivered earlier than first told, one handed over earlier than first
    told, one with a late event that changes nothing: as a full run on the changed tables."""
    scorer = api_risk_scorer
    (orders, events), state = run_days(scorer, market, tmp_path, DAYS[:2])
    at = pd.Timestamp("2024-08-28", tz="UTC")
    orders, events = censor(*market, at)
    one = settled_order(state, orders[orders["delivered_at"].notna()])
    two = settled_order(state, orders, skip=[one["order_id"]])
    three = settled_order(state, orders, skip=[one["order_id"], two["order_id"]])
    changed = orders[orders["order_id"] == one["order_id"]].copy()
    changed["delivered_at"] -= pd.Timedelta(hours=30)
    mine = events[events["order_id"] == one["order_id"]]
    shifted = mine[mine["event_type"] == "delivered"].assign(
        time=lambda e: e["time"] - pd.Timedelta(hours=30)
    )
    extra = pd.DataFrame(
        {
            "order_id": [two["order_id"], three["order_id"], *shifted["order_id"]],
            "time": [
                pd.Timestamp(two["purchased_at"]) + pd.Timedelta(minutes=1),
                at - pd.Timedelta(hours=2),
                *shifted["time"],
            ],
            "event_type": ["picked_up", "exception", *shifted["event_type"]],
            "location": ["", "", *shifted["location"]],
        }
    )
    before = censor(*market, pd.Timestamp(DAYS[1], tz="UTC"))
    new_orders, new_events = changes(before, (orders, events), pd.Timestamp(DAYS[1], tz="UTC"))
    add_part(tmp_path, "2024-08-28", new_orders, new_events)
    add_part(tmp_path, "2024-08-28-fix", changed, extra)  # sorts after: its row wins
    got, state = state_scores(scorer, tmp_path, at)
    full_orders = pd.concat([orders[orders["order_id"] != one["order_id"]], changed])
    full_events = pd.concat([events, extra]).sort_values(["order_id", "time"], kind="stable")
    assert_same_scores(
        full_scores(scorer, full_orders.reset_index(drop=True), full_events, at), got
    )
    # a later day goes on from there, exactly as well: the whole market with the changes
    everything = pd.concat([market[0][market[0]["order_id"] != one["order_id"]], changed])
    everything = everything.reset_index(drop=True)
    all_events = pd.concat([market[1], extra]).sort_values(["order_id", "time"], kind="stable")
    later = pd.Timestamp("2024-09-05", tz="UTC")
    now = censor(everything, all_events, later)
    new_orders, new_events = changes(censor(everything, all_events, at), now, at)
    assert len(new_orders) > 100 and len(new_events) > 500
    add_part(tmp_path, "2024-09-05", new_orders, new_events)
    got, _ = state_scores(scorer, tmp_path, later)
    assert_same_scores(full_scores(scorer, *now, later), got)


def test_a_canceled_order_open_again_needs_a_new_state(api_risk_scorer, market, tmp_path):
    (orders, _), _ = run_days(api_risk_scorer, market, tmp_path, DAYS[:2])
    canceled = orders[orders["canceled"] & orders["delivered_at"].isna()].iloc[:1].copy()
    canceled["canceled"] = False
    add_part(tmp_path, "2024-08-27", canceled)
    with pytest.raises(InputError, match=f"order {canceled['order_id'].iloc[0]} .* open again"):
        state_scores(api_risk_scorer, tmp_path, pd.Timestamp("2024-08-27", tz="UTC"))
    # the state on disk is the one before
    assert (tmp_path / "state" / "CURRENT").read_text().strip() == "gen-000002"


def test_bad_input_leaves_the_state_as_it_was(api_risk_scorer, market, tmp_path):
    scorer = api_risk_scorer
    (orders, events), _ = run_days(scorer, market, tmp_path, DAYS[:2])
    at = pd.Timestamp(DAYS[1], tz="UTC")
    with pytest.raises(InputError, match="before the last run of this state"):
        state_scores(scorer, tmp_path, at - pd.Timedelta(hours=1))
    stray = events.iloc[:1].assign(order_id="NOT-AN-ORDER")
    add_part(tmp_path, "2024-08-27", events=stray)
    with pytest.raises(DataFileError, match="1 event.* not in the orders table .*NOT-AN-ORDER"):
        state_scores(scorer, tmp_path, at)
    (tmp_path / "events" / "part-2024-08-27.parquet").unlink()
    first = tmp_path / "orders" / f"part-{DAYS[0]}.parquet"
    orders.iloc[:5].to_parquet(first)  # a part read before, rewritten
    with pytest.raises(DataFileError, match="changed since a run of this state read it"):
        state_scores(scorer, tmp_path, at)
    assert (tmp_path / "state" / "CURRENT").read_text().strip() == "gen-000002"


def test_a_damaged_state_is_one_clear_error(api_risk_scorer, market, tmp_path):
    run_days(api_risk_scorer, market, tmp_path, DAYS[:1])
    here = tmp_path / "state" / "gen-000001"
    (here / "live" / "h2.npy").unlink()
    with pytest.raises(DataFileError, match="cannot read gen-000001 .* rebuild it"):
        RiskState.load(tmp_path / "state")
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="not a state directory"):
        RiskState.load(other)


def test_tables_read_back_as_written(market, tmp_path):
    orders, events = market
    for name, frame in (("orders", orders), ("events", events), ("none", orders.iloc[:0])):
        _write_table(frame, tmp_path / name)
        pd.testing.assert_frame_equal(_read_table(tmp_path / name), frame)


def invoke(risk_models_dir, *args, env=None):
    return CliRunner().invoke(
        cli, ["--models-dir", str(risk_models_dir), *map(str, args)], env=env or {}
    )


def suggested(output: str) -> list[tuple]:
    return sorted((s["order_id"], s["risk"], s["category"]) for s in json.loads(output))


def command_days(market, root: Path, days=DAYS[:3]):
    """Per day, after writing its parts and the whole tables as known then: (day, the
    arguments of a full run over the whole tables, those of a run from the state)."""
    for day, _, now in day_by_day(market, root, days):
        now[0].to_parquet(root / "all-orders.parquet")
        now[1].to_parquet(root / "all-events.parquet")
        yield (
            day,
            ("--data", root / "all-orders.parquet", "--events", root / "all-events.parquet"),
            ("--state", root / "state", "--data", root / "orders", "--events", root / "events"),
        )


def test_score_orders_with_a_state(risk_models_dir, market, tmp_path):
    """The command suggests what it suggests over the whole tables, day after day."""
    for day, full_inputs, daily_inputs in command_days(market, tmp_path):
        args = ("score-orders", "--as-of", day, "--no-store", "--json")
        full = invoke(risk_models_dir, *args, *full_inputs)
        daily = invoke(risk_models_dir, *args, *daily_inputs)
        assert full.exit_code == 0 and daily.exit_code == 0, full.output + daily.output
        assert suggested(daily.stdout) == suggested(full.stdout)
        assert len(suggested(full.stdout)) > 5
    # nothing new: the same orders scored again, and the line says so
    again = invoke(risk_models_dir, "score-orders", "--as-of", DAYS[2], "--no-store",
                   "--state", tmp_path / "state", "--data", tmp_path / "orders",
                   "--events", tmp_path / "events")  # fmt: skip
    assert again.exit_code == 0, again.output
    assert "read 0 orders and 0 events from new parts" in again.stdout
    assert f"{len(json.loads(daily.stdout))} suggestions" in again.stdout
    result = invoke(risk_models_dir, "score-orders", "--engine", "dask", "--state", tmp_path / "state",
                    "--data", tmp_path / "orders", "--out", tmp_path / "o")  # fmt: skip
    assert result.exit_code == 2 and "use it with --engine local" in result.output


def test_one_run_at_a_time(api_risk_scorer, market, tmp_path):
    run_days(api_risk_scorer, market, tmp_path, DAYS[:1])
    first = RiskState.load(tmp_path / "state")
    with pytest.raises(InputError, match="another run is using this state"):
        RiskState.load(tmp_path / "state")
    first.close()
    RiskState.load(tmp_path / "state").close()  # free again


def test_state_input_must_be_parquet(risk_models_dir, market, tmp_path):
    market[0].to_csv(tmp_path / "orders.csv", index=False)
    result = invoke(risk_models_dir, "score-orders", "--state", tmp_path / "state",
                    "--data", tmp_path / "orders.csv")  # fmt: skip
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "--state reads Parquet" in lines[0]
    assert not (tmp_path / "state").exists()  # nothing made for a run that cannot start


def test_stored_suggestions_open_and_close_as_with_full_runs(risk_models_dir, market, tmp_path):
    """With --store, day after day: the suggestions made and the open ones closed (their orders
    delivered since) are those of full runs on a database of their own."""
    import re

    for day, full_inputs, daily_inputs in command_days(market, tmp_path):
        lines = []
        for name, inputs in (("full", full_inputs), ("daily", daily_inputs)):
            result = invoke(risk_models_dir, "score-orders", "--as-of", day, *inputs,
                            env={"TRIAGE_DATA_DIR": str(tmp_path / name)})  # fmt: skip
            assert result.exit_code == 0, result.output
            line = result.stdout.splitlines()[0]
            lines.append(re.sub(r" \(read .*?\)| stored in \S+", "", line))
        assert lines[0] == lines[1]
    assert "open suggestions of settled orders closed" in lines[0]  # the last day closed some


@pytest.mark.parametrize("batch", [700, 1_000_000])
def test_a_run_over_many_parts(api_risk_scorer, market, tmp_path, monkeypatch, batch):
    """Orders over several parts (one order in two: the later part's row wins), events cut by
    row so that an order's delivery comes in another part than its other events: one run
    scores as one process over the tables, whether the parts are taken in several batches or
    in one."""
    import triage.scale.state

    monkeypatch.setattr(triage.scale.state, "BATCH_ROWS", batch)
    at = pd.Timestamp(DAYS[2], tz="UTC")
    orders, events = censor(*market, at)
    shuffled = orders.sample(frac=1.0, random_state=3)
    t = int(at.timestamp())
    changed = orders.iloc[api_risk_scorer.open_rows(orders, events, t)[:1]].copy()
    changed["promised_date"] += pd.Timedelta(days=2)  # a promise moved, sent again
    for i, rows in enumerate(np.array_split(np.arange(len(shuffled)), 3)):
        add_part(tmp_path, f"a{i}", shuffled.iloc[rows])
    add_part(tmp_path, "a3", changed)
    for i, rows in enumerate(np.array_split(np.arange(len(events)), 4)):
        add_part(tmp_path, f"b{i}", events=events.iloc[rows])
    got, state = state_scores(api_risk_scorer, tmp_path, at)
    final = pd.concat([orders[orders["order_id"] != changed["order_id"].iloc[0]], changed])
    assert_same_scores(full_scores(api_risk_scorer, final.reset_index(drop=True), events, at), got)
    assert changed["order_id"].iloc[0] in set(got["order_id"])
    assert len(state.open_events) < len(events) / 3  # only the open orders' events kept


def test_parts_behind_an_fsspec_url(api_risk_scorer, market, tmp_path):
    """Parts on the in-memory file system of fsspec (what s3:// or gs:// are in production):
    read by their names below the URL, day after day, as full runs score."""
    import fsspec

    fs = fsspec.filesystem("memory")
    try:
        for _, at, now in day_by_day(market, tmp_path / "local", DAYS[:2]):
            for table in ("orders", "events"):
                for path in sorted((tmp_path / "local" / table).glob("*.parquet")):
                    if not fs.exists(f"/state-in/{table}/{path.name}"):
                        fs.pipe(f"/state-in/{table}/{path.name}", path.read_bytes())
            urls = "memory://state-in/orders", "memory://state-in/events"
            got, state = state_scores(api_risk_scorer, tmp_path, at, urls)
            assert_same_scores(full_scores(api_risk_scorer, *now, at), got)
            assert sorted(state.parts["orders"]) == [
                f"part-{d}.parquet" for d in DAYS[: len(state.parts["orders"])]
            ]
    finally:
        fs.rm("/state-in", recursive=True)
