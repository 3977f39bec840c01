"""benchmarks/risk_oot.py's interval of a model's ROC AUC margin over its baseline, which says
whether a margin on one cut-off is more than the draw of that month's orders, and that of the
mean margin over several cut-offs."""

from pathlib import Path

import numpy as np
import pytest


@pytest.fixture
def risk_oot(monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent.parent / "benchmarks"))
    import risk_oot

    return risk_oot


@pytest.fixture
def margin_interval(risk_oot):
    """95 % interval of one cut-off's margin, as run_split gives it."""

    def interval(*arguments):
        return risk_oot.percentile_interval(risk_oot.margin_resamples(*arguments))

    return interval


def _snapshots(orders: int, seed: int = 0):
    """Three snapshots per order, all with the order's label."""
    rng = np.random.default_rng(seed)
    late = rng.random(orders) < 0.2
    ids = np.repeat(np.arange(orders), 3)
    return late[ids].astype(int), ids, rng


def test_a_model_no_better_than_its_baseline_has_an_interval_around_zero(margin_interval):
    y, ids, rng = _snapshots(400)
    scores = y + rng.normal(0, 1.5, len(y))
    assert margin_interval(y, scores, scores, ids, 50) == [0.0, 0.0]
    other = y + rng.normal(0, 1.5, len(y))  # as good, by another draw
    low, high = margin_interval(y, scores, other, ids, 200)
    assert low < 0 < high


def test_a_better_model_has_an_interval_above_zero_that_narrows_with_more_orders(
    margin_interval,
):
    widths = []
    for orders in (300, 3000):
        y, ids, rng = _snapshots(orders, seed=1)
        good = y + rng.normal(0, 0.5, len(y))
        poor = y + rng.normal(0, 2.0, len(y))
        low, high = margin_interval(y, good, poor, ids, 200)
        assert 0 < low < high < 1
        widths.append(high - low)
    assert widths[1] < widths[0] / 2  # ten times the orders: about a third of the width


def test_the_mean_over_cut_offs_is_known_more_narrowly_than_any_one_cut_off(risk_oot):
    draws, widths, lows, margins = [], [], [], []
    for seed in range(4):  # four cut-offs of 400 orders each, the model a little better
        y, ids, rng = _snapshots(400, seed=seed)
        good = y + rng.normal(0, 1.0, len(y))
        poor = y + rng.normal(0, 1.3, len(y))
        draws.append(risk_oot.margin_resamples(y, good, poor, ids, 150))
        low, high = risk_oot.percentile_interval(draws[-1])
        widths.append(high - low)
        lows.append(low)
        margins.append(np.nanmean(draws[-1]))
    low, high = risk_oot.mean_interval(draws)
    assert low < np.mean(margins) < high
    # four months together show what one month alone may not
    assert min(lows) <= 0 < low
    # four independent months: about half a month's width
    assert high - low < 0.7 * min(widths)


def test_draws_without_a_value_are_left_out_of_an_interval(risk_oot):
    draws = np.array([np.nan, 0.01, 0.02, 0.03, np.nan, 0.04])
    low, high = risk_oot.percentile_interval(draws)
    assert 0.01 <= low < high <= 0.04


def test_the_margin_needed_on_every_cut_off_grows_with_their_number_and_noise(risk_oot):
    """To show +0.03 on every cut-off 4 times in 5, a model needs a true margin above 0.03: by 0.84
    standard deviations of one cut-off's margin for one (Φ(0.84) = 0.8), by 1.79 for six
    (Φ(1.79)^6 = 0.8)."""
    rng = np.random.default_rng(0)
    needed = risk_oot.margin_for_every_cut_off
    one = needed([rng.normal(0.5, 0.01, 20_000)], 0.03)  # where the draws centre does not matter
    assert one == pytest.approx(0.03 + 0.8416 * 0.01, abs=3e-4)
    six = needed([rng.normal(0, 0.01, 20_000) for _ in range(6)], 0.03)
    assert six == pytest.approx(0.03 + 1.7930 * 0.01, abs=3e-4)
    noisier = needed([rng.normal(0, 0.02, 20_000) for _ in range(6)], 0.03)
    assert noisier == pytest.approx(0.03 + 1.7930 * 0.02, abs=6e-4)
    surer = needed([rng.normal(0, 0.01, 20_000) for _ in range(6)], 0.03, chance=0.95)
    assert surer > six
    with_gaps = [np.where(rng.random(20_000) < 0.1, np.nan, rng.normal(0, 0.01, 20_000))]
    assert needed(with_gaps, 0.03) == pytest.approx(one, abs=3e-4)  # draws without a value left out
    assert needed([], 0.03) is None
    assert needed([np.full(10, np.nan)], 0.03) is None
    assert needed([np.zeros(10)], 0.03) is None  # no spread: no noise to speak of


def test_the_plot_draws_every_table_set_with_or_without_intervals(risk_oot, tmp_path):
    summary = {
        tables: {
            "open_daily": {
                "margins": {"2017-07": 0.01, "2017-08": -0.02},
                "intervals": {"2017-07": [-0.01, 0.03]} if tables == "all" else {},
                "mean_margin": -0.005,
                "mean_interval": [-0.02, 0.01] if tables == "all" else None,
            }
        }
        for tables in ("all", "orders")
    }
    path = tmp_path / "margins.png"
    risk_oot.plot(summary, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    from PIL import Image

    width, height = Image.open(path).size
    assert width > 2 * height  # one panel per table set, side by side


def test_without_a_margin_there_is_no_plot_and_a_reason(risk_oot, tmp_path, capsys):
    path = tmp_path / "margins.png"
    risk_oot.plot({"all": {"open_daily": {"margins": {}}}}, path)
    assert not path.exists()
    assert "no cut-off has a margin" in capsys.readouterr().err
