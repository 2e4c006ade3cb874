"""Benchmark table: taggers against the best single model on one test split -- strict and relaxed F1, the
paired-bootstrap interval of each one's strict-F1 difference from the reference, and (optionally) seconds per
sentence from one ``benchmark_latency.py`` run.

    python -m benchmarks.beyond_single --row mpnet=runs/bench/mpnet --row ensemble-2=runs/eval/ens2-test \\
        --row minilm-distilled=runs/distill/minilm-p8000 --reference mpnet \\
        --latency runs/latency/results.json --name beyond_single_bc5cdr

A row is ``NAME=PATH``: a run folder (``predictions_test.jsonl`` of ``train_encoder.py`` or
``predictions.jsonl`` of ``evaluate_ner.py``) or a predictions file. All rows must have scored the same
sentences. ``--latency``: a ``benchmark_latency.py`` results file; a row takes the batch-1 mean seconds of the
latency run whose model folder has the row's folder name (or ``--latency_model NAME=FOLDER``). Writes
``<name>.json`` and ``<name>.md`` into ``--output_dir`` (default ``benchmarks/results``); an existing result
is kept unless ``--overwrite``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from benchmarks.onnx_backends import lscpu
from bioner.evaluation.bootstrap import paired_bootstrap, predictions_path
from bioner.evaluation.records import read_predictions, score_records

ROOT = Path(__file__).resolve().parents[1]


def pairs(values: list[str], option: str) -> dict[str, str]:
    out = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name or not path:
            raise SystemExit(f"error: {option} {value!r}: expected NAME=PATH")
        if name in out:
            raise SystemExit(f"error: {option} {name!r} given twice")
        out[name] = path
    return out


def latency_by_folder(path: Path, batch_size: int = 1) -> dict[str, float]:
    """Mean seconds per sentence at ``batch_size`` of each latency run, keyed by its model folder's name
    (non-generative modes; a generative model's fastest mode)."""
    summary = json.loads(path.read_text())["summary"]
    seconds: dict[str, float] = {}
    for run in summary:
        if run.get("batch_size") != batch_size or run.get("mode") == "one-pass floor":
            continue
        key = Path(str(run["model"])).name
        seconds[key] = min(seconds.get(key, float("inf")), run["mean_s"])
    return seconds


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--row", action="append", default=[], help="NAME=PATH (run folder or predictions file)"
    )
    parser.add_argument("--reference", required=True, help="the row the others are compared with")
    parser.add_argument("--latency", type=Path, help="a benchmark_latency.py results file")
    parser.add_argument("--latency_model", action="append", default=[], help="NAME=FOLDER NAME in --latency")
    parser.add_argument("--resamples", type=int, default=2000)
    parser.add_argument("--name", default="beyond_single_bc5cdr")
    parser.add_argument("--output_dir", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)
    rows = pairs(args.row, "--row")
    if args.reference not in rows:
        raise SystemExit(f"error: --reference {args.reference!r} is not one of the rows ({', '.join(rows)})")
    out_json, out_md = (args.output_dir / f"{args.name}.{suffix}" for suffix in ("json", "md"))
    if out_json.exists() and not args.overwrite:
        raise SystemExit(f"error: {out_json} exists (another run's): pass --overwrite or another --name")
    try:
        seconds = latency_by_folder(args.latency) if args.latency else {}
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise SystemExit(
            f"error: --latency {args.latency}: not a benchmark_latency.py results file ({error!r})"
        ) from None
    latency_names = pairs(args.latency_model, "--latency_model")
    table = []
    for name, path in rows.items():
        try:
            records = read_predictions(predictions_path(path))
        except (OSError, ValueError) as error:
            raise SystemExit(f"error: row {name}: {error}") from None
        scores = score_records(records)
        key = latency_names.get(name, Path(path).name)
        row = {
            "name": name,
            "path": str(path),
            "sentences": len(records),
            "strict_f1": round(scores["strict"]["f1"], 4),
            "relaxed_f1": round(scores["partial"]["f1"], 4),
            "seconds_per_sentence_batch1": round(seconds[key], 4) if key in seconds else None,
        }
        if name != args.reference:
            try:
                row["vs_reference"] = paired_bootstrap(path, rows[args.reference], resamples=args.resamples)
            except ValueError as error:
                raise SystemExit(f"error: row {name}: {error}") from None
        table.append(row)
    result = {
        "command": "python -m benchmarks.beyond_single " + " ".join(sys.argv[1:] if argv is None else argv),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpu": lscpu(),
        "reference": args.reference,
        "latency_file": str(args.latency) if args.latency else None,
        "rows": table,
    }
    args.output_dir.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps(result, indent=2) + "\n")
    out_md.write_text(markdown(result))
    print(out_md.read_text())
    return result


def markdown(result: dict) -> str:
    reference = result["reference"]
    resamples = next((r["vs_reference"]["resamples"] for r in result["rows"] if "vs_reference" in r), 0)
    lines = [
        f"# Beyond the best single model: {result['rows'][0]['sentences']} test sentences",
        "",
        f"Command: `{result['command']}` ({result['date']}; CPU {result['cpu'].get('Model name', '?')}).",
        "",
        f"Δ: strict F1 minus {reference}'s, with the 95% paired-bootstrap interval "
        f"({resamples} resamples"
        " of the test sentences). Seconds: batch 1, mean per sentence, from one latency run"
        + (f" (`{result['latency_file']}`)." if result["latency_file"] else " (none given)."),
        "",
        "| tagger | strict F1 | relaxed F1 | Δ strict vs " + reference + " | 95% interval | s/sentence |",
        "|---|---|---|---|---|---|",
    ]
    for row in result["rows"]:
        versus = row.get("vs_reference")
        delta = f"{versus['delta_strict_f1'] * 100:+.2f}" if versus else "(reference)"
        interval = f"[{versus['ci95'][0] * 100:+.2f}, {versus['ci95'][1] * 100:+.2f}]" if versus else ""
        sec = row["seconds_per_sentence_batch1"]
        lines.append(
            f"| {row['name']} | {row['strict_f1']:.4f} | {row['relaxed_f1']:.4f} | {delta} | {interval} | "
            f"{'' if sec is None else f'{sec:.4f}'} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
