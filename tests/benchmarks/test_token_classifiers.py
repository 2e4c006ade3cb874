"""The figure benchmarks/token_classifiers_cpu.py derives from finished runs: first-200 F1 (the paired
bootstrap: tests/evaluation/test_bootstrap.py)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

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
