"""Public datasets of the case-classifier benchmarks, read from ../shared/datasets.

Each loader returns a `Benchmark`: texts and labels to train on and either a held-out part
(MASSIVE validation, a stratified Bitext split) or a fold count for cross-validation (Banking77).
Only training and validation parts exist there; the public test parts are held back on purpose.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

__all__ = ["Benchmark", "LOADERS", "datasets_dir", "load"]


def datasets_dir() -> Path:
    """$TRIAGE_DATASETS_DIR, else ../shared/datasets beside the repository's root."""
    env = os.environ.get("TRIAGE_DATASETS_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "datasets"


@dataclass
class Benchmark:
    """One evaluation protocol on one dataset."""

    name: str
    protocol: str
    train_texts: list[str]
    train_labels: list[str]
    test_texts: list[str] | None = None
    test_labels: list[str] | None = None
    folds: int = 0  # > 0: stratified k-fold cross-validation on the training part


def _read(path: Path, columns: list[str]) -> pd.DataFrame:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise SystemExit(f"error: {path} lacks columns {missing}")
    return frame[columns]


def massive(root: Path) -> Benchmark:
    """MASSIVE zh-CN: train on train.csv, evaluate on validation.csv (intent = label_text)."""
    train = _read(root / "massive_zh" / "train.csv", ["text", "label_text"])
    valid = _read(root / "massive_zh" / "validation.csv", ["text", "label_text"])
    return Benchmark(
        "MASSIVE zh-CN",
        "train.csv -> validation.csv",
        train["text"].tolist(),
        train["label_text"].tolist(),
        valid["text"].tolist(),
        valid["label_text"].tolist(),
    )


def massive_tw(root: Path) -> Benchmark:
    """MASSIVE zh-CN with the zh-TW half of parallel_train.csv, converted to simplified, added.

    Both halves are translations of the same training utterances (parallel by id), so no
    validation utterance enters training.
    """
    from triage.text.normalize import to_simplified

    base = massive(root)
    parallel = _read(root / "massive_zh" / "parallel_train.csv", ["text", "label_text", "language"])
    tw = parallel[parallel["language"] == "zh-TW"]
    base.name = "MASSIVE zh-CN + zh-TW→zh-CN"
    base.protocol = "train.csv + zh-TW half of parallel_train.csv (OpenCC t2s) -> validation.csv"
    base.train_texts = base.train_texts + [to_simplified(t) for t in tw["text"]]
    base.train_labels = base.train_labels + tw["label_text"].tolist()
    return base


def banking77(root: Path) -> Benchmark:
    """Banking77: stratified 5-fold cross-validation on train.csv."""
    frame = _read(root / "banking77" / "train.csv", ["text", "category"])
    return Benchmark(
        "Banking77",
        "5-fold stratified CV on train.csv",
        frame["text"].tolist(),
        frame["category"].tolist(),
        folds=5,
    )


def bitext(root: Path) -> Benchmark:
    """Bitext customer support: stratified 80/20 split of the 27 intents (seed 0)."""
    frame = _read(root / "bitext" / "customer_support.csv", ["utterance", "intent"])
    train, test = train_test_split(frame, test_size=0.2, stratify=frame["intent"], random_state=0)
    return Benchmark(
        "Bitext (27 intents)",
        "stratified 80/20 split, seed 0",
        train["utterance"].tolist(),
        train["intent"].tolist(),
        test["utterance"].tolist(),
        test["intent"].tolist(),
    )


LOADERS = {
    "massive": massive,
    "massive_tw": massive_tw,
    "banking77": banking77,
    "bitext": bitext,
}


def load(key: str, root: Path | None = None) -> Benchmark:
    """The benchmark named `key` (a key of `LOADERS`)."""
    return LOADERS[key](root or datasets_dir())
