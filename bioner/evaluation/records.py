"""Evaluation artefacts shared by every script: scores, predictions files, report and plot."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from bioner.data.jsonl import read_jsonl_objects
from bioner.evaluation.report import format_report, plot_f1_by_length
from metrics.bio_ner.scoring import compute_ner_scores, extract_entities


class PredictionsFileError(ValueError):
    """A predictions JSONL file is malformed; the message names the file and line."""


def predictions_records(
    ids: Sequence[str],
    tokens: Sequence[Sequence[str]],
    gold: Sequence[Sequence[str]],
    pred: Sequence[Sequence[str]],
) -> list[dict]:
    """One ``{id, tokens, gold, pred}`` record per instance."""
    return [
        {"id": i, "tokens": list(t), "gold": list(g), "pred": list(p)}
        for i, t, g, p in zip(ids, tokens, gold, pred, strict=True)
    ]


def write_jsonl(records: Sequence[dict], path: Path) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def read_predictions(path: str | Path) -> list[dict]:
    """Read a predictions JSONL (``tokens`` optional, ``gold`` and ``pred`` required, equal lengths, valid BIO
    tags; an ``id``, when given, must not repeat). Every problem is a `PredictionsFileError` naming
    file:line."""
    path = Path(path)
    if not path.is_file():
        raise PredictionsFileError(f"{path}: predictions file not found")
    records = []
    seen: dict[str, str] = {}  # id -> where it first appeared
    for where, record in read_jsonl_objects(path, PredictionsFileError):
        if "id" in record:
            key = str(record["id"])
            if key in seen:
                raise PredictionsFileError(f"{where}: id {key!r} repeats the record at {seen[key]}")
            seen[key] = where
        if not isinstance(record.get("gold"), list) or not isinstance(record.get("pred"), list):
            raise PredictionsFileError(f"{where}: expected an object with list fields 'gold' and 'pred'")
        if len(record["gold"]) != len(record["pred"]):
            raise PredictionsFileError(
                f"{where}: 'gold' has {len(record['gold'])} tags but 'pred' has {len(record['pred'])}"
            )
        if "tokens" in record and len(record["tokens"]) != len(record["gold"]):
            raise PredictionsFileError(f"{where}: 'tokens' and 'gold' differ in length")
        for name in ("gold", "pred"):
            try:
                extract_entities(record[name])
            except ValueError as problem:
                raise PredictionsFileError(f"{where}: '{name}': {problem}") from None
        record.setdefault("id", str(len(records)))
        records.append(record)
    if not records:
        raise PredictionsFileError(f"{path}: no predictions in file")
    return records


def score_records(records: Sequence[dict]) -> dict:
    """The project metric over prediction records."""
    return compute_ner_scores([r["pred"] for r in records], [r["gold"] for r in records])


def headline(scores: dict) -> str:
    """A one-line summary for logs."""
    strict, partial = scores["strict"], scores["partial"]
    return (
        f"strict P/R/F1 {strict['precision']:.4f}/{strict['recall']:.4f}/{strict['f1']:.4f}  "
        f"relaxed F1 {partial['f1']:.4f}  "
        + "  ".join(
            f"len {name}: F1 {b['f1']:.4f} (n={b['gold']})" for name, b in scores["by_length"].items()
        )
    )


def _plain(value) -> str:
    """A metadata value as short Markdown text (dicts as ``key value`` pairs, lists comma-separated)."""
    if isinstance(value, dict):
        return ", ".join(f"{key} {_plain(item)}" for key, item in value.items())
    if isinstance(value, list):
        return ", ".join(_plain(item) for item in value)
    return f"{value:.4f}" if isinstance(value, float) and abs(value) < 1 else str(value)


def portable_path(value: str, output_dir: str | Path) -> str:
    """``value`` without its local prefix when it is an absolute path: relative to ``output_dir`` when it lies
    inside it (a checkpoint: ``checkpoint-38``), else its last component (a local model folder's name).
    Other strings (Hub ids, relative paths, free text) are returned unchanged."""
    if not os.path.isabs(value):
        return value
    path, base = Path(value).resolve(), Path(output_dir).resolve()
    if path == base:
        return "."
    return path.relative_to(base).as_posix() if path.is_relative_to(base) else path.name


def portable_text(text: str, output_dir: str | Path) -> str:
    """``text`` with every space-separated word that is an absolute path made portable (a report's title)."""
    return " ".join(portable_path(word, output_dir) if len(word) > 1 else word for word in text.split(" "))


def portable_meta(meta, output_dir: str | Path):
    """``meta`` with every absolute path string made portable by `portable_path` (dicts and lists walked)."""
    if isinstance(meta, dict):
        return {key: portable_meta(value, output_dir) for key, value in meta.items()}
    if isinstance(meta, list):
        return [portable_meta(value, output_dir) for value in meta]
    return portable_path(meta, output_dir) if isinstance(meta, str) else meta


class OutputFolderError(ValueError):
    """An output folder that holds another run's results; the message says how to proceed."""


def eval_output_dir(*names: str | Path | None) -> Path:
    """The default folder of an evaluation, ``runs/eval-<name>-<name>...``, from the last path components of
    what was scored (a model folder or Hub id, a dataset, a file): never a training run's folder."""
    parts = [Path(str(name).rstrip("/")).name for name in names if name]
    return Path("runs") / "-".join(["eval", *filter(None, parts)])


def claim_output_dir(output_dir: str | Path, identity: dict, overwrite: bool = False) -> Path:
    """Check that writing ``results.json`` into ``output_dir`` overwrites no other run's results.

    A folder without ``results.json`` is free; one whose ``results.json`` was written by the same evaluation
    (``meta.evaluation`` equal to ``identity``: same inputs) is its own earlier output and is replaced; any
    other (a training run, another evaluation) is refused unless ``overwrite``."""
    output_dir = Path(output_dir)
    results = output_dir / "results.json"
    if overwrite or not results.is_file():
        return output_dir
    try:
        previous = json.loads(results.read_text(encoding="utf-8")).get("meta", {}).get("evaluation")
    except (OSError, ValueError, AttributeError):
        previous = None
    if previous == portable_meta(identity, output_dir):
        return output_dir
    raise OutputFolderError(
        f"{results} holds the results of another run (a training run or another evaluation); pass"
        " --output_dir to write elsewhere, or --overwrite to replace them"
    )


def write_outputs(
    output_dir: str | Path,
    scores_by_split: dict[str, dict],
    records_by_split: dict[str, list[dict]],
    title: str,
    meta: dict | None = None,
) -> Path:
    """Write ``results.json``, ``predictions_<split>.jsonl``, ``report.md`` and ``f1_by_length.png``.

    Absolute local paths in ``meta`` (``best_checkpoint``, a local model folder) and ``title`` are written by
    `portable_meta` and `portable_text`, so the files can be published (a model folder is pushed with them)
    without them."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    meta = portable_meta(meta or {}, output_dir)
    title = portable_text(title, output_dir)
    results = {**scores_by_split, "meta": meta or {}}
    (output_dir / "results.json").write_text(
        json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    for split, records in records_by_split.items():
        write_jsonl(records, output_dir / f"predictions_{split}.jsonl")
    notes = "\n".join(f"- {key}: {_plain(value)}" for key, value in (meta or {}).items())
    (output_dir / "report.md").write_text(
        format_report(scores_by_split, title, notes=notes), encoding="utf-8"
    )
    plot_f1_by_length(scores_by_split, output_dir / "f1_by_length.png")
    return output_dir
