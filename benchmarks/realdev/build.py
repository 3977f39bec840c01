"""Assemble labels.csv, skipped.csv and second_labels.csv from annotators' label files.

    .venv/bin/python benchmarks/realdev/build.py POOL.jsonl FIRST.csv [FIRST.csv ...] \\
        --second SECOND.csv

POOL is what benchmarks/realdev/pool.py wrote; each FIRST file holds one annotator's labels
(columns sha1, label, confidence, note) for part of the pool, SECOND an independent second
labelling of a random part of it. Writes, next to this script, only identifiers and labels:

- labels.csv: file, sha1, label, confidence, split, for every text labelled as a case; the split
  (tune or check, half each) is drawn once, stratified by language and label, seed 0;
- skipped.csv: file, sha1, reason, for texts the guide skips as not a case;
- second_labels.csv: file, sha1, label, confidence of the second labelling;

and prints Cohen's kappa between the two labellings and their disagreements.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd
from sklearn.metrics import cohen_kappa_score
from sklearn.model_selection import train_test_split

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from triage.taxonomy import load_taxonomy  # noqa: E402

CATEGORIES = set(load_taxonomy().ids)  # the labels the guide allows, besides "skip"


def read_labels(paths: list[Path]) -> pd.DataFrame:
    frames = [pd.read_csv(p, dtype=str, keep_default_na=False) for p in paths]
    labels = pd.concat(frames, ignore_index=True)
    labels["label"] = labels["label"].str.strip()
    labels["confidence"] = labels["confidence"].str.strip().str.lower()
    bad = labels[~labels["label"].isin(CATEGORIES | {"skip"})]
    if len(bad):
        raise SystemExit(f"unknown labels: {sorted(set(bad['label']))}")
    if labels["sha1"].duplicated().any():
        raise SystemExit("a text is labelled twice in the first labelling")
    return labels


def agreement(first: pd.DataFrame, second: pd.DataFrame) -> dict:
    both = first.merge(second, on="sha1", suffixes=("_1", "_2"))
    cases = both[(both["label_1"] != "skip") & (both["label_2"] != "skip")]
    return {
        "n_both": len(both),
        "skip_agreement": float((both["label_1"].eq("skip") == both["label_2"].eq("skip")).mean()),
        "n_cases": len(cases),
        "kappa_cases": float(cohen_kappa_score(cases["label_1"], cases["label_2"])),
        "kappa_with_skip": float(cohen_kappa_score(both["label_1"], both["label_2"])),
        "raw_agreement_cases": float((cases["label_1"] == cases["label_2"]).mean()),
        "disagreements": cases[cases["label_1"] != cases["label_2"]]
        .groupby(["label_1", "label_2"])
        .size()
        .sort_values(ascending=False),
        "pairs": both,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pool", type=Path)
    parser.add_argument("first", type=Path, nargs="+")
    parser.add_argument("--second", type=Path, required=True)
    args = parser.parse_args()
    pool = pd.read_json(args.pool, lines=True, dtype={"sha1": str})[["file", "sha1", "lang"]]
    first = read_labels(args.first).merge(pool, on="sha1", how="left")
    if first["file"].isna().any():
        raise SystemExit("labels for texts that are not in the pool")
    cases = first[first["label"] != "skip"].copy()
    strata = cases["lang"] + ":" + cases["label"]
    rare = strata.map(strata.value_counts()) < 2
    tune, _ = train_test_split(
        cases[~rare].index, test_size=0.5, random_state=0, stratify=strata[~rare]
    )
    cases["split"] = "check"
    cases.loc[tune, "split"] = "tune"
    cases = cases.sort_values(["file", "sha1"])
    cases[["file", "sha1", "label", "confidence", "split"]].to_csv(HERE / "labels.csv", index=False)
    skipped = first[first["label"] == "skip"].sort_values(["file", "sha1"])
    skipped = skipped.rename(columns={"note": "reason"})[["file", "sha1", "reason"]]
    skipped.to_csv(HERE / "skipped.csv", index=False)
    second = read_labels([args.second]).merge(pool, on="sha1", how="left")
    second.sort_values(["file", "sha1"])[["file", "sha1", "label", "confidence"]].to_csv(
        HERE / "second_labels.csv", index=False
    )
    print(f"labelled {len(cases)} ({cases['lang'].value_counts().to_dict()}), skipped {len(skipped)}")
    print(pd.crosstab(cases["label"], cases["lang"], margins=True).to_string())
    print(pd.crosstab(cases["label"], cases["split"]).to_string())
    result = agreement(first[["sha1", "label"]], second[["sha1", "label"]])
    print(
        f"second labelling: {result['n_both']} texts; skip/case agreement "
        f"{result['skip_agreement']:.3f}; on the {result['n_cases']} both call cases: kappa "
        f"{result['kappa_cases']:.3f}, raw agreement {result['raw_agreement_cases']:.3f}; kappa "
        f"with skip as a label {result['kappa_with_skip']:.3f}"
    )
    print(result["disagreements"].to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
