"""The real development set: labels in the repository, texts read from ../shared/datasets.

``labels.csv`` holds, per labelled text, its source file, the SHA-1 of its text, the label given
with docs/ANNOTATION.md, the annotator's confidence (high, medium, low) and its split (``tune``:
choose thresholds, weights and levers on it; ``check``: report on it). The texts stay where
their writers' terms keep them and are joined by SHA-1 at run time.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
LABELS = HERE / "labels.csv"
SECOND = HERE / "second_labels.csv"
SKIPPED = HERE / "skipped.csv"
DEFAULT_DATASETS = HERE.parents[2] / "shared" / "datasets"
SOURCES = {
    "zh_jddc_user_turns.csv": "JD.com chat",
    "zh_ecd_taobao_customer_turns.csv": "Taobao chat",
    "zh_atec_alipay_questions.csv": "Alipay question",
    "en_ebay_community_posts.csv": "eBay forum",
    "en_reddit_marketplace_posts.csv": "subreddit",
    "en_twcs_amazonhelp_labelled.csv": "tweet",
}


def text_sha1(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def load_labels(path: Path = LABELS) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def realtext_folder(datasets: Path | None = None) -> Path | None:
    """../shared/datasets/realtext, or None when it is absent."""
    folder = (datasets or DEFAULT_DATASETS) / "realtext"
    return folder if folder.is_dir() else None


def load_realdev(
    datasets: Path | None = None, split: str | None = None, labels: Path = LABELS
) -> pd.DataFrame:
    """Labelled texts (columns file, sha1, label, confidence, split, lang, source, text).

    Raises FileNotFoundError when the real texts are absent; `split` keeps one split.
    """
    folder = realtext_folder(datasets)
    if folder is None:
        raise FileNotFoundError(f"{(datasets or DEFAULT_DATASETS) / 'realtext'} is absent")
    frame = load_labels(labels)
    if split is not None:
        frame = frame[frame["split"] == split]
    texts = []
    for name in sorted(frame["file"].unique()):
        source = pd.read_csv(folder / name, dtype=str, keep_default_na=False)[["text"]]
        source["file"] = name
        source["sha1"] = source["text"].map(text_sha1)
        texts.append(source.drop_duplicates("sha1"))
    joined = frame.merge(pd.concat(texts, ignore_index=True), on=["file", "sha1"], how="left")
    missing = joined["text"].isna()
    if missing.any():
        raise ValueError(
            f"{int(missing.sum())} labelled texts not found in {folder} (first: "
            f"{joined.loc[missing, 'file'].iloc[0]} {joined.loc[missing, 'sha1'].iloc[0]})"
        )
    joined["lang"] = joined["file"].str[:2]
    joined["source"] = joined["file"].map(SOURCES)
    return joined.reset_index(drop=True)
