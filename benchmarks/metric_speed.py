"""Speed of the project metric against nervaluate 1.2.1 on BC5CDR test, with perturbed gold as predictions.

The predictions are the gold tags with about ``--touch`` of the entities changed (seeded, so every run
scores the same input): boundaries shifted by one token, type swapped, entity dropped, or ``B-`` written as
an orphan ``I-``; spurious one- or two-token entities are added on ``O`` tokens at the same rate.  Both
scorers run on the same input in the same process (best of ``--repeats``), must agree on the four schemes,
and the script exits with status 1 when the speed-up is under ``--min-ratio``.

Run from the repository root:  .venv/bin/python -m benchmarks.metric_speed
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

from nervaluate import Evaluator

from bioner.data.conll import read_conll
from metrics.bio_ner.scoring import RESULT_FIELDS as FIELDS
from metrics.bio_ner.scoring import SCHEMES, compute_ner_scores, extract_entities

ROOT = Path(__file__).resolve().parents[1]
ERRORS = ("shift", "type", "drop", "orphan", "spurious")


def perturb(gold: list[str], types: list[str], rng: random.Random, rate: float) -> tuple[list[str], int]:
    """A prediction for one sentence, and how many of its gold entities were touched."""
    tags = ["O"] * len(gold)
    touched = 0
    for entity_type, start, end in extract_entities(gold):
        kind = rng.choice(ERRORS) if rng.random() < rate else None
        touched += kind is not None
        if kind == "spurious":
            _add_spurious(tags, gold, types, rng)
        elif kind is not None:
            entity_type, start, end = _change(kind, entity_type, start, end, gold, types, rng)
        if end > start and tags[start] == "O":
            _write(tags, entity_type, start, end)
            if kind == "orphan":
                tags[start] = f"I-{entity_type}"
    return tags, touched


def _write(tags: list[str], entity_type: str, start: int, end: int) -> None:
    tags[start:end] = [f"B-{entity_type}"] + [f"I-{entity_type}"] * (end - start - 1)


def _add_spurious(tags: list[str], gold: list[str], types: list[str], rng: random.Random) -> None:
    """A one- or two-token entity on tokens that are ``O`` in the gold, if the sentence has any."""
    free = [index for index, tag in enumerate(gold) if tag == "O" and tags[index] == "O"]
    if free:
        start = rng.choice(free)
        end = start + 2 if start + 1 in free and rng.random() < 0.5 else start + 1
        _write(tags, rng.choice(types), start, end)


def _change(
    kind: str, entity_type: str, start: int, end: int, gold: list[str], types: list[str], rng: random.Random
) -> tuple[str, int, int]:
    """The changed entity; an empty span means dropped.  Boundaries only grow into gold ``O`` tokens."""
    if kind == "type":
        return rng.choice([other for other in types if other != entity_type] or types), start, end
    if kind == "drop":
        return entity_type, start, start
    if kind == "orphan":
        return entity_type, start, end
    if rng.random() < 0.5:
        grow = start > 0 and gold[start - 1] == "O" and rng.random() < 0.5
        return entity_type, start - 1 if grow else start + 1, end
    grow = end < len(gold) and gold[end] == "O" and rng.random() < 0.5
    return entity_type, start, end + 1 if grow else end - 1


def race(functions: dict[str, Callable[[], object]], repeats: int) -> dict[str, tuple[float, object]]:
    """Best wall time and last result of each function over ``repeats`` rounds; the functions take turns, so
    background load on the machine hits them alike."""
    best = {name: (float("inf"), None) for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            started = time.perf_counter()
            result = function()
            best[name] = (min(best[name][0], time.perf_counter() - started), result)
    return best


def check_agreement(ours: dict, oracle: dict) -> None:
    for scheme in SCHEMES:
        for field in FIELDS:
            expected = getattr(oracle["overall"][scheme], field)
            if ours[scheme][field] != expected:
                raise AssertionError(
                    f"{scheme}.{field}: ours {ours[scheme][field]!r}, nervaluate {expected!r}"
                )


def main(argv: list[str] | None = None) -> int:
    default_data = Path(os.environ.get("BIONER_DATA_DIR", ROOT.parent / "shared" / "data"))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=default_data)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--touch", type=float, default=0.2, help="share of entities changed")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-ratio", type=float, default=10.0)
    args = parser.parse_args(argv)

    gold = [tags for _, tags in read_conll(args.data_dir / "bc5cdr" / "test.tsv").sentences]
    types = sorted({tag[2:] for sentence in gold for tag in sentence if tag != "O"})
    rng = random.Random(args.seed)
    perturbed = [perturb(sentence, types, rng, args.touch) for sentence in gold]
    predictions = [tags for tags, _ in perturbed]
    entities = sum(len(extract_entities(sentence)) for sentence in gold)
    touched = sum(count for _, count in perturbed)

    timings = race(
        {
            "ours": lambda: compute_ner_scores(predictions, gold),
            "nervaluate": lambda: Evaluator(gold, predictions, tags=types, loader="list").evaluate(),
        },
        args.repeats,
    )
    (ours_s, ours), (oracle_s, oracle) = timings["ours"], timings["nervaluate"]
    check_agreement(ours, oracle)
    ratio = oracle_s / ours_s
    print(
        f"BC5CDR test: {len(gold)} sentences, {sum(map(len, gold))} tokens, {entities} gold entities, "
        f"{touched} entities changed or added ({touched / entities:.1%}), "
        f"{sum(p != g for p, g in zip(predictions, gold, strict=True))} sentences differ"
    )
    print(
        f"strict F1 {ours['strict']['f1']:.4f}, partial F1 {ours['partial']['f1']:.4f} (both scorers agree)"
    )
    print(
        f"compute_ner_scores: {ours_s * 1000:.1f} ms   nervaluate 1.2.1: {oracle_s * 1000:.1f} ms   "
        f"(best of {args.repeats})   speed-up: {ratio:.1f}x"
    )
    if ratio < args.min_ratio:
        print(f"speed-up below {args.min_ratio}x", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
