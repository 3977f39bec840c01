"""Order-linked cases: case texts joined with simulated orders, to fit and measure the
order-aware model (triage.cases.order_aware).

Two kinds of text are joined with orders:

- **clear texts** of the seed corpus: each joined with a simulated order in a state its
  category makes plausible (`PLAUSIBLE`: a defective item was delivered, a late dispatch is not
  shipped yet, a fee question fits any order). The label is the corpus's.
- **order-dependent texts** of data/order_cases/ (hand-written, "还没到" / "where is my
  stuff??"): each joined with one order per state it lists, labelled by that state
  (``by_state``: in_transit -> shipping_delay, delivered -> not_received, ...).

Orders come from the marketplace simulator, observed at random moments (`simulated_facts`), so
that lateness and silent tracking vary as they do in the service. Splits are fixed by a hash of
the text: the order-dependent texts 60/40 (fit/test); the corpus's held-out split in two halves,
one to fit the order-aware model (the text model never trained on it, so its probabilities are
honest) and one to measure it (`corpus_half`).
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from triage.cases.order_aware import ORDER_STATES, OrderFacts, OrderStack
from triage.errors import DataFileError
from triage.orders.context import order_facts
from triage.orders.data.simulator import simulate_marketplace

__all__ = [
    "LinkedCases",
    "PLAUSIBLE",
    "ambiguous_cases",
    "choose_settings",
    "clear_cases",
    "corpus_half",
    "default_order_cases_dir",
    "attach_order_stack",
    "best_setting",
    "fit_cases",
    "fit_order_stack",
    "load_order_dependent",
    "simulated_facts",
    "text_proba",
]

LOST_DAYS = 7.0  # late or silent this long while in transit: the parcel may be lost


def _lost(f: OrderFacts) -> bool:
    return f.status == "in_transit" and (f.silent or f.days_late >= LOST_DAYS)


def _any(_: OrderFacts) -> bool:
    return True


#: the order states in which a clear text of each category is plausible (others: any state)
PLAUSIBLE: dict[str, Callable[[OrderFacts], bool]] = {
    "shipping_delay": lambda f: f.status in ("not_shipped", "in_transit"),
    "not_received": lambda f: f.status == "delivered" or _lost(f),
    "product_quality": lambda f: f.status == "delivered",
    "return_refund": lambda f: f.status in ("delivered", "canceled", "in_transit"),
    "order_issue": lambda f: f.status in ("not_shipped", "in_transit", "canceled"),
}


def _byte(text: str, i: int) -> int:
    return hashlib.sha256(text.encode("utf-8")).digest()[i]


def corpus_half(text: str) -> str:
    """ "fit" or "measure": the fixed half of the corpus's held-out split a text belongs to."""
    return "fit" if _byte(text, 1) < 128 else "measure"


def _dependent_split(text: str) -> str:
    return "test" if _byte(text, 2) < 102 else "train"  # 40 % test


def default_order_cases_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "data" / "order_cases"


def load_order_dependent(
    directory: Path | str | None = None, categories: Sequence[str] | None = None
) -> pd.DataFrame:
    """The order-dependent texts (``*.jsonl``): text, language, role, by_state, split."""
    folder = Path(directory) if directory is not None else default_order_cases_dir()
    rows = []
    for path in sorted(folder.glob("*.jsonl")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            where = f"{path.name}:{number}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise DataFileError(f"{where}: not JSON ({error.msg})") from None
            by_state = row.get("by_state")
            if not isinstance(row.get("text"), str) or not isinstance(by_state, dict):
                raise DataFileError(f"{where}: needs text and by_state")
            bad = [s for s in by_state if s not in ORDER_STATES]
            if bad:
                raise DataFileError(f"{where}: unknown order state {bad[0]!r}")
            if categories is not None:
                unknown = [c for c in by_state.values() if c not in categories]
                if unknown:
                    raise DataFileError(f"{where}: unknown category {unknown[0]!r}")
            if len(set(by_state.values())) < 2:
                raise DataFileError(f"{where}: by_state must name two categories at least")
            rows.append(
                {
                    "text": row["text"],
                    "language": row.get("language", "zh"),
                    "role": row.get("role", "buyer"),
                    "by_state": by_state,
                    "split": _dependent_split(row["text"]),
                }
            )
    if not rows:
        raise DataFileError(f"no order-dependent texts in {folder}")
    return pd.DataFrame(rows)


@functools.lru_cache(maxsize=4)
def simulated_facts(
    n_orders: int = 4_000, *, seed: int = 0, moments: int = 6
) -> tuple[OrderFacts, ...]:
    """`OrderFacts` of simulated orders seen at `moments` random times each: every state, on
    time and late, tracking lively and silent. (The same arguments give the same facts; kept
    for the process's later calls.)"""
    sim = simulate_marketplace(n_orders, seed=seed, start="2024-01-01", days=60)
    rng = np.random.default_rng(seed)
    first = sim.orders["purchased_at"].min()
    last = sim.orders["purchased_at"].max() + pd.Timedelta(days=20)
    span = (last - first).total_seconds()
    found: list[OrderFacts] = []
    for offset in rng.uniform(0.2, 1.0, moments) * span:
        now = first + pd.Timedelta(seconds=float(offset))
        bought = sim.orders[sim.orders["purchased_at"] <= now].reset_index(drop=True)
        found += order_facts(bought, sim.events, now)
    return tuple(found)


@dataclass
class LinkedCases:
    """Cases joined with orders: texts, their orders' facts, true categories and kinds."""

    texts: list[str]
    languages: list[str]
    facts: list[OrderFacts]
    labels: list[str]
    kind: list[str]  # "clear" or "dependent"

    def __len__(self) -> int:
        return len(self.texts)

    def __add__(self, other: LinkedCases) -> LinkedCases:
        return LinkedCases(
            self.texts + other.texts,
            self.languages + other.languages,
            self.facts + other.facts,
            self.labels + other.labels,
            self.kind + other.kind,
        )


def _pools(facts: Sequence[OrderFacts]) -> dict[str, list[OrderFacts]]:
    pools: dict[str, list[OrderFacts]] = {s: [] for s in ORDER_STATES}
    for f in facts:
        pools[f.status].append(f)
    empty = [s for s, pool in pools.items() if not pool]
    if empty:
        raise DataFileError(f"the simulation has no order in state {empty[0]}; simulate more")
    return pools


def clear_cases(
    frame: pd.DataFrame, facts: Sequence[OrderFacts], *, seed: int = 0, per_text: int = 1
) -> LinkedCases:
    """Corpus rows (text, category, language) joined with `per_text` plausible orders each."""
    rng = np.random.default_rng(seed)
    every = list(facts)
    plausible_pools: dict[str, list[OrderFacts]] = {}
    out = LinkedCases([], [], [], [], [])
    for text, category, language in zip(
        frame["text"], frame["category"], frame["language"], strict=True
    ):
        if category not in plausible_pools:
            rule = PLAUSIBLE.get(category, _any)
            plausible_pools[category] = [f for f in every if rule(f)]
        pool = plausible_pools[category]
        for j in rng.choice(len(pool), size=per_text, replace=False):
            out.texts.append(text)
            out.languages.append(language)
            out.facts.append(pool[int(j)])
            out.labels.append(category)
            out.kind.append("clear")
    return out


def ambiguous_cases(
    frame: pd.DataFrame, facts: Sequence[OrderFacts], *, seed: int = 0
) -> LinkedCases:
    """Order-dependent rows joined with one order per state they list, labelled by it. An order
    in transit is one that does not look lost (a lost parcel is another story)."""
    rng = np.random.default_rng(seed)
    pools = _pools(facts)
    pools["in_transit"] = [f for f in pools["in_transit"] if not _lost(f)] or pools["in_transit"]
    out = LinkedCases([], [], [], [], [])
    for text, language, by_state in zip(
        frame["text"], frame["language"], frame["by_state"], strict=True
    ):
        for state, category in by_state.items():
            pool = pools[state]
            out.texts.append(text)
            out.languages.append(language)
            out.facts.append(pool[int(rng.integers(len(pool)))])
            out.labels.append(category)
            out.kind.append("dependent")
    return out


#: chosen by `choose_settings` (benchmarks/cases_orders.py --choose) on the fit cases alone:
#: the share of the training weight the clear cases carry, the fact weights' L2 penalty and
#: the text-times-fact weights' own
CLEAR_SHARE = 0.75
ALPHA = 10.0
ALPHA_INTERACT = 3.0
#: plausible orders joined with each clear text of the fit: the same words next to several
#: states teach the model that the state does not change what they mean
CLEAR_ORDERS_PER_TEXT = 4


def fit_cases(
    proba_of: Callable[[list[str]], np.ndarray],
    classes: Sequence[str],
    held_out: pd.DataFrame,
    dependent: pd.DataFrame,
    *,
    seed: int = 0,
) -> tuple[LinkedCases, np.ndarray]:
    """The cases the order-aware model learns from, and their text probabilities: the "fit"
    half of the corpus's held-out rows (`held_out`: text, category, language) with
    `CLEAR_ORDERS_PER_TEXT` plausible orders each, and the train split of the order-dependent
    texts."""
    facts = simulated_facts(seed=seed)
    fit_half = held_out[[corpus_half(t) == "fit" for t in held_out["text"]]]
    train = dependent[dependent["split"] == "train"]
    known = set(classes)
    train = train[[set(b.values()) <= known for b in train["by_state"]]]
    cases = clear_cases(
        fit_half, facts, seed=seed, per_text=CLEAR_ORDERS_PER_TEXT
    ) + ambiguous_cases(train, facts, seed=seed)
    return cases, text_proba(proba_of, cases.texts)


def text_proba(proba_of: Callable[[list[str]], np.ndarray], texts: list[str]) -> np.ndarray:
    """`proba_of` for `texts`, each distinct text predicted once."""
    unique = list(dict.fromkeys(texts))
    rows = {text: i for i, text in enumerate(unique)}
    return proba_of(unique)[[rows[t] for t in texts]]


def _weights(kinds: np.ndarray, clear_share: float) -> np.ndarray:
    clear = kinds == "clear"
    return np.where(
        clear, clear_share / max(clear.sum(), 1), (1 - clear_share) / max((~clear).sum(), 1)
    )


def fit_order_stack(
    proba_of: Callable[[list[str]], np.ndarray],
    classes: Sequence[str],
    held_out: pd.DataFrame,
    dependent: pd.DataFrame,
    *,
    seed: int = 0,
    clear_share: float = CLEAR_SHARE,
    alpha: float = ALPHA,
    alpha_interact: float = ALPHA_INTERACT,
) -> tuple[OrderStack, dict]:
    """Fit the order-aware model on `fit_cases`, with text probabilities from `proba_of` (the
    case model's). Returns the model and what it saw."""
    cases, proba = fit_cases(proba_of, classes, held_out, dependent, seed=seed)
    kinds = np.array(cases.kind)
    stack = OrderStack(alpha=alpha, alpha_interact=alpha_interact).fit(
        proba, cases.facts, cases.labels, classes, sample_weight=_weights(kinds, clear_share)
    )
    seen = {
        "clear_cases": int((kinds == "clear").sum()),
        "dependent_cases": int((kinds == "dependent").sum()),
        "clear_share": clear_share,
        "alpha": alpha,
        "alpha_interact": alpha_interact,
        "seed": seed,
    }
    return stack, seen


def choose_settings(
    cases: LinkedCases,
    proba: np.ndarray,
    classes: Sequence[str],
    *,
    shares: Sequence[float] = (0.75, 0.8),
    alphas: Sequence[float] = (3.0, 5.0, 10.0),
    interact_alphas: Sequence[float] = (3.0, 5.0, 10.0),
    folds: int = 4,
) -> list[dict]:
    """Cross-validate (clear_share, alpha, alpha_interact) on the fit cases alone, folds by
    text: per setting, the order-aware accuracy minus the text-only accuracy (points) on the
    held-out folds' clear and order-dependent cases, and per language the clear cases won
    on balance (``clear_net``, negative: lost). `best_setting` picks the one to use."""
    classes = np.asarray(classes)
    kinds = np.array(cases.kind)
    truth = np.array(cases.labels)
    languages = np.array(cases.languages)
    fold = np.array([_byte(t, 3) % folds for t in cases.texts])
    text_right = classes[proba.argmax(axis=1)] == truth
    rows = []
    for share in shares:
        for alpha in alphas:
            for alpha_interact in interact_alphas:
                aware_right = np.zeros(len(truth), dtype=bool)
                for k in range(folds):
                    train, test = fold != k, fold == k
                    stack = OrderStack(alpha=alpha, alpha_interact=alpha_interact).fit(
                        proba[train],
                        [f for f, t in zip(cases.facts, train, strict=True) if t],
                        truth[train],
                        classes,
                        sample_weight=_weights(kinds[train], share),
                    )
                    facts = [f for f, t in zip(cases.facts, test, strict=True) if t]
                    aware = classes[stack.predict_proba(proba[test], facts).argmax(axis=1)]
                    aware_right[test] = aware == truth[test]
                row: dict = {"clear_share": share, "alpha": alpha, "alpha_interact": alpha_interact}
                for kind in ("clear", "dependent"):
                    chosen = kinds == kind
                    row[kind] = round(
                        100 * float(aware_right[chosen].mean() - text_right[chosen].mean()), 2
                    )
                row["clear_net"] = {}
                for language in sorted(set(languages[kinds == "clear"])):
                    chosen = (kinds == "clear") & (languages == language)
                    row["clear_net"][str(language)] = int(
                        aware_right[chosen].sum() - text_right[chosen].sum()
                    )
                rows.append(row)
    return rows


def best_setting(rows: Sequence[dict]) -> dict:
    """The setting to use among `choose_settings`' rows: the largest order-dependent gain
    among those that lose no clear case on balance in any language (a gain in one language
    does not pay for a loss in another); when none does, the one that loses fewest."""

    def lost(row: dict) -> int:
        return -sum(min(net, 0) for net in row["clear_net"].values())

    return min(rows, key=lambda row: (lost(row), -row["dependent"]))


def attach_order_stack(
    model: object,
    held_out: pd.DataFrame,
    order_cases_dir: Path | str | None,
    *,
    seed: int = 0,
) -> dict | None:
    """Fit the order-aware model of a fitted case model (a CaseClassifier) and keep it on the
    model as ``order_stack_`` (saved with it). `held_out`: the corpus rows the case model did
    not train on (text, category, language). None, and no order-aware part, when the folder
    holds no order-dependent texts (the order's facts are then shown, not used)."""
    folder = Path(order_cases_dir) if order_cases_dir is not None else default_order_cases_dir()
    if not folder.is_dir() or not any(folder.glob("*.jsonl")):
        return None
    classes = list(model.classes_)  # type: ignore[attr-defined]
    dependent = load_order_dependent(folder, categories=classes)
    stack, seen = fit_order_stack(
        model.predict_proba,
        classes,
        held_out,
        dependent,
        seed=seed,  # type: ignore[attr-defined]
    )
    model.order_stack_ = stack  # type: ignore[attr-defined]
    return seen
