"""Out-of-corpus proxy cases: public dataset utterances whose intents map onto our categories.

data/proxy_intents.csv holds only intent names and the category each maps to; the texts are read
at run time from ../shared/datasets (never copied into the repository).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from triage.errors import DataFileError
from triage.tables import read_table, require_columns

__all__ = ["default_mapping_path", "load_proxy_cases"]

# dataset name -> (file inside the datasets folder, text column, intent column)
SOURCES = {
    "bitext": ("bitext/customer_support.csv", "utterance", "intent"),
    "banking77": ("banking77/train.csv", "text", "category"),
}


def default_mapping_path() -> Path:
    return Path(__file__).resolve().parent.parent / "data" / "proxy_intents.csv"


def load_proxy_cases(
    datasets_dir: str | Path, mapping_path: str | Path | None = None
) -> pd.DataFrame:
    """Texts of the mapped intents with columns text, category, dataset, intent.

    Raises `DataFileError` when a dataset file or a mapped intent is missing, so that a renamed
    intent cannot silently shrink the benchmark.
    """
    datasets_dir = Path(datasets_dir)
    mapping = read_table(mapping_path or default_mapping_path(), text_columns=["dataset", "intent"])
    require_columns(mapping, ["dataset", "intent", "category"], "proxy mapping")
    frames = []
    for dataset, rows in mapping.groupby("dataset", sort=True):
        if dataset not in SOURCES:
            raise DataFileError(
                f"proxy mapping: unknown dataset {dataset!r}; known: {sorted(SOURCES)}"
            )
        file, text_col, intent_col = SOURCES[dataset]
        table = read_table(datasets_dir / file, text_columns=[text_col, intent_col])
        require_columns(table, [text_col, intent_col], str(datasets_dir / file))
        wanted = dict(zip(rows["intent"], rows["category"], strict=True))
        missing = sorted(set(wanted) - set(table[intent_col]))
        if missing:
            raise DataFileError(f"{dataset}: mapped intents not in the data: {', '.join(missing)}")
        chosen = table[table[intent_col].isin(wanted)]
        frames.append(
            pd.DataFrame(
                {
                    "text": chosen[text_col].astype(str).to_numpy(),
                    "category": chosen[intent_col].map(wanted).to_numpy(),
                    "dataset": dataset,
                    "intent": chosen[intent_col].to_numpy(),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)
