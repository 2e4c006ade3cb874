"""benchmarks/beyond_single.py: rows scored, compared with the reference, latency joined, no overwrite."""

from __future__ import annotations

import json

import pytest

from benchmarks import beyond_single

GOLD = [["B-Chemical", "O"], ["O", "B-Disease", "I-Disease"]] * 50


def write_run(folder, missed):
    folder.mkdir()
    lines = [
        json.dumps({"gold": g, "pred": ["O"] * len(g) if i in missed else g}) for i, g in enumerate(GOLD)
    ]
    (folder / "predictions.jsonl").write_text("\n".join(lines) + "\n")
    return folder


def test_table_with_intervals_and_latency(tmp_path):
    best, other = write_run(tmp_path / "best", set()), write_run(tmp_path / "other", set(range(0, 100, 5)))
    latency = tmp_path / "latency.json"
    latency.write_text(json.dumps({"summary": [
        {"model": "runs/best", "batch_size": 1, "mode": "viterbi", "mean_s": 0.2},
        {"model": "runs/best", "batch_size": 16, "mode": "viterbi", "mean_s": 0.01},
        {"model": "runs/x", "batch_size": 1, "mode": "viterbi", "mean_s": 0.05},
    ]}))  # fmt: skip
    argv = ["--row", f"best={best}", "--row", f"other={other}", "--reference", "best",
            "--latency", str(latency), "--latency_model", "other=x", "--resamples", "100",
            "--output_dir", str(tmp_path / "out")]  # fmt: skip
    result = beyond_single.main(argv)
    best_row, other_row = result["rows"]
    assert best_row["strict_f1"] == 1.0 and "vs_reference" not in best_row
    assert other_row["strict_f1"] < 1.0 and other_row["vs_reference"]["delta_strict_f1"] < 0
    assert other_row["vs_reference"]["ci95"][1] <= 0
    assert best_row["seconds_per_sentence_batch1"] == 0.2 and other_row["seconds_per_sentence_batch1"] == 0.05
    assert "| other |" in (tmp_path / "out" / "beyond_single_bc5cdr.md").read_text()
    with pytest.raises(SystemExit, match="exists"):
        beyond_single.main(argv)


def test_bad_rows_are_one_line_errors(tmp_path):
    best = write_run(tmp_path / "best", set())
    with pytest.raises(SystemExit, match="expected NAME=PATH"):
        beyond_single.main(["--row", str(best), "--reference", "best"])
    with pytest.raises(SystemExit, match="not one of the rows"):
        beyond_single.main(["--row", f"a={best}", "--reference", "best"])
    with pytest.raises(SystemExit, match="row missing: .*no predictions"):
        beyond_single.main(["--row", f"a={best}", "--row", f"missing={tmp_path}", "--reference", "a",
                            "--output_dir", str(tmp_path / "out")])  # fmt: skip
    with pytest.raises(SystemExit, match="--latency .*: not a benchmark_latency.py results file"):
        beyond_single.main(["--row", f"a={best}", "--reference", "a",
                            "--latency", str(tmp_path / "none.json"),
                            "--output_dir", str(tmp_path / "out")])  # fmt: skip
