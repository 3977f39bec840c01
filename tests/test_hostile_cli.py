"""Hostile input on every ``triage`` command: one ``error:`` line, exit status 2, no traceback,
and nothing partial stored (the registry's files, every table of the service database and the
workspace's files are compared before and after each run).

`ATTACKS` is the catalogue: a row per (command, hostile input). Data files come from
`HOSTILE_FILES` (missing, empty, binary, invalid UTF-8, NUL bytes, wrong extension, truncated
JSONL, a directory...). `test_the_catalogue_covers_every_command` walks the click tree, so a new
command without a row fails. `ACCEPTED_AS_DATA` texts (emoji, right-to-left, HTML, SQL...) are
legitimate: predicted, printed and written as given. Arguments that are not UTF-8, which only a
real process receives: tests/system/test_cli_process.py.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from tests.conftest import log_prediction
from triage.cli import cli
from triage.store import Store
from triage.store_tables import metadata as tables

MB = 1024 * 1024

#: name -> bytes of a hostile data file (the name's extension is what the commands see)
HOSTILE_FILES: dict[str, bytes] = {
    "empty.csv": b"",
    "empty.jsonl": b"",
    "empty.parquet": b"",
    "header_only.csv": b"text,category\n",
    "binary.csv": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\xff\xd8\xff\x00",
    "binary.parquet": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\xff\xd8\xff\x00",
    "latin1.csv": "text,category\ncafé crème,other\nnaïve,other\n".encode("latin-1"),
    "nul.csv": b"text,category\nab\x00cd,other\nef,shipping_delay\n",
    "truncated.jsonl": b'{"text": "a", "category": "other"}\n{"text": "b", "categ',
    "not_objects.jsonl": b'[1, 2]\n"text"\n',
    "csv_as.parquet": b"text,category\na,b\n",
    "wrong.txt": b"text,category\na,b\n",
    "wrong.xlsx": b"PK\x03\x04 not really a workbook",
    "no_extension": b"text,category\na,b\n",
    "no_columns.csv": b"body,label\nhello,other\nworld,shipping_delay\n",
    "one_class.csv": b"text,category\nwhere is it,other\nwhere is my parcel,other\nhello,other\n",
    "tiny.csv": b"text,category\nparcel late,shipping_delay\nrefund please,return_refund\n",
    "two_each.csv": (
        b"text,category\nparcel late,shipping_delay\nstill not here,shipping_delay\n"
        b"refund please,return_refund\nmoney back,return_refund\n"
    ),
    "blank_texts.csv": b'text,category\n"   ",other\n"\t",shipping_delay\n',
    "blank_labels.csv": b"text,category\nparcel late,\nrefund please,\n",
    "huge_cell.csv": b"text,category\n" + b"a" * (4 * MB) + b",other\nb,shipping_delay\n",
    "sql.csv": b'text,category\n"\'; DROP TABLE predictions; --",other\n',
    "bad_orders.csv": b"order_id,purchased_at,promised_date\nO1,not a date,2024-01-01\n",
    "orders_no_dates.csv": b"order_id\nO1\n",
    "events_bad_type.csv": b"order_id,time,event_type\nO1,2024-01-01T00:00:00Z,teleported\n",
    "cases_no_order_id.csv": b"case,text\n1,hello\n",
}

#: texts that are odd but legitimate (the command line has no size limit and stores nothing, so
#: NUL characters and long texts are just text there)
ACCEPTED_AS_DATA = {
    "NUL character": "a\x00b parcel",
    "emoji": "包裹还没到 😡😡😡 where is it 📦",
    "right-to-left": "\u202eطلبي لم يصل بعد\u202c עברית order late",
    "HTML and script": "<script>alert(document.cookie)</script><img src=x onerror=alert(1)>",
    "SQL fragments": "'; DROP TABLE predictions; -- \" OR 1=1; DELETE FROM feedback",
    "format strings": "%s %n %x {0} ${jndi:ldap://x} {{7*7}}",
}

T, V, W = "{t}", "{v}", "{w}"  # hostile files folder, valid files folder, workspace

#: (id, arguments, environment overrides, message pattern)
# fmt: off
ATTACKS: tuple[tuple[str, tuple[str, ...], dict[str, str], str], ...] = (
    # train cases
    ("train cases: missing file", ("train", "cases", "--data", f"{T}/missing.csv", "--out", f"{W}/o"), {}, "no such file"),
    ("train cases: a directory", ("train", "cases", "--data", T, "--out", f"{W}/o"), {}, "not a file"),
    ("train cases: empty csv", ("train", "cases", "--data", f"{T}/empty.csv", "--out", f"{W}/o"), {}, "empty"),
    ("train cases: empty jsonl", ("train", "cases", "--data", f"{T}/empty.jsonl", "--out", f"{W}/o"), {}, "empty|no rows|cannot read"),
    ("train cases: empty parquet", ("train", "cases", "--data", f"{T}/empty.parquet", "--out", f"{W}/o"), {}, "cannot read as parquet"),
    ("train cases: header only", ("train", "cases", "--data", f"{T}/header_only.csv", "--out", f"{W}/o"), {}, "no rows"),
    ("train cases: binary", ("train", "cases", "--data", f"{T}/binary.csv", "--out", f"{W}/o"), {}, "UTF-8|cannot read"),
    ("train cases: binary parquet", ("train", "cases", "--data", f"{T}/binary.parquet", "--out", f"{W}/o"), {}, "cannot read as parquet"),
    ("train cases: latin-1", ("train", "cases", "--data", f"{T}/latin1.csv", "--out", f"{W}/o"), {}, "not valid UTF-8"),
    ("train cases: NUL bytes", ("train", "cases", "--data", f"{T}/nul.csv", "--out", f"{W}/o"), {}, "NUL|cannot read|two examples|at least"),
    ("train cases: truncated jsonl", ("train", "cases", "--data", f"{T}/truncated.jsonl", "--out", f"{W}/o"), {}, "cannot read as jsonl"),
    ("train cases: jsonl of non-objects", ("train", "cases", "--data", f"{T}/not_objects.jsonl", "--out", f"{W}/o"), {}, "cannot read as jsonl|missing column"),
    ("train cases: csv named parquet", ("train", "cases", "--data", f"{T}/csv_as.parquet", "--out", f"{W}/o"), {}, "cannot read as parquet"),
    ("train cases: .txt", ("train", "cases", "--data", f"{T}/wrong.txt", "--out", f"{W}/o"), {}, "unknown file type"),
    ("train cases: .xlsx", ("train", "cases", "--data", f"{T}/wrong.xlsx", "--out", f"{W}/o"), {}, "unknown file type"),
    ("train cases: no extension", ("train", "cases", "--data", f"{T}/no_extension", "--out", f"{W}/o"), {}, "unknown file type"),
    ("train cases: missing columns", ("train", "cases", "--data", f"{T}/no_columns.csv", "--out", f"{W}/o"), {}, "missing column"),
    ("train cases: one class", ("train", "cases", "--data", f"{T}/one_class.csv", "--out", f"{W}/o"), {}, "at least two classes"),
    ("train cases: one row per class", ("train", "cases", "--data", f"{T}/tiny.csv", "--out", f"{W}/o"), {}, "at least 2 examples"),
    ("train cases: blank texts", ("train", "cases", "--data", f"{T}/blank_texts.csv", "--out", f"{W}/o"), {}, "empty text"),
    ("train cases: blank labels", ("train", "cases", "--data", f"{T}/blank_labels.csv", "--out", f"{W}/o"), {}, "empty labels"),
    ("train cases: out is a file", ("train", "cases", "--data", f"{V}/cases.csv", "--out", f"{V}/cases.csv"), {}, "is a file"),
    ("train cases: out not empty", ("train", "cases", "--data", f"{V}/cases.csv", "--out", V), {}, "not empty"),
    ("train cases: register traversal", ("train", "cases", "--data", f"{V}/cases.csv", "--register", "../../evil"), {}, "invalid model name"),
    ("train cases: register hidden", ("train", "cases", "--data", f"{V}/cases.csv", "--register", ".hidden"), {}, "invalid model name"),
    ("train cases: register empty", ("train", "cases", "--data", f"{V}/cases.csv", "--register", ""), {}, "invalid model name|exactly one of"),
    ("train cases: both out and register", ("train", "cases", "--data", f"{V}/cases.csv", "--out", f"{W}/o", "--register", "x"), {}, "exactly one of"),
    ("train cases: unknown option", ("train", "cases", "--data", f"{V}/cases.csv", "--out", f"{W}/o", "--lr", "9"), {}, "No such option"),
    ("train cases: bad precision", ("train", "cases", "--data", f"{V}/cases.csv", "--out", f"{W}/o", "--target-precision", "2"), {}, "target-precision"),
    ("train cases: seed not a number", ("train", "cases", "--data", f"{V}/cases.csv", "--out", f"{W}/o", "--seed", "x"), {}, "seed"),
    # evaluate cases
    ("evaluate cases: model traversal", ("evaluate", "cases", "--model", "cases@../../etc", "--data", f"{V}/cases.csv"), {}, "no such model directory"),
    ("evaluate cases: model not a dir", ("evaluate", "cases", "--model", f"{V}/cases.csv", "--data", f"{V}/cases.csv"), {}, "no such model directory"),
    ("evaluate cases: a folder without a model", ("evaluate", "cases", "--model", V, "--data", f"{V}/cases.csv"), {}, "not a model directory"),
    ("evaluate cases: unknown version", ("evaluate", "cases", "--model", "cases@v9", "--data", f"{V}/cases.csv"), {}, "no version v9"),
    ("evaluate cases: binary", ("evaluate", "cases", "--model", "cases", "--data", f"{T}/binary.csv"), {}, "UTF-8|cannot read"),
    ("evaluate cases: missing columns", ("evaluate", "cases", "--model", "cases", "--data", f"{T}/no_columns.csv"), {}, "missing column"),
    ("evaluate cases: blank texts", ("evaluate", "cases", "--model", "cases", "--data", f"{T}/blank_texts.csv"), {}, "empty text"),
    # predict cases
    ("predict cases: empty text", ("predict", "cases", "--text", ""), {}, "empty"),
    ("predict cases: whitespace text", ("predict", "cases", "--text", " \t\u3000\n"), {}, "empty"),
    ("predict cases: text and data", ("predict", "cases", "--text", "a", "--data", f"{V}/cases.csv"), {}, "exactly one of"),
    ("predict cases: neither", ("predict", "cases"), {}, "exactly one of"),
    ("predict cases: model traversal", ("predict", "cases", "--model", "../../../etc/passwd", "--text", "a"), {}, "no such model directory"),
    ("predict cases: name traversal", ("predict", "cases", "--model", "cases@..", "--text", "a"), {}, "invalid version"),
    ("predict cases: out with unknown type", ("predict", "cases", "--data", f"{V}/cases.csv", "--out", f"{W}/p.txt"), {}, "unknown file type"),
    # models
    ("models list: traversal", ("models", "list", "../.."), {}, "invalid model name"),
    ("models promote: name traversal", ("models", "promote", "../../tmp", "v1"), {}, "invalid model name"),
    ("models promote: version traversal", ("models", "promote", "cases", "../../../tmp/x"), {}, "invalid version"),
    ("models promote: hidden version", ("models", "promote", "cases", ".lock"), {}, "invalid version"),
    ("models promote: unknown version", ("models", "promote", "cases", "v9"), {}, "no version v9"),
    ("models promote: registry.json", ("models", "promote", "cases", "registry.json"), {}, "no version registry.json"),
    ("models rollback: traversal", ("models", "rollback", "../cases"), {}, "invalid model name"),
    ("models rollback: unknown", ("models", "rollback", "nothing"), {}, "no champion"),
    ("models rollback: SQL", ("models", "rollback", "x'; DROP TABLE api_keys; --"), {}, "invalid model name"),
    # bootstrap and corpus
    ("bootstrap: models dir is a file", ("--models-dir", f"{V}/cases.csv", "bootstrap"), {}, "is a file"),
    ("corpus check: missing corpus", ("corpus", "check"), {"TRIAGE_CORPUS_DIR": "{w}/nowhere"}, r"no \*\.jsonl files"),
    ("corpus check: corpus is a file", ("corpus", "check"), {"TRIAGE_CORPUS_DIR": "{v}/cases.csv"}, r"no \*\.jsonl files"),
    # retrain
    ("retrain cases: binary history", ("retrain", "cases", "--history", f"{T}/binary.csv"), {}, "UTF-8|cannot read"),
    ("retrain cases: history without columns", ("retrain", "cases", "--history", f"{T}/no_columns.csv"), {}, "missing column"),
    ("retrain cases: eval missing", ("retrain", "cases", "--eval", f"{T}/missing.csv"), {}, "no such file"),
    ("retrain risk: orders without dates", ("retrain", "risk", "--data", f"{T}/orders_no_dates.csv"), {}, "missing column"),
    ("retrain risk: bad dates", ("retrain", "risk", "--data", f"{T}/bad_orders.csv"), {}, "purchased_at|date"),
    ("retrain risk: holdout garbage", ("retrain", "risk", "--data", f"{V}/orders.parquet", "--holdout-from", "<script>"), {}, "not a date"),
    ("retrain risk: events without data", ("retrain", "risk", "--events", f"{V}/orders.events.parquet"), {}, "--events needs --data"),
    ("retrain risk: holdout days zero", ("retrain", "risk", "--holdout-days", "0"), {}, "holdout-days"),
    # monitor
    ("monitor cases: days zero", ("monitor", "cases", "--days", "0"), {}, "days"),
    ("monitor cases: period SQL", ("monitor", "cases", "--period", "W'; DROP TABLE x"), {}, "period"),
    ("monitor cases: no champion", ("--models-dir", f"{W}/empty_models", "monitor", "cases"), {}, "no champion"),
    # risk models and orders
    ("train risk: binary", ("train", "risk", "--data", f"{T}/binary.parquet", "--out", f"{W}/o"), {}, "cannot read as parquet"),
    ("train risk: missing columns", ("train", "risk", "--data", f"{T}/orders_no_dates.csv", "--out", f"{W}/o"), {}, "missing column"),
    ("train risk: bad dates", ("train", "risk", "--data", f"{T}/bad_orders.csv", "--out", f"{W}/o"), {}, "purchased_at|date"),
    ("train risk: bad event type", ("train", "risk", "--data", f"{V}/orders.parquet", "--events", f"{T}/events_bad_type.csv", "--out", f"{W}/o"), {}, "event_type"),
    ("train risk: register traversal", ("train", "risk", "--data", f"{V}/orders.parquet", "--register", "a/../../b"), {}, "invalid model name"),
    ("train risk: test-from garbage", ("train", "risk", "--data", f"{V}/orders.parquet", "--out", f"{W}/o", "--test-from", "2024-13-45"), {}, "not a date"),
    ("evaluate risk: a case model", ("evaluate", "risk", "--model", "cases", "--data", f"{V}/orders.parquet"), {}, "not a risk model"),
    ("evaluate risk: from garbage", ("evaluate", "risk", "--model", "risk", "--data", f"{V}/orders.parquet", "--from", "yesterday-ish"), {}, "not a date"),
    ("evaluate risk: NUL file", ("evaluate", "risk", "--model", "risk", "--data", f"{T}/nul.csv"), {}, "missing column"),
    ("score-orders: as-of garbage", ("score-orders", "--data", f"{V}/orders.parquet", "--as-of", "'; DROP TABLE suggestions; --"), {}, "not a date"),
    ("score-orders: a case model", ("score-orders", "--model", "cases", "--data", f"{V}/orders.parquet"), {}, "not a risk model"),
    ("score-orders: cases file without order_id", ("score-orders", "--data", f"{V}/orders.parquet", "--cases", f"{T}/cases_no_order_id.csv"), {}, "missing column"),
    ("score-orders: model traversal", ("score-orders", "--model", "risk@../../x", "--data", f"{V}/orders.parquet"), {}, "no such model directory"),
    ("simulate: too few orders", ("simulate", "--orders", "0", "--out", f"{W}/s.csv"), {}, "orders"),
    ("simulate: unknown type", ("simulate", "--orders", "10", "--out", f"{W}/s.exe"), {}, "unknown file type"),
    ("simulate: bad start", ("simulate", "--orders", "10", "--start", "\u202e2024", "--out", f"{W}/s.csv"), {}, "not a date"),
    ("import olist: missing folder", ("import", "olist", "--dir", f"{W}/nowhere", "--out", f"{W}/o.csv"), {}, "not found|no such"),
    ("import olist: binary orders.csv", ("import", "olist", "--dir", f"{W}/olist_binary", "--out", f"{W}/o.csv"), {}, "UTF-8|cannot read|missing column"),
    # service commands
    ("serve: zero workers", ("serve", "--workers", "0"), {}, "workers"),
    ("serve: port out of range", ("serve", "--port", "70000"), {}, "port"),
    ("serve: port not a number", ("serve", "--port", "http"), {}, "port"),
    ("serve: bad database URL", ("serve",), {"TRIAGE_DATABASE_URL": "nosuchdb://x"}, "database"),
    ("keys create: unknown role", ("keys", "create", "--role", "root"), {}, "role"),
    ("keys create: SQL role", ("keys", "create", "--role", "admin'--"), {}, "role"),
    ("keys revoke: SQL id", ("keys", "revoke", "x' OR '1'='1"), {}, "no active key"),
    ("keys revoke: unknown id", ("keys", "revoke", "000000000000"), {}, "no active key"),
    ("keys list: bad database URL", ("keys", "list"), {"TRIAGE_DATABASE_URL": "sqlite:////proc/nope/x.db"}, "database"),
    ("db upgrade: bad database URL", ("db", "upgrade"), {"TRIAGE_DATABASE_URL": "::not a url::"}, "database URL"),
    ("db current: bad database URL", ("db", "current"), {"TRIAGE_DATABASE_URL": "::not a url::"}, "database URL"),
    ("any command: bad setting", ("models", "list"), {"TRIAGE_BATCH_LIMIT": "many"}, "TRIAGE_BATCH_LIMIT"),
)
# fmt: on


# --- workspace -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def valid_files(tmp_path_factory, small_cases):
    """Good inputs, for attacks on another argument of a command."""
    from triage.orders.data.files import write_order_tables
    from triage.orders.data.simulator import simulate_marketplace

    folder = tmp_path_factory.mktemp("valid")
    small_cases[["text", "category"]].to_csv(folder / "cases.csv", index=False)
    sim = simulate_marketplace(400, seed=5, start="2024-10-01", days=10)
    write_order_tables(sim.orders, sim.events, folder / "orders.parquet")
    return folder


@pytest.fixture(scope="module")
def hostile_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    for name, content in HOSTILE_FILES.items():
        (folder / name).write_bytes(content)
    return folder


@pytest.fixture
def workspace(tmp_path, served_models, monkeypatch):
    """Models (cases v1/v2, risk) and a database with a row in each main table."""
    (tmp_path / "empty_models").mkdir()
    olist = tmp_path / "olist_binary"
    olist.mkdir()
    (olist / "orders.csv").write_bytes(b"\xff\xfe\x00binary\x00")
    monkeypatch.setenv("TRIAGE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("TRIAGE_MODELS_DIR", str(served_models))
    for name in ("TRIAGE_DATABASE_URL", "TRIAGE_CORPUS_DIR", "TRIAGE_BATCH_LIMIT"):
        monkeypatch.delenv(name, raising=False)
    store = Store(f"sqlite:///{tmp_path / 'var' / 'triage.db'}")
    store.migrate()
    pid = log_prediction(store)
    store.add_feedback(pid, "not_received", "note")
    store.create_key("admin", "existing")
    store.dispose()
    return tmp_path


def state(root: Path) -> dict[str, object]:
    """Every file under `root` (by SHA-256) and every row of the service database."""
    files = {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != ".lock" and "triage.db" not in p.name
    }
    database = root / "var" / "triage.db"
    if not database.exists():
        return {"files": files, "rows": None}
    engine = sa.create_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as conn:
            rows = {
                t.name: sorted(map(repr, conn.execute(sa.select(t)).all()))
                for t in tables.sorted_tables
            }
    finally:
        engine.dispose()
    return {"files": files, "rows": rows}


def run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, env=env)


def error_lines(output: str) -> list[str]:
    """The lines a user sees (a progress bar redrawn with \\r counts as its last state)."""
    lines = (line.split("\r")[-1] for line in output.split("\n"))
    return [line for line in lines if line.strip()]


# --- the catalogue ---------------------------------------------------------------------------
def _leaf_commands(group, prefix=()) -> set[str]:
    out = set()
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            out |= _leaf_commands(command, (*prefix, name))
        else:
            out.add(" ".join((*prefix, name)))
    return out


def _command_of(args: tuple[str, ...]) -> str:
    words = [a for a in args if not a.startswith("-") and "{" not in a]
    leaves = _leaf_commands(cli)
    for n in (2, 1):
        for i in range(len(words)):
            candidate = " ".join(words[i : i + n])
            if candidate in leaves:
                return candidate
    raise AssertionError(f"no command in {args}")


def test_the_catalogue_covers_every_command():
    covered = {_command_of(args) for _, args, _, _ in ATTACKS}
    assert _leaf_commands(cli) - covered == set()


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [pytest.param(a, e, m, id=i) for i, a, e, m in ATTACKS],
)
def test_hostile_input_is_one_line_exit_2_and_stores_nothing(
    workspace, valid_files, hostile_files, args, env, message
):
    fill = {"{t}": str(hostile_files), "{v}": str(valid_files), "{w}": str(workspace)}

    def expand(text: str) -> str:
        for key, value in fill.items():
            text = text.replace(key, value)
        return text

    before = state(workspace), state(valid_files)
    result = run(*map(expand, args), env={k: expand(v) for k, v in env.items()})
    lines = error_lines(result.output)
    assert result.exit_code == 2, result.output[-2000:]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output[-2000:]
    assert re.search(message, lines[0]), lines[0]
    assert "Traceback" not in result.output and len(lines[0]) < 1000
    assert (state(workspace), state(valid_files)) == before
    assert not (workspace / "o").exists() and not (workspace / "o.csv").exists()


@pytest.mark.parametrize("name", ACCEPTED_AS_DATA, ids=str)
def test_unusual_text_is_predicted_and_written_as_given(workspace, name):
    text = ACCEPTED_AS_DATA[name]
    result = run("predict", "cases", "--text", text, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["category"]
    data = workspace / "odd.jsonl"
    pd.DataFrame({"text": [text, "where is my parcel"]}).to_json(
        data, orient="records", lines=True, force_ascii=False
    )
    out = workspace / "odd_out.parquet"
    result = run("predict", "cases", "--data", str(data), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert pd.read_parquet(out)["text"].tolist() == [text, "where is my parcel"]


def test_sql_in_a_key_id_leaves_every_key_working(workspace):
    before = state(workspace)
    result = run("keys", "revoke", "' OR 1=1; UPDATE api_keys SET revoked_at = NULL; --")
    assert result.exit_code == 2
    assert state(workspace) == before
    listing = run("keys", "list", "--json")
    assert [k["revoked_at"] for k in json.loads(listing.output)] == [None]


@pytest.mark.timeout(600)  # a hang guard (10 s quiet): the text engine is linear (test_entities)
def test_a_4_mb_text_is_categorized_not_hung_on(workspace, hostile_files):
    """The command line has no size limit (files are the operator's): a 4 MB cell and a 1 MB
    argument are categorized like any text."""
    result = run("predict", "cases", "--data", str(hostile_files / "huge_cell.csv"), "--json")
    assert result.exit_code == 0, result.output[-2000:]
    assert len(json.loads(result.output)) == 2
    result = run("predict", "cases", "--text", "包裹 parcel " * (MB // 12), "--json")
    assert result.exit_code == 0 and json.loads(result.output)["category"]


@pytest.mark.parametrize("command", (("train", "risk", "--out", "{w}/o"), ("score-orders",)))
def test_order_dates_out_of_range_are_one_line(workspace, command):
    data = workspace / "old_orders.csv"
    data.write_text("order_id,purchased_at,promised_date\nO1,1500-01-01,2024-01-01\n")
    args = [a.replace("{w}", str(workspace)) for a in command]
    result = CliRunner().invoke(cli, [*args, "--data", str(data)])
    assert result.exit_code == 2, result.output
    assert error_lines(result.output)[0].startswith("error: ")


@pytest.mark.parametrize(
    "command",
    (
        ("train", "cases", "--data", "{w}/missing.csv", "--register", "a/../b"),
        ("train", "risk", "--data", "{w}/missing.csv", "--register", "a/../b"),
        ("simulate", "--orders", "100000", "--out", "{w}/sim.exe"),
    ),
    ids=("train cases", "train risk", "simulate"),
)
def test_bad_output_names_fail_before_the_work(tmp_path, command, monkeypatch):
    """A name or file type that cannot be written is refused first: before the data is read
    (the missing file would be reported otherwise) or the simulation starts."""
    import triage.orders.data.simulator

    def no_simulation(*args, **kwargs):
        raise AssertionError("the simulation ran before the output was checked")

    monkeypatch.setattr(triage.orders.data.simulator, "simulate_marketplace", no_simulation)
    args = [a.replace("{w}", str(tmp_path)) for a in command]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    lines = error_lines(result.output)
    assert len(lines) == 1 and re.search("invalid model name|unknown file type", lines[0]), lines
    assert list(tmp_path.iterdir()) == []
