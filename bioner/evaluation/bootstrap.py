"""Paired bootstrap of the strict-F1 difference between two taggers scored on the same sentences.

Test sentences are resampled with replacement (the same draw for both taggers, hence *paired*); each
resample's F1 is micro-averaged from per-sentence (correct, predicted, gold) counts, so a draw costs no
re-scoring.
"""

from __future__ import annotations

import random
from pathlib import Path

from bioner.evaluation.records import read_predictions, score_records

PREDICTION_FILES = ("predictions_test.jsonl", "predictions.jsonl")


def predictions_path(run: str | Path) -> Path:
    """A predictions JSONL, or the one a run folder holds (``train_encoder.py``'s ``predictions_test.jsonl``,
    ``evaluate_ner.py``'s ``predictions.jsonl``)."""
    run = Path(run)
    if run.is_dir():
        for name in PREDICTION_FILES:
            if (run / name).is_file():
                return run / name
        raise FileNotFoundError(f"{run}: no {' or '.join(PREDICTION_FILES)} in this folder")
    return run


def sentence_counts(records: list[dict]) -> list[tuple[int, int, int]]:
    """Per sentence: strict (correct, predicted, gold) entity counts."""
    rows = []
    for record in records:
        strict = score_records([record])["strict"]
        rows.append((strict["correct"], strict["actual"], strict["possible"]))
    return rows


def micro_f1(rows: list[tuple[int, int, int]]) -> float:
    correct, actual, possible = (sum(column) for column in zip(*rows, strict=True)) if rows else (0, 0, 0)
    return 2 * correct / (actual + possible) if actual + possible else 0.0


def paired_bootstrap(run_a: str | Path, run_b: str | Path, resamples: int = 2000, seed: int = 0) -> dict:
    """Strict F1 of A minus B over the same test sentences, with a 95% percentile interval.

    ``run_a``/``run_b``: predictions files or run folders. Raises ``ValueError`` when the two scored different
    sentences (their gold tags differ)."""
    paths = [predictions_path(run_a), predictions_path(run_b)]
    records_a, records_b = (read_predictions(path) for path in paths)
    if [r["gold"] for r in records_a] != [r["gold"] for r in records_b]:
        raise ValueError(
            f"{paths[0]} and {paths[1]} scored different test sets: a paired bootstrap needs the same"
            " sentences"
        )
    a, b = sentence_counts(records_a), sentence_counts(records_b)
    rng = random.Random(seed)
    deltas = []
    for _ in range(resamples):
        sample = [rng.randrange(len(a)) for _ in range(len(a))]
        deltas.append(micro_f1([a[i] for i in sample]) - micro_f1([b[i] for i in sample]))
    deltas.sort()
    return {
        "runs": [Path(run_a).name, Path(run_b).name],
        "delta_strict_f1": round(micro_f1(a) - micro_f1(b), 4),
        "ci95": [round(deltas[int(0.025 * resamples)], 4), round(deltas[int(0.975 * resamples) - 1], 4)],
        "sentences": len(a),
        "resamples": resamples,
    }
