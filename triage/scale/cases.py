"""Case categories of a large table of texts on Dask, one Parquet part at a time.

Each input part is read, predicted in batches by the same `CaseRouter` as in one process
(shipped once to every worker) and written as the output part of the same number, with the
columns ``predict cases --out`` writes (triage.cases.router.FILE_FIELDS). Parts are independent:
no text crosses from one to another, and nothing comes back to the client but counts.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from triage.cases.router import CaseRouter, prediction_records
from triage.scale.cluster import Progress, gather, output_dir, parquet_parts, read_part, write_part
from triage.tables import require_columns, text_values

__all__ = ["predict_cases"]

BATCH = 256


def _predict_part(part: str, index: int, column: str, router: CaseRouter, out: str) -> int:
    frame = read_part(part)
    if frame.empty:
        return 0
    require_columns(frame, [column], part)
    texts = text_values(frame, column, part)
    predictions = []
    for start in range(0, len(texts), BATCH):
        predictions.extend(router.predict(texts[start : start + BATCH]))
    write_part(pd.DataFrame(prediction_records(texts, predictions)), out, index)
    return len(texts)


def predict_cases(
    client: Any,
    data_url: str,
    column: str,
    router: CaseRouter,
    out: str,
    *,
    progress: Progress | None = None,
) -> dict:
    """Predict the texts of column `column` of Parquet `data_url` (a file or a directory of
    parts) on the cluster of `client`, writing part ``i`` of the output for input part ``i``."""
    parts = parquet_parts(data_url, "--data")
    out = output_dir(out)
    shared = client.scatter(router, broadcast=True)
    futures = [
        client.submit(_predict_part, part, i, column, shared, out, pure=False)
        for i, part in enumerate(parts)
    ]
    labels = [f"part {i} of {len(parts)} ({part})" for i, part in enumerate(parts)]
    counts = gather(futures, labels, progress, stage="predicting")
    return {"texts": sum(counts), "parts": sum(1 for n in counts if n), "out": out}
