"""The figures benchmarks/token_classifiers_cpu.py derives from finished runs: first-200 F1 and the paired
bootstrap."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from bioner.evaluation.records import read_predictions, score_records
from tests.helpers import ROOT

SPEC = importlib.util.spec_from_file_location(
    "token_classifiers_cpu", ROOT / "benchmarks/token_classifiers_cpu.py"
)
bench = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(bench)

GOLD = [["B-Chemical", "O"], ["O", "B-Disease", "I-Disease"], ["B-Chemical"], ["O", "O"]] * 60


def run(tmp_path: Path, name: str, wrong: set[int], gold=GOLD) -> Path:
    """A finished run whose test predictions equal the gold tags except in the sentences ``wrong``."""
    output = tmp_path / name
    output.mkdir()
    lines = [
        json.dumps({"gold": tags, "pred": ["O"] * len(tags) if i in wrong else tags})
        for i, tags in enumerate(gold)
    ]
    (output / "predictions_test.jsonl").write_text("\n".join(lines) + "\n")
    return output


def test_first_200_f1_scores_only_the_first_200_sentences(tmp_path):
    output = run(tmp_path, "a", wrong=set(range(200, 240)))
    assert bench.first_200_f1(output) == 1.0
    assert bench.first_200_f1(tmp_path / "missing") is None


def test_paired_bootstrap_difference_and_interval(tmp_path):
    better, worse = run(tmp_path, "better", wrong={0}), run(tmp_path, "worse", wrong=set(range(0, 240, 4)))
    result = bench.paired_bootstrap(better, worse, resamples=300)
    f1_better, f1_worse = (
        score_records(read_predictions(output / "predictions_test.jsonl"))["strict"]["f1"]
        for output in (better, worse)
    )
    assert result["delta_strict_f1"] == round(f1_better - f1_worse, 4) > 0
    low, high = result["ci95"]
    assert 0 < low <= result["delta_strict_f1"] <= high
    assert result["sentences"] == len(GOLD) and result["runs"] == ["better", "worse"]
    same = bench.paired_bootstrap(better, better, resamples=50)
    assert same["delta_strict_f1"] == 0 and same["ci95"] == [0, 0]


def test_paired_bootstrap_refuses_runs_on_different_test_sets(tmp_path):
    a = run(tmp_path, "a", wrong=set())
    b = run(tmp_path, "b", wrong=set(), gold=[["O", *tags] for tags in GOLD])
    with pytest.raises(SystemExit, match="different test sets"):
        bench.paired_bootstrap(a, b)
