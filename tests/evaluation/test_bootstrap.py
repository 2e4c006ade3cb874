"""The paired bootstrap of strict F1 (bioner.evaluation.bootstrap)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bioner.evaluation.bootstrap import paired_bootstrap, predictions_path
from bioner.evaluation.records import read_predictions, score_records

SENTENCES = [["B-Chemical", "O"], ["O", "B-Disease", "I-Disease"], ["B-Chemical"], ["O", "O"]] * 60


def predictions(folder: Path, file_name: str, missed: set[int], gold=SENTENCES) -> Path:
    """A run folder whose predictions equal the gold tags except in the sentences ``missed`` (all O)."""
    folder.mkdir()
    rows = [{"gold": tags, "pred": ["O"] * len(tags) if i in missed else tags} for i, tags in enumerate(gold)]
    (folder / file_name).write_text("".join(json.dumps(row) + "\n" for row in rows))
    return folder


def test_difference_and_interval(tmp_path):
    better = predictions(tmp_path / "better", "predictions_test.jsonl", missed={0})
    worse = predictions(tmp_path / "worse", "predictions.jsonl", missed=set(range(0, 240, 4)))
    result = paired_bootstrap(better, worse, resamples=300)
    f1_better, f1_worse = (
        score_records(read_predictions(predictions_path(r)))["strict"]["f1"] for r in (better, worse)
    )
    assert result["delta_strict_f1"] == round(f1_better - f1_worse, 4) > 0
    low, high = result["ci95"]
    assert 0 < low <= result["delta_strict_f1"] <= high
    assert result["sentences"] == len(SENTENCES) and result["runs"] == ["better", "worse"]
    same = paired_bootstrap(better, better / "predictions_test.jsonl", resamples=50)
    assert same["delta_strict_f1"] == 0 and same["ci95"] == [0, 0]


def test_refuses_different_test_sets_and_says_what_is_missing(tmp_path):
    a = predictions(tmp_path / "a", "predictions.jsonl", missed=set())
    b = predictions(
        tmp_path / "b", "predictions.jsonl", missed=set(), gold=[["O", *tags] for tags in SENTENCES]
    )
    with pytest.raises(ValueError, match="different test sets"):
        paired_bootstrap(a, b)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no predictions_test.jsonl or predictions.jsonl"):
        predictions_path(tmp_path / "empty")
