"""Benchmark: a student's F1 against the size of the distillation pool (0 = gold only).

    BIONER_DATA_DIR=../shared/data python -m benchmarks.distill_pool --name minilm_from_ensemble \\
        --teacher runs/ensemble-3 --pool ../shared/pubmed/pubmed20n0014.xml.gz --pool_sizes 0,2000,8000 \\
        --runs_dir runs/distill-pool-minilm --recipe "--dataset bc5cdr --model_name_or_path minilm \\
        --leakage_corpora ../shared/corpora/bc5cdr --distill_alpha 1 --distill_temperature 2"

``--recipe`` is the student recipe: the ``train_encoder.py`` arguments shared by every run. Each pool
size trains one student into ``<runs_dir>/pool-<size>`` (size 0: no teacher, the gold-only baseline); a
folder that already holds ``results.json`` is read, not retrained, so an interrupted sweep resumes. The
largest pool runs first, so the teacher labels it once and the smaller pools are cut from its cache (pools
from one source are nested). Writes ``distill_<name>.json`` and ``.md`` (test and dev strict F1, training
time, pool sentences actually used, leakage-filter counts) into ``--output_dir`` (default
``benchmarks/results``); an existing result of that name is kept unless ``--overwrite``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import train_encoder
from bioner.evaluation.latency import machine


def parse(argv: list[str] | None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--name", required=True, help="Result name: distill_<name>.{json,md}.")
    parser.add_argument("--teacher", required=True, help="Teacher tagger (folder, Hub id, manifest).")
    parser.add_argument("--pool", required=True, help="Unlabelled text (PubMed XML, PubTator, BioC...).")
    parser.add_argument("--pool_sizes", default="0,2000,8000", help="Comma-separated pool sizes.")
    parser.add_argument("--runs_dir", required=True, help="Where the students' run folders go.")
    parser.add_argument("--teacher_cache_dir", default="runs/teacher-cache")
    parser.add_argument("--output_dir", default="benchmarks/results")
    parser.add_argument("--overwrite", action="store_true")
    parser.add_argument(
        "--recipe", default="", help="The student's train_encoder.py arguments, one quoted string."
    )
    args = parser.parse_args(argv)
    return args, shlex.split(args.recipe)


def train_student(args, recipe: list[str], size: int) -> dict:
    """One student (or its finished run's results); the row of the table."""
    output = Path(args.runs_dir) / f"pool-{size}"
    results = output / "results.json"
    if not results.is_file():
        distill = ["--teacher", args.teacher, "--pool", args.pool, "--pool_size", str(size)] if size else []
        cache = ["--teacher_cache_dir", args.teacher_cache_dir] if size else []
        train_encoder.main([*recipe, *distill, *cache, "--output_dir", str(output)])
    saved = json.loads(results.read_text(encoding="utf-8"))
    meta, scores = saved.get("meta", {}), saved  # results.json: {"dev": ..., "test": ..., "meta": ...}
    distill = meta.get("distillation", {})
    return {
        "pool_size": size,
        "pool_sentences": distill.get("pool_size", 0),
        "test_strict_f1": round(float(scores["test"]["strict"]["f1"]), 4),
        "dev_strict_f1": round(float(scores["dev"]["strict"]["f1"]), 4),
        "train_seconds": meta.get("train_seconds"),
        "teacher_cache_reused": distill.get("teacher_cache_reused"),
        "leakage_dropped_pmid": distill.get("leakage_dropped_pmid", 0),
        "leakage_dropped_text": distill.get("leakage_dropped_text", 0),
        "run": str(output),
    }


def markdown(result: dict) -> str:
    lines = [
        f"# Distillation: F1 against pool size ({result['name']})",
        "",
        f"Teacher `{result['teacher']}`, pool `{result['pool']}`;"
        f" student recipe: `{' '.join(result['recipe'])}`.",
        f"Machine: {', '.join(f'{k} {v}' for k, v in result['machine'].items())}.",
        "",
        "| pool sentences | test strict F1 | dev strict F1 | train s | dropped (PMID / text) |",
        "|---|---|---|---|---|",
    ]
    for row in result["rows"]:
        lines.append(
            f"| {row['pool_sentences']} | {row['test_strict_f1']:.4f} | {row['dev_strict_f1']:.4f} |"
            f" {row['train_seconds']} | {row['leakage_dropped_pmid']} / {row['leakage_dropped_text']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    args, recipe = parse(argv)
    output = Path(args.output_dir) / f"distill_{args.name}.json"
    if output.exists() and not args.overwrite:
        raise SystemExit(f"{output} exists: pass --overwrite or another --name")
    try:
        sizes = sorted({int(size) for size in args.pool_sizes.split(",") if size.strip()}, reverse=True)
    except ValueError:
        raise SystemExit(f"--pool_sizes: comma-separated integers, got {args.pool_sizes!r}") from None
    rows = sorted((train_student(args, recipe, size) for size in sizes), key=lambda row: row["pool_size"])
    result = {
        "name": args.name,
        "teacher": args.teacher,
        "pool": args.pool,
        "recipe": recipe,
        "machine": machine(),
        "rows": rows,
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    output.with_suffix(".md").write_text(markdown(result), encoding="utf-8")
    print(markdown(result))
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
