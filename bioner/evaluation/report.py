"""Markdown report and F1-by-length plot for metric dicts from ``compute_ner_scores``.

The tables follow the seed paper's layout (Table III: strict P/R/F1 overall and by entity length; Table V:
relaxed, which is the SemEval "partial" scheme) and add what the paper leaves out: per-type scores, the
SemEval counts behind every number, and how many entities fall in each length bin.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from bioner.models.registry import DECODER, ENCODER, LLM_TOKEN_CLASSIFIER

SCHEMES = ("strict", "exact", "partial", "ent_type")
COUNTS = ("correct", "incorrect", "partial", "missed", "spurious", "possible", "actual")


def _pct(value: float) -> str:
    return f"{100 * value:.2f}"


def _prf(scores: dict) -> list[str]:
    return [_pct(scores["precision"]), _pct(scores["recall"]), _pct(scores["f1"])]


def markdown_table(header: list[str], rows: Iterable[list[str]]) -> str:
    """A Markdown table from a header and rows of cell strings."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _bins(results: dict[str, dict]) -> list[str]:
    """Length-bin names in order of first appearance across all entries."""
    return list(dict.fromkeys(name for metrics in results.values() for name in metrics["by_length"]))


def _length_header(bins: list[str]) -> list[str]:
    return [f"{label} ({name})" for name in bins for label in ("P", "R", "F1")]


def _length_cells(metrics: dict, bins: list[str]) -> list[str]:
    by_length = metrics["by_length"]
    return [cell for name in bins for cell in (_prf(by_length[name]) if name in by_length else ["–"] * 3)]


def format_report(results: dict[str, dict], title: str, notes: str = "") -> str:
    """A Markdown report: one entry of ``results`` per split (or model), each a ``compute_ner_scores`` dict.
    ``notes`` (Markdown) goes under the title as is."""
    bins = _bins(results)
    sections = [f"# {title}"]
    if notes:
        sections.append(notes)
    sections.append(
        "## Strict entity-level scores (%), overall and by entity length in tokens\n\n"
        + markdown_table(
            ["Split", "P", "R", "F1", *_length_header(bins)],
            (
                [split, *_prf(metrics["strict"]), *_length_cells(metrics, bins)]
                for split, metrics in results.items()
            ),
        )
    )
    sections.append(
        "## Relaxed scores (%) (SemEval partial: any overlap, half credit for inexact boundaries)\n\n"
        + markdown_table(
            ["Split", "P", "R", "F1"],
            ([split, *_prf(metrics["partial"])] for split, metrics in results.items()),
        )
    )
    sections.append(
        "## Entity counts by length\n\n"
        + markdown_table(
            ["Split", "Length", "Gold", "Predicted", "Correct"],
            (
                [split, name, *(str(scores[key]) for key in ("gold", "predicted", "correct"))]
                for split, metrics in results.items()
                for name, scores in metrics["by_length"].items()
            ),
        )
    )
    for split, metrics in results.items():
        sections.append(_split_details(split, metrics))
    return "\n\n".join(sections) + "\n"


def _split_details(split: str, metrics: dict) -> str:
    """Per-type scores and SemEval counts of one split."""
    if "num_documents" in metrics:  # document-level scores (bioner.corpora.scoring): no tokens
        summary = (
            f"## {split}: details\n\n{metrics['num_documents']} documents, {metrics['num_gold_mentions']}"
            f" gold and {metrics['num_predicted_mentions']} predicted mentions, matched by character offsets "
            "(entity length: the words a mention covers)."
        )
    else:
        summary = (
            f"## {split}: details\n\n{metrics['num_sentences']} sentences, {metrics['num_tokens']} tokens, "
            f"token accuracy {_pct(metrics['token_accuracy'])}%."
        )
    per_type = metrics["per_type"]
    type_table = (
        markdown_table(
            [
                "Type",
                "Gold",
                "Predicted",
                "Strict P",
                "Strict R",
                "Strict F1",
                "Partial P",
                "Partial R",
                "Partial F1",
            ],
            (
                [
                    name,
                    str(scores["strict"]["possible"]),
                    str(scores["strict"]["actual"]),
                    *_prf(scores["strict"]),
                    *_prf(scores["partial"]),
                ]
                for name, scores in per_type.items()
            ),
        )
        if per_type
        else "No entities in the gold or the predictions."
    )
    count_table = markdown_table(
        ["Scheme", *(count.capitalize() for count in COUNTS), "P", "R", "F1"],
        (
            [scheme, *(str(metrics[scheme][count]) for count in COUNTS), *_prf(metrics[scheme])]
            for scheme in SCHEMES
        ),
    )
    return (
        f"{summary}\n\n### {split}: per-type scores (%)\n\n{type_table}\n\n"
        f"### {split}: SemEval counts\n\n{count_table}"
    )


def _strict_f1(metrics: dict, category: str) -> float | None:
    """Strict F1 in percent, overall or for one length bin; None for a bin this entry does not have."""
    if category == "overall":
        return 100 * metrics["strict"]["f1"]
    scores = metrics["by_length"].get(category)
    return None if scores is None else 100 * scores["f1"]


def plot_f1_by_length(results: dict[str, dict], path: str | Path) -> None:
    """Grouped bar chart (PNG) of strict F1, overall and per length bin, one group per entry of ``results``.

    Drawn on an Agg canvas directly: no pyplot, no display, no global backend switch.
    """
    bins = _bins(results)
    categories = ["overall", *bins]
    names = list(results)
    width = 0.8 / len(categories)
    figure = Figure(figsize=(max(6.0, 0.5 * len(names) * len(categories) + 2.0), 4.5), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    for offset, category in enumerate(categories):
        values = [_strict_f1(metrics, category) for metrics in results.values()]
        positions = [index + (offset - (len(categories) - 1) / 2) * width for index in range(len(names))]
        label = category if category == "overall" else f"{category} token{'' if category == '1' else 's'}"
        bars = axes.bar(
            positions, [math.nan if value is None else value for value in values], width, label=label
        )
        axes.bar_label(
            bars, labels=["" if value is None else f"{value:.1f}" for value in values], fontsize=7, padding=2
        )
    axes.set_xticks(range(len(names)), names)
    axes.set_xlabel("Run")
    axes.set_ylabel("Strict F1 (%)")
    axes.set_ylim(0, 105)
    axes.set_title("Strict entity F1, overall and by entity length")
    axes.legend(title="Entities", fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    figure.savefig(Path(path), format="png", dpi=120)


def _seconds(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.4f}" if value < 1 else f"{value:.3f}"


def _number(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def format_latency_report(rows: list[dict], dataset: str, meta: dict) -> str:
    """Markdown for ``benchmark_latency.py``: the seed's Table IV (mean seconds per instance per model) and
    the measurements behind it, with ratios to the fastest encoder at the same batch size."""
    has_f1 = any("strict_f1" in row for row in rows)
    lines = [f"# Inference latency on {dataset}", ""]
    lines += [
        "Inference only (no model loading, warm-up or scoring), per instance, after warm-up. "
        f"Device: {meta.get('device', '?')}; {meta.get('machine', {}).get('processor', '')}, "
        f"torch {meta.get('machine', {}).get('torch', '?')}; {meta.get('instances', '?')} instances of "
        f"{meta.get('split', 'test')}; memory: {meta.get('memory', '?')}.",
        "",
        "## Table IV layout: average inference time per instance (seconds)",
        "",
    ]
    header = ["Model (decoding)", "batch", dataset, "× fastest encoder"] + (["strict F1"] if has_f1 else [])
    lines += [markdown_table(header, _table_iv_cells(rows, has_f1)), "", "## Measurements", ""]
    header = [
        "Model (decoding)", "batch", "mean s", "p50 s", "p95 s", "inst/s", "passes/inst", "median passes",
        "tokens/inst", "corrections/inst", "draft agreement", "peak GB", "device", "dtype",
    ] + (["strict F1", "relaxed F1"] if has_f1 else [])  # fmt: skip
    table_rows = []
    for row in rows:
        cells = [
            row["name"],
            str(row["batch_size"]),
            _seconds(row["mean_s"]),
            _seconds(row["p50_s"]),
            _seconds(row["p95_s"]),
            _number(row["instances_per_s"]),
            _number(row["forward_passes"], 2),
            _number(row["median_forward_passes"], 1),
            _number(row["generated_tokens"]),
            _number(row["corrections"], 2),
            _number(None if row["draft_tag_agreement"] is None else 100 * row["draft_tag_agreement"], 2),
            _number(_peak_gb(row), 2),
            row["device"],
            row["dtype"],
        ]
        if has_f1:
            for key in ("strict_f1", "relaxed_f1"):
                cells.append(_pct(row[key]) if row.get(key) is not None else "–")
        table_rows.append(cells)
    lines += [markdown_table(header, table_rows), ""]
    lines += [
        "Passes are decoder forward passes per instance (hardware-independent cost); `floor` is one"
        " teacher-forced"
        " pass over prompt + gold answer, the least any generative tagger computes (not a decoding: no F1)."
        " Speculative decoding costs 1 + corrections passes (a correction of the very last tag needs none);"
        " draft agreement is the share of words where the draft's tag is the decoder's final tag.",
        "",
    ]
    return "\n".join(lines)


def _table_iv_cells(rows: list[dict], has_f1: bool) -> list[list[str]]:
    """Table IV cells of one dataset's latency rows: name, batch size, mean seconds per instance, ratio to the
    fastest encoder at the same batch size (and strict F1)."""
    fastest: dict[int, float] = {}
    for row in rows:
        if row["kind"] == "encoder":
            size = row["batch_size"]
            fastest[size] = min(fastest.get(size, math.inf), row["mean_s"])
    table_rows = []
    for row in rows:
        ratio = row["mean_s"] / fastest[row["batch_size"]] if row["batch_size"] in fastest else None
        cells = [row["name"], str(row["batch_size"]), _seconds(row["mean_s"]), _number(ratio)]
        if has_f1:
            cells.append(_pct(row["strict_f1"]) if row.get("strict_f1") is not None else "–")
        table_rows.append(cells)
    return table_rows


def format_latency_table(rows_by_dataset: dict[str, list[dict]]) -> str:
    """The seed's Table IV across datasets: mean seconds per instance of each model (``benchmark_latency.py``
    summary rows), with the ratio to the dataset's fastest encoder at the same batch size."""
    has_f1 = any("strict_f1" in row for rows in rows_by_dataset.values() for row in rows)
    header = ["Dataset", "Model (decoding)", "batch", "mean s / instance", "× fastest encoder"]
    return markdown_table(
        header + (["strict F1"] if has_f1 else []),
        (
            [dataset, *cells]
            for dataset, rows in rows_by_dataset.items()
            for cells in _table_iv_cells(rows, has_f1)
        ),
    )


def format_strict_table(entries: list[tuple[str, str, dict]]) -> str:
    """The seed's Table III: strict P/R/F1 (%) overall and by entity length, one row per ``(dataset, model,
    compute_ner_scores dict)``."""
    bins = _bins({str(index): metrics for index, (_, _, metrics) in enumerate(entries)})
    return markdown_table(
        ["Dataset", "Model", "P", "R", "F1", *_length_header(bins)],
        (
            [dataset, model, *_prf(metrics["strict"]), *_length_cells(metrics, bins)]
            for dataset, model, metrics in entries
        ),
    )


def format_relaxed_table(entries: list[tuple[str, str, dict]]) -> str:
    """The seed's Table V: relaxed (SemEval partial) P/R/F1 (%), one row per ``(dataset, model, scores)``."""
    return markdown_table(
        ["Dataset", "Model", "P", "R", "F1"],
        ([dataset, model, *_prf(metrics["partial"])] for dataset, model, metrics in entries),
    )


def plot_time_vs_f1(rows: list[dict], path: str | Path) -> None:
    """Mean seconds per instance (log scale) against strict F1 (PNG), one labelled point per model/mode/batch;
    decoders' one-pass floors (no F1: not a decoding) are dotted vertical lines."""
    figure = Figure(figsize=(9.5, 4.8), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    markers = {ENCODER: "s", DECODER: "o", LLM_TOKEN_CLASSIFIER: "D"}
    for row in rows:
        label = f"{row['name']} (b={row['batch_size']})"
        if row["kind"] == "floor":
            axes.axvline(row["mean_s"], linestyle=":", color="grey", label=label)
        elif row.get("strict_f1") is not None:
            marker = markers.get(row["kind"], "^")
            axes.scatter(row["mean_s"], 100 * row["strict_f1"], marker=marker, s=50, label=label)
    axes.set_xscale("log")
    axes.set_xlabel("Seconds per instance (log scale)")
    axes.set_ylabel("Strict F1 (%)")
    axes.set_title(
        "Speed vs accuracy\nsquares: encoders · diamonds: LLM token classifiers · circles: generative LLMs",
        fontsize=9,
    )
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    figure.savefig(
        Path(path), format="png", dpi=120, bbox_inches="tight"
    )  # keep the outside legend and title


def _peak_gb(row: dict) -> float | None:
    """A row's peak memory in GB (rows of latency.json files written before GB were in MB)."""
    if row.get("peak_memory_gb") is not None:
        return row["peak_memory_gb"]
    return None if row.get("peak_memory_mb") is None else row["peak_memory_mb"] / 1024
