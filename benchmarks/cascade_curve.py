"""Benchmark: the F1-vs-time curve of a confidence cascade, with the small and the large tagger as its ends.

    BIONER_DATA_DIR=../shared/data python -m benchmarks.cascade_curve --small runs/bc5cdr-minilm-distilled \\
        --large runs/ensemble-3 --dataset bc5cdr --thresholds 0.5,0.7,0.8,0.9,0.95,0.99 --calibrate

In one process, both taggers are loaded once and warmed up; the small one alone and the large one alone tag
the split (default test) and are scored; then, for each threshold (or ``--fractions``), the cascade runs for
real (the small model again on every sentence, the large one on the routed ones: nothing is simulated) and is
scored and timed. ``--calibrate`` fits the small model's temperature on the dev split first. Writes
``cascade_<name>.json``, ``.md`` and ``_curve.png`` (strict F1 against seconds per sentence) into
``--output_dir`` (default ``benchmarks/results``); an existing result of that name is kept unless
``--overwrite``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from bioner.corpora.sources import load_split
from bioner.data.conll import label_names
from bioner.evaluation.ensembles import dev_split
from bioner.evaluation.latency import machine
from bioner.models.errors import ModelLoadError
from bioner.tagging.cascade import CONFIDENCES, MIN_PROB, CascadeTagger, fit_temperature
from bioner.tagging.taggers import load_tagger
from metrics.bio_ner.scoring import compute_ner_scores


def floats(value: str | None) -> list[float]:
    return [float(item) for item in value.split(",") if item.strip()] if value else []


def score(tagger, sentences, gold) -> dict:
    """Strict F1, seconds per sentence and (for a cascade) the routed fraction of one real run."""
    predictions = tagger(sentences, progress=False)
    row = {
        "strict_f1": round(float(compute_ner_scores(predictions, gold)["strict"]["f1"]), 4),
        "seconds": round(tagger.last_seconds, 4),
        "seconds_per_sentence": round(tagger.last_seconds / max(len(sentences), 1), 6),
    }
    stats = getattr(tagger, "last_stats", {})
    if "cascade_large_words_fraction" in stats:
        row["large_words_fraction"] = stats["cascade_large_words_fraction"]
    if "cascade_routed_fraction" in stats:
        row["routed_fraction"] = stats["cascade_routed_fraction"]
        row["small_seconds"], row["large_seconds"] = (
            stats["cascade_small_seconds"],
            stats["cascade_large_seconds"],
        )
    return row


def plot(result: dict, path: Path) -> None:
    figure = Figure(figsize=(6, 4))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    curve = result["cascade"]
    axes.plot(
        [r["seconds_per_sentence"] * 1000 for r in curve],
        [r["strict_f1"] for r in curve],
        "o-",
        label="cascade",
    )
    for row in curve:
        axes.annotate(row["setting"], (row["seconds_per_sentence"] * 1000, row["strict_f1"]), fontsize=7)
    for name, marker in (("small", "s"), ("large", "^")):
        row = result[name]
        axes.plot(
            row["seconds_per_sentence"] * 1000,
            row["strict_f1"],
            marker,
            markersize=9,
            label=f"{name}: {Path(result['models'][name]).name}",
        )
    axes.set_xlabel("ms per sentence")
    axes.set_ylabel("strict F1")
    axes.set_title(f"cascade on {result['dataset']} {result['split']}")
    axes.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def markdown(result: dict) -> str:
    lines = [
        f"# Cascade {result['name']}: {result['dataset']} {result['split']}"
        f" ({result['instances']} sentences)",
        "",
        f"small `{result['models']['small']}`, large `{result['models']['large']}`, confidence"
        f" {result['confidence']}, temperature {result['temperature']}, batch size {result['batch_size']}.",
        "",
        "| run | sentences routed | words the large tagger read | strict F1 | Δ vs large | ms / sentence |"
        " × large's time |",
        "|---|---|---|---|---|---|---|",
    ]
    large = result["large"]
    rows = [("small alone", result["small"]), ("large alone", large)]
    rows += [(f"cascade {r['setting']}", r) for r in result["cascade"]]
    for name, row in rows:
        routed = f"{100 * row['routed_fraction']:.1f}%" if "routed_fraction" in row else ""
        words = f"{100 * row['large_words_fraction']:.1f}%" if "large_words_fraction" in row else ""
        if "routed_fraction" in row and not words:
            words = "routed sentences"
        delta = 100 * (row["strict_f1"] - large["strict_f1"])
        ratio = row["seconds_per_sentence"] / max(large["seconds_per_sentence"], 1e-12)
        lines.append(
            f"| {name} | {routed} | {words} | {row['strict_f1']:.4f} | {delta:+.2f} |"
            f" {1000 * row['seconds_per_sentence']:.2f} | {ratio:.2f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", required=True, help="token classifier or ensemble (folder or Hub id)")
    parser.add_argument("--large", required=True, help="any tagger (folder or Hub id)")
    parser.add_argument("--dataset", default="bc5cdr")
    parser.add_argument("--data_dir")
    parser.add_argument("--split", default="test")
    parser.add_argument("--max_instances", type=int)
    parser.add_argument("--thresholds", default="0.5,0.7,0.8,0.9,0.95,0.99")
    parser.add_argument("--fractions", help="route these per-call fractions instead, e.g. 0.1,0.2,0.35")
    parser.add_argument("--confidence", default=MIN_PROB, choices=CONFIDENCES)
    parser.add_argument("--calibrate", action="store_true", help="fit the small model's temperature on dev")
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--device", default=None)
    parser.add_argument("--backend", default=None, help="both taggers' forward pass (torch, torch-bf16, ...)")
    parser.add_argument("--large_backend", default=None, help="the large tagger's, when it differs")
    parser.add_argument(
        "--routing",
        default="sentence",
        help="comma-separated: sentence (whole sentences) and/or span (windows around doubtful words)",
    )
    parser.add_argument("--span_radius", type=int, default=2, help="span routing: core words either side")
    parser.add_argument("--span_context", type=int, default=8, help="span routing: context words either side")
    parser.add_argument("--name", help="results name (default: <small>-to-<large>)")
    parser.add_argument("--output_dir", default="benchmarks/results")
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)
    name = args.name or f"{Path(args.small).name}-to-{Path(args.large).name}"
    output = Path(args.output_dir) / f"cascade_{name}.json"
    if output.exists() and not args.overwrite:
        raise SystemExit(f"error: {output} exists; pass --name or --overwrite")
    routings = [r.strip() for r in args.routing.split(",") if r.strip()]
    if not routings or set(routings) - {"sentence", "span"}:
        raise SystemExit(f"error: --routing: sentence and/or span, got {args.routing!r}")
    if "span" in routings and args.fractions:
        raise SystemExit("error: span routing takes --thresholds, not --fractions")
    settings = [("fraction", f) for f in floats(args.fractions)] or [
        ("threshold", t) for t in floats(args.thresholds)
    ]
    data = load_split(args.dataset, args.data_dir, args.split, args.max_instances)
    labels = label_names(data)
    sentences = [list(t) for t in data["tokens"]]
    gold = [[labels[i] for i in tags] for tags in data["ner_tags"]]
    try:
        options = {"device": args.device, "backend": args.backend, "batch_size": args.batch_size}
        small = load_tagger(args.small, **options)
        large = load_tagger(args.large, **{**options, "backend": args.large_backend or args.backend})
        temperature = 1.0
        if args.calibrate:
            dev_sentences, dev_gold = dev_split(args.dataset, args.data_dir)
            temperature = fit_temperature(small.word_log_probs(dev_sentences), dev_gold, small.labels)
        for tagger in (small, large):  # warm-up, untimed
            tagger(sentences[:2], progress=False)
        result = {
            "name": name,
            "dataset": args.dataset,
            "split": args.split,
            "instances": len(sentences),
            "models": {"small": args.small, "large": args.large},
            "confidence": args.confidence,
            "temperature": temperature,
            "batch_size": args.batch_size,
            "backends": {"small": args.backend, "large": args.large_backend or args.backend},
            "machine": machine(),
            "python": platform.python_version(),
            "command": " ".join(["cascade_curve.py", *sys.argv[1:]]),
            "small": score(small, sentences, gold),
            "large": score(large, sentences, gold),
            "cascade": [],
        }
        for kind, value in settings:
            for routing in routings:
                spans = {"span_radius": args.span_radius, "span_context": args.span_context}
                cascade = CascadeTagger(
                    small,
                    large,
                    confidence=args.confidence,
                    temperature=temperature,
                    names=(args.small, args.large),
                    **{kind: value},
                    **(spans if routing == "span" else {}),
                )
                setting = f"{kind} {value}" + (
                    f", spans r{args.span_radius}+c{args.span_context}" if routing == "span" else ""
                )
                result["cascade"].append(
                    {"setting": setting, kind: value, "routing": routing, **score(cascade, sentences, gold)}
                )
    except (ModelLoadError, ValueError) as error:
        raise SystemExit(f"error: {error}") from None
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    output.with_suffix(".md").write_text(markdown(result))
    plot(result, output.with_name(f"cascade_{name}_curve.png"))
    print(markdown(result))
    return result


if __name__ == "__main__":
    main()
