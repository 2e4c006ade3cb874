"""Build ensemble and cascade manifest folders, scored and tuned on a dev split.

    python -m bioner.evaluation.ensembles build --members runs/mpnet runs/smollm2-tc runs/gemma-tc \\
        --dataset bc5cdr --output_dir runs/ensemble-3 --tune_weights
    python -m bioner.evaluation.ensembles cascade --small runs/minilm --large runs/ensemble-3 \\
        --dataset bc5cdr --output_dir runs/cascade --fraction 0.2 --calibrate

``build`` scores each member once on the dev split (word log-probabilities kept in memory), records each
member's dev strict F1 and, with ``--tune_weights``, searches the weights on a simplex grid (step 0.1) for the
best dev strict F1 of the ensemble (equal weights win ties); the manifest's ``dev.best_by_member_count`` names
the best grid point using each number of members (the best pair, ...) and ``dev_grid.json`` holds every
point's dev F1. ``cascade`` scores the small model on dev,
optionally fits its temperature (minimum dev NLL) and turns ``--fraction`` into the dev-quantile threshold
that routes that fraction, so the routing does not depend on the batch. Both refuse a non-empty output
folder. ``python -m bioner.hub push-manifest FOLDER ORG/NAME`` publishes the folder.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bioner.corpora.sources import load_split
from bioner.data.conll import label_names
from bioner.decoding.viterbi import decode_tags
from bioner.models.errors import ModelLoadError
from bioner.tagging.cascade import (
    CONFIDENCES,
    MIN_PROB,
    fit_temperature,
    save_cascade,
    sentence_confidence,
    span_problem,
)
from bioner.tagging.ensemble import EnsembleTagger, save_ensemble
from bioner.tagging.manifests import check_new_folder
from bioner.tagging.taggers import load_tagger
from metrics.bio_ner.scoring import compute_ner_scores

logger = logging.getLogger(__name__)
GRID_STEP = 0.1
GRID_FILE = "dev_grid.json"


def dev_split(dataset: str, data_dir: str | None = None, max_instances: int | None = None):
    """``(sentences, gold tags)`` of ``dataset``'s dev split."""
    data = load_split(dataset, data_dir, "dev", max_instances)
    labels = label_names(data)
    return [list(t) for t in data["tokens"]], [[labels[i] for i in tags] for tags in data["ner_tags"]]


def strict_f1(predictions: Sequence[Sequence[str]], gold: Sequence[Sequence[str]]) -> float:
    """The project metric's strict F1 (``metrics.bio_ner.scoring``)."""
    return float(compute_ner_scores(predictions, gold)["strict"]["f1"])


def simplex_grid(count: int, step: float = GRID_STEP) -> list[tuple[float, ...]]:
    """Every weight vector of ``count`` non-negative multiples of ``step`` summing to 1."""
    units = round(1 / step)

    def compositions(total: int, parts: int):
        if parts == 1:
            yield (total,)
            return
        for first in range(total, -1, -1):
            for rest in compositions(total - first, parts - 1):
                yield (first, *rest)

    return [tuple(round(u * step, 10) for u in c) for c in compositions(units, count)]


def tune_weights(
    member_scores: Sequence[Sequence[np.ndarray]],
    gold: Sequence[Sequence[str]],
    labels: Sequence[str],
    step: float = GRID_STEP,
    decoding: str = "viterbi",
    scored: list | None = None,
) -> tuple[list[float], float, int]:
    """``(weights, dev strict F1, grid points tried)``: the simplex-grid weights with the best strict F1 of
    the decoded weighted mean (equal weights first, so they win ties). ``member_scores[m][s]`` is member
    ``m``'s ``[words, labels]`` log-probabilities of sentence ``s``, all in ``labels`` order. ``scored``, when
    given, receives every ``(weights, F1)`` tried, in order."""
    count = len(member_scores)
    lengths = [len(s) for s in member_scores[0]]
    cuts = np.cumsum(lengths)[:-1]
    flat = [
        np.concatenate([np.asarray(s) for s in scores]) if lengths else np.zeros((0, len(labels)))
        for scores in member_scores
    ]

    def f1(weights: Sequence[float]) -> float:
        total = sum(w * s for w, s in zip(weights, flat, strict=True))  # per-word constants: decode-invariant
        return strict_f1([decode_tags(s, labels, decoding) for s in np.split(total, cuts)], gold)

    uniform = [1.0 / count] * count
    best, best_f1 = uniform, f1(uniform)
    trace = scored if scored is not None else []
    trace.append((uniform, best_f1))
    grid = simplex_grid(count, step)
    for weights in grid:
        score = f1(weights)
        trace.append((list(weights), score))
        if score > best_f1 + 1e-12:
            best, best_f1 = list(weights), score
    return [float(w) for w in best], best_f1, len(grid) + 1


def best_subsets(scored: Sequence[tuple[Sequence[float], float]], members: Sequence[str]) -> dict[str, dict]:
    """For each number of members actually used (non-zero weight), the best grid point among those using
    that many: e.g. ``"2"`` is the best two-member ensemble on dev, read from the same grid."""
    best: dict[str, dict] = {}
    for weights, score in scored:
        used = [i for i, w in enumerate(weights) if w > 1e-9]
        key = str(len(used))
        if key not in best or score > best[key]["f1"] + 1e-12:
            best[key] = {
                "members": [members[i] for i in used],
                "weights": [round(float(weights[i]), 4) for i in used],
                "f1": score,
            }
    return {k: {**v, "f1": round(v["f1"], 4)} for k, v in sorted(best.items())}


def build_ensemble(
    members: Sequence[str],
    dataset: str,
    output_dir: str | Path,
    *,
    weights: Sequence[float] | None = None,
    tune: bool = False,
    step: float = GRID_STEP,
    data_dir: str | None = None,
    max_instances: int | None = None,
    decoding: str = "viterbi",
    **load_options,
) -> dict:
    """Score ``members`` on ``dataset``'s dev split, choose the weights (given, tuned, or equal) and write the
    manifest to ``output_dir`` (new or empty). Returns what the manifest records."""
    if tune and weights is not None:
        raise ValueError("pass --weights or --tune_weights, not both")
    check_new_folder(output_dir)
    sentences, gold = dev_split(dataset, data_dir, max_instances)
    taggers = [load_tagger(m, **load_options) for m in members]
    ensemble = EnsembleTagger(taggers, list(members), weights, decoding=decoding)
    per_member = ensemble.member_log_probs(sentences)
    member_f1 = [
        strict_f1([decode_tags(s, ensemble.labels, decoding) for s in scores], gold) for scores in per_member
    ]
    for name, score in zip(members, member_f1, strict=True):
        logger.info("dev strict F1 %s: %.4f", name, score)
    scored: list = []
    if tune:
        chosen, ensemble_f1, tried = tune_weights(per_member, gold, ensemble.labels, step, decoding, scored)
        how = f"simplex grid, step {step}, best dev strict F1 ({tried} points; equal weights win ties)"
    else:
        chosen, how = ensemble.weights, "given" if weights is not None else "equal"
        ensemble_f1 = strict_f1(
            [
                decode_tags(
                    sum(w * s for w, s in zip(chosen, scores, strict=True)), ensemble.labels, decoding
                )
                for scores in zip(*per_member, strict=True)
            ],
            gold,
        )
    logger.info("dev strict F1 ensemble %s: %.4f", [round(w, 3) for w in chosen], ensemble_f1)
    dev = {
        "dataset": dataset,
        "split": "dev",
        "sentences": len(sentences),
        "ensemble_f1": round(ensemble_f1, 4),
    }
    if scored:
        dev["best_by_member_count"] = best_subsets(scored, list(members))
        for size, best in dev["best_by_member_count"].items():
            logger.info("best dev ensemble of %s member(s): %s %s %.4f", size, best["members"],
                        best["weights"], best["f1"])  # fmt: skip
    save_ensemble(
        output_dir,
        members,
        chosen,
        ensemble.labels,
        decoding=decoding,
        weights_chosen_by=how,
        dev=dev,
        member_dev_f1=member_f1,
    )
    if scored:  # every grid point's dev F1, beside the manifest (which stays small)
        grid = [
            {"weights": [round(float(w), 4) for w in weights], "f1": round(score, 4)}
            for weights, score in scored
        ]
        (Path(output_dir) / GRID_FILE).write_text(
            json.dumps({"members": list(members), "grid": grid}, indent=1)
        )
    return {"weights": chosen, "member_dev_f1": member_f1, "dev": dev, "weights_chosen_by": how}


def build_cascade(
    small: str,
    large: str,
    dataset: str,
    output_dir: str | Path,
    *,
    threshold: float | None = None,
    fraction: float | None = None,
    confidence: str = MIN_PROB,
    calibrate: bool = False,
    span_radius: int | None = None,
    span_context: int = 8,
    data_dir: str | None = None,
    max_instances: int | None = None,
    **load_options,
) -> dict:
    """Score ``small`` on dev, fit its temperature (``calibrate``), turn ``fraction`` into the dev threshold
    that routes it, and write the cascade manifest (with ``span_radius``: span routing, see
    ``bioner.tagging.cascade``). ``large`` is recorded, not loaded."""
    if (threshold is None) == (fraction is None):
        raise ValueError("pass one of --threshold or --fraction")
    # a fraction is stored as a threshold below, so the check sees a threshold either way
    problem = span_problem(span_radius, span_context, threshold if fraction is None else 0.0, confidence)
    if problem:
        raise ValueError(problem)
    if not Path(large).exists() and large.count("/") != 1:
        raise ModelLoadError(f"--large '{large}': no such folder (and not a Hub id of the form org/name)")
    check_new_folder(output_dir)
    sentences, gold = dev_split(dataset, data_dir, max_instances)
    tagger = load_tagger(small, **load_options)
    if not callable(getattr(tagger, "word_log_probs", None)):
        raise ModelLoadError(f"--small '{small}' has no word scores: pass a token classifier or an ensemble")
    scores = tagger.word_log_probs(sentences)
    temperature = fit_temperature(scores, gold, tagger.labels) if calibrate else 1.0
    confidences = sorted(sentence_confidence(s, confidence, temperature) for s in scores)
    dev = {
        "dataset": dataset,
        "split": "dev",
        "sentences": len(sentences),
        "small_f1": round(strict_f1([decode_tags(s, tagger.labels) for s in scores], gold), 4),
    }
    if fraction is not None:
        count = round(fraction * len(confidences))
        # just above the count-th lowest confidence: `count` dev sentences (more on ties) fall under it
        threshold = float(np.nextafter(confidences[count - 1], 2.0)) if count else 0.0
        dev["fraction"] = fraction
    dev["routed_fraction"] = round(sum(c < threshold for c in confidences) / max(len(confidences), 1), 4)
    spans = {} if span_radius is None else {"span_radius": span_radius, "span_context": span_context}
    save_cascade(
        output_dir, small, large, threshold=threshold, confidence=confidence, temperature=temperature,
        dev=dev, **spans,
    )  # fmt: skip
    logger.info(
        "cascade threshold %.4f (temperature %.3f) routes %.1f%% of dev",
        threshold,
        temperature,
        100 * dev["routed_fraction"],
    )
    return {"threshold": threshold, "temperature": temperature, "dev": dev}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bioner.evaluation.ensembles", description=__doc__.split("\n")[0]
    )
    parser.add_argument("command", choices=["build", "cascade"], help="an ensemble or a cascade folder")
    parser.add_argument("--members", nargs="+", help="build: token classifiers (folders or Hub ids)")
    parser.add_argument("--weights", nargs="+", type=float, help="build: one weight per member (normalised)")
    parser.add_argument("--tune_weights", action="store_true", help="build: search weights on a dev grid")
    parser.add_argument("--step", type=float, default=GRID_STEP, help="build: grid step of --tune_weights")
    parser.add_argument("--bio_decoding", default="viterbi", choices=["viterbi", "argmax"])
    parser.add_argument("--small", help="cascade: token classifier or ensemble (folder or Hub id)")
    parser.add_argument("--large", help="cascade: any tagger (folder or Hub id)")
    route = parser.add_mutually_exclusive_group()
    route.add_argument("--threshold", type=float, help="cascade: confidence under which --large tags")
    route.add_argument(
        "--fraction", type=float, help="cascade: route this dev fraction (stored as a threshold)"
    )
    parser.add_argument("--confidence", default=MIN_PROB, choices=CONFIDENCES, help="cascade: confidence")
    parser.add_argument(
        "--calibrate", action="store_true", help="cascade: fit a temperature on dev (min NLL)"
    )
    parser.add_argument(
        "--span_radius", type=int, help="cascade: span routing, core words around each doubtful word"
    )
    parser.add_argument("--span_context", type=int, default=8, help="cascade: span routing context words")
    parser.add_argument("--dataset", required=True, help="registered name, data folder or Hub id (its dev)")
    parser.add_argument("--data_dir", help="folder of registered datasets (env BIONER_DATA_DIR)")
    parser.add_argument("--max_instances", type=int, help="score only the first N dev sentences")
    parser.add_argument("--output_dir", required=True, help="a new (or empty) folder for the manifest")
    parser.add_argument("--backend", default=None, help="token classifiers' forward pass (torch, onnx, ...)")
    parser.add_argument("--device", default=None, help="cuda, cpu (default: CUDA when available)")
    parser.add_argument("--batch_size", type=int, default=64)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "build" and not args.members:
        parser.error("build needs --members")
    if args.command == "cascade" and not (args.small and args.large):
        parser.error("cascade needs --small and --large")
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    common = {
        "data_dir": args.data_dir,
        "max_instances": args.max_instances,
        "backend": args.backend,
        "device": args.device,
        "batch_size": args.batch_size,
    }
    try:
        if args.command == "build":
            result = build_ensemble(
                args.members,
                args.dataset,
                args.output_dir,
                weights=args.weights,
                tune=args.tune_weights,
                step=args.step,
                decoding=args.bio_decoding,
                **common,
            )
        else:
            result = build_cascade(
                args.small,
                args.large,
                args.dataset,
                args.output_dir,
                threshold=args.threshold,
                fraction=args.fraction,
                confidence=args.confidence,
                calibrate=args.calibrate,
                span_radius=args.span_radius,
                span_context=args.span_context,
                **common,
            )
    except (ModelLoadError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
