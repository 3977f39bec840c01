"""One text at a time, in process: what the cascade costs per case.

    .venv/bin/python benchmarks/cases_latency.py [--models models] [--n 400] [--json FILE]

Loads the champion case model of a registry (run `make bootstrap` first) and times
`CaseRouter.predict([text])` -- the code path of POST /v1/cases/categorize without HTTP -- on
single texts, after a warm-up: the seed corpus's held-out split and, when ../shared/datasets is
present, the real development set's check half (texts read from ../shared, never stored).
Each text is timed once; whether the cascade sent it to the sentence encoder is read from
`model.scores` outside the timed call. Reports p50/p95 for the texts the cascade did not send
to the encoder, for those it did, and overall, then the same texts with the encoder turned off
(`use_encoder(False)`, the TF-IDF head alone: what a machine without the encoder gets).
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
from triage.cases.router import CaseRouter  # noqa: E402
from triage.corpus import load_corpus  # noqa: E402
from triage.registry import Registry  # noqa: E402
from triage.taxonomy import load_taxonomy  # noqa: E402


def _texts(n: int, seed: int) -> dict[str, list[str]]:
    rng = np.random.default_rng(seed)
    corpus = load_corpus(ROOT / "data" / "corpus")
    test = corpus[corpus["split"] == "test"]["text"].tolist()
    sets = {"corpus test split": [test[i] for i in rng.permutation(len(test))[:n]]}
    try:
        from benchmarks.realdev.dataset import DEFAULT_DATASETS, load_realdev

        real = load_realdev(DEFAULT_DATASETS)
    except (FileNotFoundError, OSError, ImportError) as exc:
        print(f"real development set skipped: {exc}")
        return sets
    check = real[real["split"] == "check"]["text"].tolist()
    sets["real check half"] = [check[i] for i in rng.permutation(len(check))[:n]]
    return sets


def _stats(ms: np.ndarray) -> dict:
    if len(ms) == 0:
        return {"n": 0, "p50_ms": None, "p95_ms": None}
    return {
        "n": int(len(ms)),
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p95_ms": round(float(np.percentile(ms, 95)), 2),
    }


def time_texts(router: CaseRouter, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Milliseconds per single-text prediction and whether each text was encoded."""
    encoded = router.model.scores(texts).encoded
    ms = np.empty(len(texts))
    for i, text in enumerate(texts):
        start = time.perf_counter()
        router.predict([text])
        ms[i] = 1000 * (time.perf_counter() - start)
    return ms, encoded


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=Path, default=ROOT / "models")
    parser.add_argument("--n", type=int, default=400, help="texts per set (default 400)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    registry = Registry(args.models)
    if registry.champion("cases") is None:
        print(f"no case model in {args.models}: run `make bootstrap` first", file=sys.stderr)
        return 2
    router = CaseRouter.from_registry(registry, load_taxonomy()).warm()
    result = {"machine": machine(), "model": router.version, "sets": {}}
    print(f"machine: {result['machine']}; model {router.version}")
    for name, texts in _texts(args.n, args.seed).items():
        router.model.use_encoder(True)
        ms, encoded = time_texts(router, texts)
        router.model.use_encoder(False)
        fast_ms, _ = time_texts(router, texts)
        router.model.use_encoder(True)
        figures = {
            "share_encoded": round(float(encoded.mean()), 4),
            "not_encoded": _stats(ms[~encoded]),
            "encoded": _stats(ms[encoded]),
            "overall": _stats(ms),
            "encoder_off": _stats(fast_ms),
        }
        result["sets"][name] = figures
        print(f"\n[{name}] {len(texts)} texts, {100 * figures['share_encoded']:.0f} % encoded")
        for key in ("not_encoded", "encoded", "overall", "encoder_off"):
            s = figures[key]
            print(f"  {key:12s} n={s['n']:4d}  p50 {s['p50_ms']} ms  p95 {s['p95_ms']} ms")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
