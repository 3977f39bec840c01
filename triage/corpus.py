"""The seed case corpus in data/corpus/: loading, validation, the held-out split, duplicates.

Run ``python -m triage.corpus check`` to print counts per category and language and the
near-duplicate pairs; ``python -m triage.corpus assign-splits`` gives new rows their fixed split.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from triage.errors import DataFileError
from triage.text.normalize import normalize

__all__ = [
    "COLUMNS",
    "DuplicatePair",
    "default_corpus_dir",
    "find_near_duplicates",
    "load_corpus",
    "main",
    "split_for",
]

COLUMNS = ("text", "category", "language", "role", "source", "split")
LANGUAGES = ("zh", "en", "mixed")
ROLES = ("buyer", "seller")
SPLITS = ("train", "test")
SOURCE = "written for this project"
_NON_WORD = re.compile(r"[\W_]+")
TEST_BYTE_CUTOFF = 51  # first SHA-256 byte below this -> test: 51/256, about 20 %


@dataclass(frozen=True)
class DuplicatePair:
    """Two corpus rows whose texts are too similar, with their Jaccard similarity."""

    first: int
    second: int
    similarity: float


def default_corpus_dir() -> Path:
    """data/corpus of this checkout."""
    return Path(__file__).resolve().parent.parent / "data" / "corpus"


def split_for(text: str) -> str:
    """The fixed split of a new row, from the SHA-256 of its text."""
    return (
        "test" if hashlib.sha256(text.encode("utf-8")).digest()[0] < TEST_BYTE_CUTOFF else "train"
    )


def _read_jsonl(path: Path) -> list[dict]:
    rows = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataFileError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise DataFileError(f"{path}:{lineno}: each line must be a JSON object")
            row["_file"], row["_line"] = path.name, lineno
            rows.append(row)
    return rows


def load_corpus(
    directory: Path | str | None = None,
    *,
    categories: set[str] | None = None,
    require_split: bool = True,
) -> pd.DataFrame:
    """Load and validate every ``*.jsonl`` file of the corpus directory into one frame.

    Raises `DataFileError` naming the file and line of the first invalid row. When
    `categories` is given, every row's category must be one of them.
    """
    directory = Path(directory) if directory is not None else default_corpus_dir()
    files = sorted(directory.glob("*.jsonl"))
    if not files:
        raise DataFileError(f"no *.jsonl files in {directory}")
    rows = [row for path in files for row in _read_jsonl(path)]
    for row in rows:
        where = f"{row['_file']}:{row['_line']}"
        required = COLUMNS if require_split else COLUMNS[:-1]
        missing = [c for c in required if c not in row]
        if missing:
            raise DataFileError(f"{where}: missing {', '.join(missing)}")
        if not isinstance(row["text"], str) or not row["text"].strip():
            raise DataFileError(f"{where}: text must be a non-empty string")
        if categories is not None and row["category"] not in categories:
            raise DataFileError(f"{where}: unknown category {row['category']!r}")
        for column, allowed in (("language", LANGUAGES), ("role", ROLES)):
            if row[column] not in allowed:
                raise DataFileError(
                    f"{where}: {column} must be one of {allowed}, not {row[column]!r}"
                )
        if row["source"] != SOURCE:
            raise DataFileError(f"{where}: source must be {SOURCE!r}")
        if "split" in row and row["split"] not in SPLITS:
            raise DataFileError(f"{where}: split must be one of {SPLITS}")
    return pd.DataFrame(rows)


def find_near_duplicates(
    texts: list[str], *, threshold: float = 0.8, n: int = 5
) -> list[DuplicatePair]:
    """Pairs of texts whose character n-gram sets have Jaccard similarity above `threshold`.

    Texts are normalized and stripped of punctuation, spaces and emoji first, so that "还没到货"
    and "还没到货！" count as the same text. A text shorter than `n` characters is compared as a whole, so two
    equal short texts are reported with similarity 1.0. Uses one sparse product, not a Python
    loop over pairs, so a few thousand texts take well under a second.
    """
    from scipy import sparse

    vocab: dict[str, int] = {}
    indptr, indices = [0], []
    for text in texts:
        norm = _NON_WORD.sub("", normalize(text))
        grams = {norm[i : i + n] for i in range(len(norm) - n + 1)} or {norm}
        indices.extend(vocab.setdefault(g, len(vocab)) for g in grams)
        indptr.append(len(indices))
    matrix = sparse.csr_matrix(
        (np.ones(len(indices), dtype=np.float32), indices, indptr), shape=(len(texts), len(vocab))
    )
    sizes = np.asarray(matrix.sum(axis=1)).ravel()
    inter = sparse.triu(matrix @ matrix.T, k=1).tocoo()
    union = sizes[inter.row] + sizes[inter.col] - inter.data
    jaccard = inter.data / union
    keep = jaccard > threshold
    pairs = [
        DuplicatePair(int(a), int(b), float(s))
        for a, b, s in zip(inter.row[keep], inter.col[keep], jaccard[keep], strict=True)
    ]
    return sorted(pairs, key=lambda p: (-p.similarity, p.first, p.second))


def counts_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows per category and language, with totals."""
    return pd.crosstab(frame["category"], frame["language"], margins=True, margins_name="total")


def assign_splits(directory: Path | str | None = None) -> int:
    """Give every row without a split its fixed one, rewriting files in place; returns the count."""
    directory = Path(directory) if directory is not None else default_corpus_dir()
    changed = 0
    for path in sorted(directory.glob("*.jsonl")):
        rows = _read_jsonl(path)
        out = []
        for row in rows:
            row.pop("_file"), row.pop("_line")
            if "split" not in row:
                row["split"] = split_for(row["text"])
                changed += 1
            out.append(json.dumps({k: row[k] for k in COLUMNS if k in row}, ensure_ascii=False))
        tmp = path.with_suffix(".jsonl.tmp")
        tmp.write_text("\n".join(out) + "\n", encoding="utf-8")
        tmp.replace(path)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m triage.corpus", description=__doc__)
    parser.add_argument("action", choices=["check", "assign-splits"])
    parser.add_argument("--dir", type=Path, default=None, help="corpus directory (data/corpus)")
    parser.add_argument("--threshold", type=float, default=0.8)
    args = parser.parse_args(argv)
    try:
        if args.action == "assign-splits":
            print(f"assigned a split to {assign_splits(args.dir)} rows")
            return 0
        frame = load_corpus(args.dir, require_split=False)
    except DataFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(counts_table(frame).to_string())
    if "split" in frame:
        print("\nrows without a split:", int(frame["split"].isna().sum()))
    pairs = find_near_duplicates(frame["text"].tolist(), threshold=args.threshold)
    for pair in pairs:
        a, b = frame.iloc[pair.first], frame.iloc[pair.second]
        print(
            f"\nnear duplicate ({pair.similarity:.2f}): {a['_file']}:{a['_line']} ~ "
            f"{b['_file']}:{b['_line']}\n  {a['text'][:100]}\n  {b['text'][:100]}"
        )
    print(f"\n{len(frame)} rows, {len(pairs)} near-duplicate pairs")
    return 1 if pairs else 0


if __name__ == "__main__":
    raise SystemExit(main())
