"""What a grid left under its output directory, collected and tabled: every run as a record, the best run of
each (dataset, model) cell by dev strict F1, the ``latency.json`` rows, and from them ``tables.md`` (Tables
III, IV and V and every run), ``summary.json`` and the plots.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bioner.data.registry import REGISTERED_DATASETS
from bioner.evaluation.report import (
    format_latency_table,
    format_relaxed_table,
    format_strict_table,
    markdown_table,
    plot_f1_by_length,
    plot_time_vs_f1,
)
from bioner.models.registry import DECODER, ENCODER, LLM_TOKEN_CLASSIFIER

TOKCLS = LLM_TOKEN_CLASSIFIER  # a decoder LLM trained by train_encoder.py as a one-pass token classifier
TOKCLS_PREFIX = "tokcls"  # how --models names that kind: tokcls:smollm2


def kind_rank(kind: str) -> int:
    """Table order of the three arms: encoders, LLM token classifiers, generative LLM taggers."""
    return {ENCODER: 0, TOKCLS: 1}.get(kind, 2)


RUN_FILE = "grid_run.json"  # what the grid launched in a run dir, and how it ended
RUN_NAME_RE = re.compile(r"lr(?P<lr>.+)-bs(?P<bs>\d+)")


@dataclass
class RunRecord:
    """A run as found on disk: where it belongs in the grid, how far it got, and its scores."""

    dataset: str
    model: str
    kind: str
    learning_rate: float | None
    batch_size: int | None
    run_dir: Path
    status: str  # finished, failed, interrupted, pending, or incomplete (results.json without dev/test)
    results: dict | None = None
    chosen: bool = False

    def f1(self, split: str) -> float | None:
        """Strict F1 on ``dev`` or ``test`` (None when not scored)."""
        scores = (self.results or {}).get(split)
        return scores["strict"]["f1"] if isinstance(scores, dict) and "strict" in scores else None


@dataclass
class Collection:
    runs: list[RunRecord]
    best: dict[tuple[str, str], RunRecord]  # (dataset, model) -> chosen run, in table order
    latency: dict[str, list[dict]]  # dataset -> benchmark_latency.py summary rows, renamed to grid models


# ---------------------------------------------------------------------------------------------- run
# directories


def dataset_slug(dataset: str) -> str:
    """A dataset's directory name under ``--output_dir``."""
    if dataset not in REGISTERED_DATASETS and Path(dataset).is_dir():
        return Path(dataset).resolve().name
    return dataset.replace("/", "--")


def read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def is_complete(results: dict | None) -> bool:
    """Whether a ``results.json`` holds full dev and test scores (what the training scripts write last)."""
    return results is not None and all(
        isinstance(results.get(split), dict) and {"strict", "partial", "by_length"} <= set(results[split])
        for split in ("dev", "test")
    )


def run_status(run_dir: Path) -> str:
    """finished, incomplete (results.json without dev or test scores), failed, interrupted or pending."""
    results = read_json(run_dir / "results.json")
    if is_complete(results):
        return "finished"
    if results is not None:
        return "incomplete"
    record = read_json(run_dir / RUN_FILE) or {}
    if record.get("status") == "failed":
        return "failed"
    return "interrupted" if run_dir.is_dir() else "pending"


def write_json(path: Path, data) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


# ---------------------------------------------------------------------------------------------- collection


def _record(run_dir: Path, dataset: str, model: str, kind: str | None = None) -> RunRecord:
    results = read_json(run_dir / "results.json")
    grid = read_json(run_dir / RUN_FILE) or {}
    match = RUN_NAME_RE.fullmatch(run_dir.name)
    rate = grid.get("learning_rate", float(match["lr"]) if match else None)
    size = grid.get("batch_size", int(match["bs"]) if match else None)
    if kind is None:
        meta = (results or {}).get("meta", {})
        kind = grid.get("kind") or meta.get("model_kind")
        kind = kind or (DECODER if "output_format" in meta else ENCODER if results else "?")
    return RunRecord(dataset, model, kind, rate, size, run_dir, run_status(run_dir), results)


def collect(output_dir: Path, planned: Sequence = ()) -> Collection:
    """Every run of ``planned`` (``bioner.grid.runs.GridRun``) and every run directory found under
    ``output_dir`` (``<dataset>/<model>/<run>``), the best run per cell, and the latency rows of every
    ``latency.json``."""
    output_dir = Path(output_dir).resolve()
    records = [_record(r.run_dir, dataset_slug(r.dataset), r.model.slug, r.model.kind) for r in planned]
    known = {r.run_dir for r in records}
    found = sorted(
        p.parent
        for name in ("results.json", RUN_FILE)
        for p in output_dir.glob(f"*/*/*/{name}")
        if p.parent not in known
    )
    records += [_record(p, p.parts[-3], p.parts[-2]) for p in dict.fromkeys(found)]
    order = {key: index for index, key in enumerate(dict.fromkeys((r.dataset, r.model) for r in records))}
    records.sort(
        key=lambda r: (
            order[(r.dataset, r.model)] if planned else (r.dataset, kind_rank(r.kind), r.model),
            r.learning_rate or 0,
            r.batch_size or 0,
        )
    )
    best: dict[tuple[str, str], RunRecord] = {}
    for record in records:
        if record.status != "finished":
            continue
        current = best.get((record.dataset, record.model))
        if current is None or record.f1("dev") > current.f1("dev"):
            best[(record.dataset, record.model)] = record
    for record in best.values():
        record.chosen = True
    cells = list(dict.fromkeys((r.dataset, r.model) for r in records))
    best = {cell: best[cell] for cell in cells if cell in best}
    return Collection(records, best, latency_rows(output_dir))


def latency_rows(output_dir: Path) -> dict[str, list[dict]]:
    """Summary rows of every ``latency.json`` under ``output_dir``, by dataset, each named after its grid cell
    (``<model> · <decoding>``) instead of its run directory."""
    by_dataset: dict[str, list[dict]] = {}
    for path in sorted(output_dir.rglob("latency.json")):
        payload = read_json(path) or {}
        relative = path.relative_to(output_dir).parts
        dataset = relative[0] if len(relative) > 2 else Path(payload.get("meta", {}).get("dataset", "?")).name
        for row in payload.get("summary", []):
            name = _grid_label(row["model"], output_dir) + row["name"][len(Path(row["model"]).name) :]
            if row.get("draft"):  # "<mode> (<draft dir name> draft)"
                draft = f"({Path(row['draft']).name} draft)"
                name = name.replace(draft, f"({_grid_label(row['draft'], output_dir)} draft)")
            by_dataset.setdefault(dataset, []).append({**row, "dataset": dataset, "name": name})
    return by_dataset


def _grid_label(model: str, output_dir: Path) -> str:
    """A grid run's model name (``<output_dir>/<dataset>/<model>/<run>``), else the directory's own name."""
    path = Path(model)
    return path.parent.name if path.parent.parent.parent == output_dir else path.name


# ---------------------------------------------------------------------------------------------- tables


def _f1_cell(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.2f}"


def format_grid_table(collection: Collection) -> str:
    """Every run: its hyper-parameters, status, dev and test strict F1, and which run each cell chose."""
    rows = []
    for r in collection.runs:
        meta = (r.results or {}).get("meta", {})
        epochs, seconds = meta.get("epochs_run"), meta.get("train_seconds")
        rows.append(
            [
                r.dataset,
                r.model,
                r.kind,
                "–" if r.learning_rate is None else f"{r.learning_rate:g}",
                "–" if r.batch_size is None else str(r.batch_size),
                r.status,
                _f1_cell(r.f1("dev")),
                _f1_cell(r.f1("test")),
                "–" if epochs is None else f"{epochs:.3g}",
                "–" if seconds is None else f"{seconds:.0f}",
                "**best**" if r.chosen else "",
            ]
        )
    header = ["Dataset", "Model", "Kind", "lr", "batch", "Status", "dev strict F1", "test strict F1",
              "epochs", "train s", "chosen"]  # fmt: skip
    return markdown_table(header, rows)


def write_tables(output_dir: Path, collection: Collection) -> Path:
    """``tables.md`` (Tables III, V, IV and the grid), ``summary.json``, ``f1_by_length_<dataset>.png`` and
    ``time_vs_f1.png`` in ``output_dir``."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    entries = [(dataset, model, r.results["test"]) for (dataset, model), r in collection.best.items()]
    sections = [
        "# Reproduction of the seed study's tables",
        f"Runs under `{output_dir.resolve()}`. Each (dataset, model) row is the run with the best **dev**"
        " strict F1 of its grid (see the last table); the scores are that run's **test** scores.",
    ]
    missing = sorted({(r.dataset, r.model) for r in collection.runs} - set(collection.best))
    if missing:
        sections.append(
            "No finished run with dev scores yet for: " + ", ".join(f"{d} / {m}" for d, m in missing) + "."
        )
    if entries:
        sections.append(
            "## Table III: strict entity-level scores on test (%), overall and by entity length in tokens\n\n"
            + format_strict_table(entries)
        )
        sections.append(
            "## Table V: relaxed scores on test (%) (SemEval partial: any overlap, half credit for inexact"
            " boundaries)\n\n" + format_relaxed_table(entries)
        )
    if collection.latency:
        sections.append(
            "## Table IV: average inference time per test instance (seconds)\n\n"
            "From `benchmark_latency.py` on the best run of each cell (inference only, after warm-up;"
            " details in each `<dataset>/latency/latency.md`).\n\n" + format_latency_table(collection.latency)
        )
    else:
        sections.append(
            "## Table IV\n\nNo `latency.json` under the output directory yet (run with `--latency`)."
        )
    sections.append("## Every run of the grid\n\n" + format_grid_table(collection))
    plots = []
    for dataset in dict.fromkeys(d for d, _ in collection.best):
        name = f"f1_by_length_{dataset}.png"
        plot_f1_by_length(
            {model: r.results["test"] for (d, model), r in collection.best.items() if d == dataset},
            output_dir / name,
        )
        plots.append(f"![strict F1 by entity length on {dataset}]({name})")
    rows = [
        {**row, "name": f"{dataset}: {row['name']}" if len(collection.latency) > 1 else row["name"]}
        for dataset, dataset_rows in collection.latency.items()
        for row in dataset_rows
    ]
    if any(row.get("strict_f1") is not None for row in rows):
        plot_time_vs_f1(rows, output_dir / "time_vs_f1.png")
        plots.append("![time per instance against strict F1](time_vs_f1.png)")
    if plots:
        sections.append("## Plots\n\n" + "\n\n".join(plots))
    path = output_dir / "tables.md"
    path.write_text("\n\n".join(sections) + "\n", encoding="utf-8")
    write_json(output_dir / "summary.json", _summary(collection, output_dir))
    return path


def _summary(collection: Collection, output_dir: Path) -> dict:
    def where(record: RunRecord) -> str:
        try:
            return str(record.run_dir.relative_to(output_dir.resolve()))
        except ValueError:
            return str(record.run_dir)

    cells = []
    for (dataset, model), r in collection.best.items():
        test = r.results["test"]
        cells.append(
            {
                "dataset": dataset,
                "model": model,
                "kind": r.kind,
                "best_run": where(r),
                "learning_rate": r.learning_rate,
                "batch_size": r.batch_size,
                "dev_strict_f1": r.f1("dev"),
                "test": {key: test[key] for key in ("strict", "partial", "by_length")},
            }
        )
    runs = [
        {
            "dataset": r.dataset,
            "model": r.model,
            "kind": r.kind,
            "learning_rate": r.learning_rate,
            "batch_size": r.batch_size,
            "run_dir": where(r),
            "status": r.status,
            "dev_strict_f1": r.f1("dev"),
            "test_strict_f1": r.f1("test"),
            "chosen": r.chosen,
        }
        for r in collection.runs
    ]
    return {"cells": cells, "runs": runs, "latency": collection.latency}
