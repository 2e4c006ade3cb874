"""The Markdown report and the F1-by-length plot, on a small hand-computed case."""

from __future__ import annotations

from bioner.evaluation.report import format_report, plot_f1_by_length
from metrics.bio_ner.scoring import compute_ner_scores

# Gold: Chemical(0), Disease(2-3), Disease(5-7).  Predicted: Chemical(0) right, Disease(2-4) too long,
# Disease(5-7) right, Chemical(9) spurious.
REFERENCES = [
    ["B-Chemical", "O", "B-Disease", "I-Disease", "O", "B-Disease", "I-Disease", "I-Disease", "O", "O"]
]
PREDICTIONS = [
    [
        "B-Chemical",
        "O",
        "B-Disease",
        "I-Disease",
        "I-Disease",
        "B-Disease",
        "I-Disease",
        "I-Disease",
        "O",
        "B-Chemical",
    ]
]


def results() -> dict[str, dict]:
    return {
        "dev": compute_ner_scores(PREDICTIONS, REFERENCES),
        "test": compute_ner_scores(REFERENCES, REFERENCES),
    }


def row(report: str, first_cells: str) -> str:
    return next(line for line in report.splitlines() if line.startswith(f"| {first_cells} |"))


def test_report_has_table_iii_row_with_overall_and_by_length_scores():
    report = format_report(results(), "MiniLM on BC5CDR", notes="- seed: 42")
    assert report.startswith("# MiniLM on BC5CDR\n\n- seed: 42\n")
    # strict: 2 correct of 4 predicted and 3 gold; length 1: 1/2 predicted, 1/1 gold; length 2: 0/0, 0/1;
    # length 3+: 1/2 predicted, 1/1 gold.
    assert row(report, "dev") == (
        "| dev | 50.00 | 66.67 | 57.14 | 50.00 | 100.00 | 66.67 | 0.00 | 0.00 | 0.00 | 50.00 | 100.00 |"
        " 66.67 |"
    )
    assert "| test | 100.00 | 100.00 | 100.00 |" in report
    assert (
        "| Split | P | R | F1 | P (1) | R (1) | F1 (1) | P (2) | R (2) | F1 (2) | P (3+) | R (3+) | F1 (3+) |"
        in report
    )


def test_report_relaxed_per_type_counts_and_length_tables():
    report = format_report(results(), "run")
    # partial: 2 correct + 1 partial over 4 predicted and 3 gold
    assert "| dev | 62.50 | 83.33 | 71.43 |" in report
    assert row(report, "Chemical") == "| Chemical | 1 | 2 | 50.00 | 100.00 | 66.67 | 50.00 | 100.00 | 66.67 |"
    assert row(report, "Disease") == "| Disease | 2 | 2 | 50.00 | 50.00 | 50.00 | 75.00 | 75.00 | 75.00 |"
    assert row(report, "strict") == "| strict | 2 | 1 | 0 | 0 | 1 | 3 | 4 | 50.00 | 66.67 | 57.14 |"
    assert row(report, "partial") == "| partial | 2 | 0 | 1 | 0 | 1 | 3 | 4 | 62.50 | 83.33 | 71.43 |"
    assert row(report, "dev | 2") == "| dev | 2 | 1 | 0 | 0 |"
    assert row(report, "dev | 3+") == "| dev | 3+ | 1 | 2 | 1 |"
    assert "1 sentences, 10 tokens, token accuracy 80.00%" in report


def test_report_without_entities_says_so():
    report = format_report({"dev": compute_ner_scores([["O"]], [["O"]])}, "empty")
    assert "No entities in the gold or the predictions." in report


def test_plot_writes_png(tmp_path):
    path = tmp_path / "f1_by_length.png"
    plot_f1_by_length(results(), path)
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 5000
