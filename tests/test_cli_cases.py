"""End to end through the command line: train, evaluate, predict, and every bad input."""

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from triage.cli import cli


@pytest.fixture
def run(tmp_path):
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(
            cli, ["--models-dir", str(tmp_path / "models"), *map(str, args)], catch_exceptions=False
        )

    return invoke


@pytest.fixture(scope="module")
def data_files(tmp_path_factory, small_cases, corpus):
    folder = tmp_path_factory.mktemp("data")
    train = small_cases.rename(columns={"text": "body", "category": "label"})
    test = corpus[corpus["split"] == "test"].groupby("category").sample(8, random_state=1)
    test = test.rename(columns={"text": "body", "category": "label"})[["body", "label", "language"]]
    paths = {
        "csv": folder / "train.csv",
        "jsonl": folder / "train.jsonl",
        "parquet": folder / "train.parquet",
        "test": folder / "test.csv",
    }
    train.to_csv(paths["csv"], index=False)
    train.to_json(paths["jsonl"], orient="records", lines=True, force_ascii=False)
    train.to_parquet(paths["parquet"], index=False)
    test.to_csv(paths["test"], index=False)
    return paths


@pytest.fixture(scope="module")
def trained_dir(tmp_path_factory, data_files):
    out = tmp_path_factory.mktemp("m") / "model"
    result = CliRunner().invoke(
        cli,
        [
            "train",
            "cases",
            "--data",
            str(data_files["jsonl"]),
            "--text-col",
            "body",
            "--label-col",
            "label",
            "--out",
            str(out),
            "--seed",
            "3",
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    return out


def test_train_writes_a_complete_model_dir(trained_dir):
    names = {p.name for p in trained_dir.iterdir()}
    assert {
        "model.joblib",
        "metadata.json",
        "report.md",
        "confusion_matrix.png",
        "reliability.png",
    } <= names
    meta = json.loads((trained_dir / "metadata.json").read_text())
    assert meta["seed"] == 3 and len(meta["classes"]) == 10 and meta["data"]["n"] == 240
    assert "out-of-fold" in meta["metrics"]["evaluated_on"]


@pytest.mark.parametrize("fmt", ("csv", "parquet"))
def test_train_reads_every_format(run, data_files, tmp_path, fmt):
    result = run(
        "train",
        "cases",
        "--data",
        data_files[fmt],
        "--text-col",
        "body",
        "--label-col",
        "label",
        "--out",
        tmp_path / f"m-{fmt}",
    )
    assert result.exit_code == 0, result.output
    assert "trained on 240 texts, 10 classes" in result.output


def test_evaluate_json(run, trained_dir, data_files):
    result = run(
        "evaluate",
        "cases",
        "--model",
        trained_dir,
        "--data",
        data_files["test"],
        "--text-col",
        "body",
        "--label-col",
        "label",
        "--json",
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    for key in (
        "n",
        "accuracy",
        "macro_f1",
        "per_class",
        "ece",
        "coverage_at_precision",
        "per_language",
    ):
        assert key in report
    assert report["n"] == 80 and set(report["per_language"]) <= {"zh", "en", "mixed"}
    assert 0.5 < report["accuracy"] <= 1.0


def test_predict_text_and_file(run, trained_dir, data_files, tmp_path):
    result = run(
        "predict",
        "cases",
        "--model",
        trained_dir,
        "--text",
        "物流显示已签收，但是我没有收到包裹",
        "--json",
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert {
        "category",
        "confidence",
        "top",
        "needs_review",
        "entities",
        "missing_details",
        "explanation",
    } <= set(doc)
    assert len(doc["top"]) == 3
    out = tmp_path / "pred.csv"
    result = run(
        "predict",
        "cases",
        "--model",
        trained_dir,
        "--data",
        data_files["test"],
        "--text-col",
        "body",
        "--out",
        out,
    )
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(out)) == 80


def test_register_and_promote(run, data_files):
    result = run(
        "train",
        "cases",
        "--data",
        data_files["csv"],
        "--text-col",
        "body",
        "--label-col",
        "label",
        "--register",
        "mine",
        "--promote",
    )
    assert result.exit_code == 0, result.output
    listing = run("models", "list", "mine")
    assert "champion" in listing.output
    assert run("predict", "cases", "--model", "mine", "--text", "where is my parcel").exit_code == 0


def test_split_column_holds_out_test_rows(run, corpus, tmp_path):
    rows = corpus.groupby(["category", "split"]).head(12)[["text", "category", "split"]]
    path = tmp_path / "with_split.jsonl"
    rows.to_json(path, orient="records", lines=True, force_ascii=False)
    result = run("train", "cases", "--data", path, "--out", tmp_path / "m", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output[result.output.index("{") :])
    assert doc["metrics"]["evaluated_on"].startswith("held-out rows")
    assert doc["metrics"]["n"] == int((rows["split"] == "test").sum())


def _write(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


@pytest.mark.parametrize(
    ("make_args", "message"),
    (
        (
            lambda p: ["train", "cases", "--data", p / "missing.csv", "--out", p / "o"],
            "no such file",
        ),
        (
            lambda p: ["train", "cases", "--data", _write(p, "x.txt", "a"), "--out", p / "o"],
            "unknown file type",
        ),
        (lambda p: ["train", "cases", "--data", _write(p, "e.csv", ""), "--out", p / "o"], "empty"),
        (
            lambda p: [
                "train",
                "cases",
                "--data",
                _write(p, "c.csv", "body,label\na b,x\nc d,y\n"),
                "--out",
                p / "o",
            ],
            "missing column",
        ),
        (
            lambda p: [
                "train",
                "cases",
                "--data",
                _write(p, "one.csv", "text,category\na b,x\nc d,x\ne f,x\n"),
                "--out",
                p / "o",
            ],
            "at least two classes",
        ),
        (
            lambda p: [
                "train",
                "cases",
                "--data",
                _write(p, "blank.csv", 'text,category\na b,x\n"  ",y\nc,y\nd,x\n'),
                "--out",
                p / "o",
            ],
            "empty text",
        ),
        (
            lambda p: [
                "train",
                "cases",
                "--data",
                _write(p, "bin.csv", b"text,category\n\xff\xfe,x\n"),
                "--out",
                p / "o",
            ],
            "UTF-8",
        ),
        (
            lambda p: [
                "train",
                "cases",
                "--data",
                _write(p, "bad.jsonl", '{"text": "a"\n'),
                "--out",
                p / "o",
            ],
            "cannot read as jsonl",
        ),
        (
            lambda p: [
                "train",
                "cases",
                "--data",
                _write(p, "ok.csv", "text,category\na,x\nb,y\n"),
            ],
            "exactly one of",
        ),
        (
            lambda p: ["predict", "cases", "--model", p / "nomodel", "--text", "hi"],
            "no such model directory",
        ),
        (lambda p: ["predict", "cases", "--model", "nomodel", "--text", "hi"], "no champion"),
        (lambda p: ["predict", "cases", "--text", "   "], "empty"),
        (
            lambda p: [
                "train",
                "cases",
                "--data",
                _write(p, "ok2.csv", "text,category\na b,x\nc d,x\ne f,y\ng h,y\n"),
                "--out",
                p / "o",
                "--embeddings",
                "no-such-encoder",
            ],
            "embeddings must be",
        ),
        (
            lambda p: ["evaluate", "cases", "--model", "cases", "--data", p / "missing.csv"],
            "no champion|no such file",
        ),
    ),
)
def test_bad_input_is_one_line_and_exit_2(run, tmp_path, make_args, message):
    result = run(*make_args(tmp_path))
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert pytest.importorskip("re").search(message, lines[0]), lines[0]
    assert "Traceback" not in result.output
