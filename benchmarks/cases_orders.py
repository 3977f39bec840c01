"""Order-aware triage: does knowing the order move cases to the right category?

    .venv/bin/python benchmarks/cases_orders.py [--models DIR] [--seed 0] [--json] [--choose]

Uses the champion case model of the registry (default: the service's, built by `make run`),
fits the order-aware model exactly as `triage bootstrap` does (triage.orders.linked
`fit_order_stack`: the "fit" half of the corpus's held-out split and the train split of the
order-dependent texts, joined with simulated orders), then measures on cases it never saw:

- **dependent**: the test split of data/order_cases/ (hand-written texts whose category
  depends on the order), one case per order state each text lists;
- **clear**: the "measure" half of the corpus's held-out split, each text joined with an order
  in a state its category makes plausible;
- **real clear**: the real development set's check half (benchmarks/realdev; skipped when
  ../shared/datasets/realtext is absent), joined the same way;

text-only accuracy (the case model alone) against order-aware accuracy, per language.
Targets (issue 13): dependent +10 points per language; clear within 0.5 points.

--choose first cross-validates the order-aware model's three settings (the clear cases' share
of the training weight, the fact weights' penalty, the text-times-fact weights' penalty) on the
fit cases alone (triage.orders.linked `choose_settings`), prints the table and the setting its
rule picks (`best_setting`: the largest order-dependent gain among those that lose no clear
case in any language): the defaults CLEAR_SHARE, ALPHA and ALPHA_INTERACT.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.cases_default_model import machine  # noqa: E402
from triage.cases.router import CASE_MODEL_NAME  # noqa: E402
from triage.config import Settings  # noqa: E402
from triage.corpus import load_corpus  # noqa: E402
from triage.orders.linked import (  # noqa: E402
    LinkedCases,
    ambiguous_cases,
    best_setting,
    choose_settings,
    clear_cases,
    corpus_half,
    fit_cases,
    fit_order_stack,
    load_order_dependent,
    simulated_facts,
)
from triage.orders.linked import text_proba as proba_of_texts  # noqa: E402
from triage.registry import Registry  # noqa: E402


def figures(cases: LinkedCases, text_proba, aware_proba, classes) -> dict:
    """Text-only and order-aware accuracy, overall and per language."""
    truth = np.array(cases.labels)
    text = classes[text_proba.argmax(axis=1)]
    aware = classes[aware_proba.argmax(axis=1)]
    languages = np.array(cases.languages)
    out = {}
    for language in ("all", "zh", "en", "mixed"):
        rows = np.ones(len(truth), bool) if language == "all" else languages == language
        if not rows.any():
            continue
        before = float((text[rows] == truth[rows]).mean())
        after = float((aware[rows] == truth[rows]).mean())
        out[language] = {
            "n": int(rows.sum()),
            "text_only": round(before, 4),
            "order_aware": round(after, 4),
            "gain_points": round(100 * (after - before), 1),
            "flipped": int((text[rows] != aware[rows]).sum()),
        }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--choose", action="store_true", help="cross-validate the settings first")
    args = parser.parse_args()
    settings = Settings.from_env()
    registry = Registry(args.models or settings.models_dir)
    loaded = registry.load(CASE_MODEL_NAME)
    model = loaded.model
    classes = np.asarray(model.classes_)
    corpus = load_corpus(settings.corpus_dir)
    held_out = corpus[corpus["split"] == "test"]
    dependent = load_order_dependent(categories=list(classes))
    if args.choose:
        cases, proba = fit_cases(model.predict_proba, classes, held_out, dependent, seed=args.seed)
        rows = choose_settings(cases, proba, classes)
        for row in rows:
            print("choose", row, flush=True)
        print("chosen", best_setting(rows), flush=True)
    started = time.perf_counter()
    stack, seen = fit_order_stack(model.predict_proba, classes, held_out, dependent, seed=args.seed)
    fit_seconds = time.perf_counter() - started

    facts = simulated_facts(seed=args.seed + 1)  # other orders than the fit's
    sets = {
        "dependent": ambiguous_cases(
            dependent[dependent["split"] == "test"], facts, seed=args.seed + 1
        ),
        "clear": clear_cases(
            held_out[[corpus_half(t) == "measure" for t in held_out["text"]]],
            facts,
            seed=args.seed + 1,
        ),
    }
    try:
        from benchmarks.realdev.dataset import load_realdev

        real = load_realdev(split="check").rename(columns={"label": "category", "lang": "language"})
        sets["real_clear"] = clear_cases(real, facts, seed=args.seed + 1)
    except FileNotFoundError as missing:
        print(f"real clear cases skipped: {missing}", file=sys.stderr)
    report = {
        "model": f"{loaded.name} {loaded.version}",
        "machine": machine(),
        "fit": {**seen, "seconds": round(fit_seconds, 1), "text_weight": stack.text_weight_},
    }
    for name, cases in sets.items():
        text_proba = proba_of_texts(model.predict_proba, cases.texts)
        aware = stack.predict_proba(text_proba, cases.facts)
        report[name] = figures(cases, text_proba, aware, classes)
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
        return 0
    print(f"model {report['model']}; fit on {seen} in {fit_seconds:.1f} s; {report['machine']}")
    for name in sets:
        for language, row in report[name].items():
            print(
                f"{name:11s} {language:5s} n={row['n']:5d}  text-only {row['text_only']:.3f}"
                f"  order-aware {row['order_aware']:.3f}  ({row['gain_points']:+.1f} points,"
                f" {row['flipped']} flipped)"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
