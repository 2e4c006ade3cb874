"""Prediction records: reading a predictions file (problems named by file:line), scoring, writing outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bioner.evaluation.records import (
    OutputFolderError,
    PredictionsFileError,
    claim_output_dir,
    eval_output_dir,
    headline,
    portable_path,
    predictions_records,
    read_predictions,
    score_records,
    write_jsonl,
    write_outputs,
)
from metrics.bio_ner.scoring import compute_ner_scores


def _write(path: Path, lines: list) -> Path:
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([], "no predictions in file"),
        (["{not json"], r"p\.jsonl:1"),
        ([{"gold": ["O"]}], r"p\.jsonl:1: expected an object with list fields 'gold' and 'pred'"),
        ([{"gold": ["O", "O"], "pred": ["O"]}], r"p\.jsonl:1: 'gold' has 2 tags but 'pred' has 1"),
        ([{"tokens": ["a"], "gold": ["O", "O"], "pred": ["O", "O"]}], "'tokens' and 'gold' differ"),
        ([{"gold": ["O"], "pred": ["X-Y"]}], r"p\.jsonl:1: 'pred': invalid tag 'X-Y'"),
        (
            [{"id": "a", "gold": ["O"], "pred": ["O"]}, {"id": "a", "gold": ["O"], "pred": ["O"]}],
            r"p\.jsonl:2: id 'a' repeats the record at .*p\.jsonl:1",
        ),
    ],
)
def test_read_predictions_names_the_problem(tmp_path, lines, message):
    with pytest.raises(PredictionsFileError, match=message):
        read_predictions(_write(tmp_path / "p.jsonl", lines))


def test_read_predictions_of_a_missing_file(tmp_path):
    with pytest.raises(PredictionsFileError, match="predictions file not found"):
        read_predictions(tmp_path / "nope.jsonl")


def test_records_round_trip_and_score(tmp_path):
    records = predictions_records(
        ["s1", "s2"],
        [["Aspirin", "."], ["Heart", "attack"]],
        [["B-Chemical", "O"], ["B-Disease", "I-Disease"]],
        [["B-Chemical", "O"], ["B-Disease", "O"]],
    )
    assert records[0] == {"id": "s1", "tokens": ["Aspirin", "."], "gold": ["B-Chemical", "O"],
                          "pred": ["B-Chemical", "O"]}  # fmt: skip
    write_jsonl(records, tmp_path / "p.jsonl")
    read = read_predictions(tmp_path / "p.jsonl")
    assert read == records
    scores = score_records(read)
    assert scores == compute_ner_scores([r["pred"] for r in records], [r["gold"] for r in records])
    assert scores["strict"]["f1"] == pytest.approx(0.5)
    assert headline(scores).startswith("strict P/R/F1 0.5000/0.5000/0.5000")


def test_read_predictions_numbers_records_without_ids(tmp_path):
    path = _write(tmp_path / "p.jsonl", [{"gold": ["O"], "pred": ["O"]}, {"gold": ["B-X"], "pred": ["O"]}])
    assert [record["id"] for record in read_predictions(path)] == ["0", "1"]


def test_write_outputs_writes_every_file(tmp_path):
    records = predictions_records(["s1"], [["Aspirin"]], [["B-Chemical"]], [["B-Chemical"]])
    scores = score_records(records)
    output = write_outputs(tmp_path / "run", {"test": scores}, {"test": records}, "demo run", {"seed": 42})
    results = json.loads((output / "results.json").read_text())
    assert results["test"]["strict"]["f1"] == 1.0 and results["meta"] == {"seed": 42}
    assert [
        json.loads(line) for line in (output / "predictions_test.jsonl").read_text().splitlines()
    ] == records
    report = (output / "report.md").read_text()
    assert report.startswith("# demo run\n") and "- seed: 42" in report
    assert (output / "f1_by_length.png").stat().st_size > 1000


def test_portable_path():
    out = Path("/runs/x")
    assert portable_path("/runs/x/checkpoint-38", out) == "checkpoint-38"
    assert portable_path("/runs/x", out) == "."
    assert portable_path("/home/me/models/tiny-bert", out) == "tiny-bert"
    assert portable_path("org/model", out) == "org/model"  # a Hub id or relative path stays as given
    assert portable_path("runs/y", out) == "runs/y"


def test_results_and_report_hold_no_absolute_paths(tmp_path):
    output_dir = tmp_path / "run"
    scores = compute_ner_scores([["B-X", "O"]], [["B-X", "O"]])
    meta = {
        "model": str(tmp_path / "models" / "tiny-bert"),
        "best_checkpoint": str(output_dir / "checkpoint-38"),
        "nested": {"paths": [str(output_dir / "checkpoint-19")]},
        "dataset": "bc5cdr",
    }
    write_outputs(output_dir, {"test": scores}, {}, f"{meta['model']} on {tmp_path / 'data'}", meta)
    results = json.loads((output_dir / "results.json").read_text())
    assert results["meta"]["best_checkpoint"] == "checkpoint-38"
    assert results["meta"]["model"] == "tiny-bert"
    assert results["meta"]["nested"] == {"paths": ["checkpoint-19"]}
    for name in ("results.json", "report.md"):
        assert str(tmp_path) not in (output_dir / name).read_text()
    assert (output_dir / "report.md").read_text().startswith("# tiny-bert on data\n")
    assert meta["best_checkpoint"].startswith(str(output_dir))  # the caller's dict is left as it was


def test_eval_output_dir_names_what_was_scored():
    assert eval_output_dir("runs/demo-minilm/", "demo", None) == Path("runs/eval-demo-minilm-demo")
    assert eval_output_dir("org/bc5cdr-biomedbert", "bc5cdr", "validation") == Path(
        "runs/eval-bc5cdr-biomedbert-bc5cdr-validation"
    )


def test_claim_output_dir_refuses_another_runs_results(tmp_path):
    assert claim_output_dir(tmp_path / "new", {"model": "m"}) == tmp_path / "new"
    scores = score_records([{"id": "a", "gold": ["B-X"], "pred": ["B-X"]}])
    write_outputs(tmp_path, {"test": scores}, {}, "t", {"evaluation": {"model": "m", "split": "test"}})
    assert claim_output_dir(tmp_path, {"model": "m", "split": "test"}) == tmp_path  # its own output
    with pytest.raises(OutputFolderError, match="another run"):
        claim_output_dir(tmp_path, {"model": "m", "split": "validation"})
    assert claim_output_dir(tmp_path, {"model": "other"}, overwrite=True) == tmp_path
