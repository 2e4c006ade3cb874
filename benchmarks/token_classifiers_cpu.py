#!/usr/bin/env python
"""Benchmark: the three arms on real BC5CDR on this CPU -- encoders, decoder LLMs as one-pass token
classifiers, and the generative LLM tagger -- trained one after another, then collected into one table.

    BIONER_DATA_DIR=../shared/data python benchmarks/token_classifiers_cpu.py --runs minilm mpnet
    smollm2-bidir python benchmarks/token_classifiers_cpu.py --collect_only        # the table from finished
    runs

Each run is ``train_encoder.py`` (or ``train_decoder.py`` for ``smollm2-generative``) in its own process under
``/usr/bin/time -v`` (peak memory); a run whose ``results.json`` exists is skipped. The recipes are below:
they are sized for a 2-core CPU (1-3 epochs, no dev evaluation between epochs, the last
model kept; fp32: bf16 autocast made the LLM token classifier's training step many times slower on this
CPU), not tuned grids. Test strict F1 is
reported on the full test split and on its first 200 sentences (the generative benchmark's subset).
Writes ``benchmarks/results/token_classifiers_cpu.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
COMMON = ["--dataset", "bc5cdr", "--use_cpu", "--warmup_steps", "0.1", "--per_device_train_batch_size", "16",
          "--logging_steps", "50", "--eval_strategy", "no", "--save_strategy", "no",
          "--load_best_model_at_end", "false"]  # fmt: skip
GROUPED = ["--train_sampling_strategy", "group_by_length"]
RUNS = {
    "minilm": ["--model_name_or_path", "minilm", "--learning_rate", "5e-5", "--num_train_epochs", "3",
               "--eval_strategy", "epoch", "--save_strategy", "epoch", "--save_total_limit", "1",
               "--load_best_model_at_end", "true"],
    # Issue 12: the same MiniLM recipe on BC5CDR converted from the PubTator release (bioner.corpora), with
    # the dev evaluation and best-epoch selection the "minilm" run had.
    "minilm-pubtator": ["--model_name_or_path", "minilm", "--learning_rate", "5e-5", "--num_train_epochs",
                        "3",
                        "--dataset", str(ROOT.parent / "shared" / "corpora" / "bc5cdr"), "--eval_strategy",
                        "epoch",
                        "--save_strategy", "epoch", "--save_total_limit", "1", "--load_best_model_at_end",
                        "true"],
    # Runs added after the first two: length-grouped batches (2.4x fewer padded tokens per epoch on BC5CDR
    # train than random batches of 16), so each fits this CPU's time.
    "mpnet": ["--model_name_or_path", "mpnet", "--learning_rate", "5e-5", "--num_train_epochs",
              "2", *GROUPED],
    "smollm2-bidir": ["--model_name_or_path", "smollm2", "--attention", "bidirectional", "--learning_rate",
                      "1e-4",
                      "--num_train_epochs", "1"],
    "smollm2-causal": ["--model_name_or_path", "smollm2", "--attention", "causal", "--learning_rate", "1e-4",
                       "--num_train_epochs", "1", *GROUPED],
    # Dev and test scored on their first 200 sentences only (the generative run's subset): a full evaluation
    # of the 268M model would not fit the session's CPU time; evaluate_ner.py scores the full test afterwards.
    "gemma3-bidir": ["--model_name_or_path", "gemma3", "--attention", "bidirectional", "--learning_rate",
                     "1e-4",
                     "--num_train_epochs", "1", *GROUPED, "--max_eval_samples", "200"],
}  # fmt: skip
GENERATIVE = {
    "smollm2-generative": [
        "--dataset", "bc5cdr", "--model_name_or_path", "smollm2", "--use_peft", "false", "--answer_format",
        "tags",
        "--use_chat_template", "false", "--learning_rate", "2e-4", "--lr_scheduler_type", "cosine",
        "--warmup_steps", "0.05", "--weight_decay", "0", "--per_device_train_batch_size", "4",
        "--effective_batch_size", "8", "--max_steps", "300", "--train_sampling_strategy", "group_by_length",
        "--eval_strategy", "no", "--save_strategy", "no", "--load_best_model_at_end", "false",
        "--gradient_checkpointing", "false", "--bf16", "false", "--logging_steps", "20", "--evaluate",
        "false",
    ],
}  # fmt: skip


def run(name: str, output_root: Path) -> None:
    output = output_root / name
    if (output / "results.json").is_file() or (output / "train_meta.json").is_file():
        print(f"skip {name} (finished)", flush=True)
        return
    script = "train_decoder.py" if name in GENERATIVE else "train_encoder.py"
    args = GENERATIVE[name] if name in GENERATIVE else COMMON + RUNS[name]
    command = ["/usr/bin/time", "-v", sys.executable, str(ROOT / script), *args, "--output_dir", str(output)]
    print("$", " ".join(command[3:]), flush=True)
    output.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with open(output / "train.log", "w") as log:
        subprocess.run(command, check=True, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    (output / "wall_seconds.txt").write_text(f"{time.perf_counter() - start:.1f}\n")


def peak_memory_gb(log: Path) -> float | None:
    match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", log.read_text(errors="replace"))
    return round(int(match.group(1)) / 1024**2, 2) if match else None


def first_200_f1(output: Path) -> float | None:
    """Strict F1 on the first 200 test sentences, from the saved test predictions."""
    from bioner.evaluation.records import read_predictions, score_records

    path = output / "predictions_test.jsonl"
    if not path.is_file():
        return None
    return round(score_records(read_predictions(path)[:200])["strict"]["f1"], 4)


def generative_first_200(output: Path) -> float | None:
    """The generative run's strict F1 on the first 200 test sentences, from ``three_arms_latency.sh``'s
    ``evaluate_ner.py`` run (speculative decoding gives constrained decoding's tags)."""
    path = output / "eval_first200" / "results.json"
    if not path.is_file():
        return None
    scores = next(value for key, value in json.loads(path.read_text()).items() if key != "meta")
    return round(scores["strict"]["f1"], 4)


def collect(output_root: Path) -> list[dict]:
    rows = []
    for name in [*RUNS, *GENERATIVE]:
        output = output_root / name
        if (output / "results.json").is_file():
            results = json.loads((output / "results.json").read_text())
        elif (output / "train_meta.json").is_file():  # a generative run trained without its own evaluation
            results = {"meta": json.loads((output / "train_meta.json").read_text())}
        else:
            continue
        meta = results.get("meta", {})
        test = results.get("test", {})
        if "--max_eval_samples" in RUNS.get(name, []):  # scored on a subset while training: not the full test
            results.pop("dev", None)
            full = output / "eval_full_test" / "results.json"
            test = json.loads(full.read_text())["test"] if full.is_file() else {}
        rows.append(
            {
                "run": name,
                "recipe": " ".join(GENERATIVE.get(name) or COMMON + RUNS[name]),
                "test_strict_f1": round(test["strict"]["f1"], 4) if "strict" in test else None,
                "test_first200_strict_f1": first_200
                if (first_200 := first_200_f1(output)) is not None
                else generative_first_200(output),
                "dev_strict_f1": round(results["dev"]["strict"]["f1"], 4) if "dev" in results else None,
                "epochs_run": meta.get("epochs_run"),
                "train_seconds": meta.get("train_seconds"),
                "peak_memory_gb": peak_memory_gb(output / "train.log")
                if (output / "train.log").is_file()
                else None,
                "parameters": meta.get("parameters"),
                "unmasked_layers": len(meta.get("unmasked_layers", []))
                if "unmasked_layers" in meta
                else None,
            }
        )
    return rows


def table(rows: list[dict]) -> str:
    lines = [
        "| run | test strict F1 | first 200 strict F1 | dev strict F1 | epochs | train s | peak GB |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['run']} | {r['test_strict_f1']} | {r['test_first200_strict_f1']} | {r['dev_strict_f1']} |"
            f" {r['epochs_run']} | {r['train_seconds']} | {r['peak_memory_gb']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="*", default=[*RUNS, *GENERATIVE], choices=[*RUNS, *GENERATIVE])
    parser.add_argument("--output_root", default="runs/bench")
    parser.add_argument("--collect_only", action="store_true")
    parser.add_argument(
        "--compare", nargs=2, action="append", default=[], metavar=("RUN_A", "RUN_B"),
        help="Paired bootstrap of the full-test strict F1 difference between two finished runs (repeatable).",
    )  # fmt: skip
    args = parser.parse_args(argv)
    os.environ.setdefault("BIONER_DATA_DIR", str(ROOT.parent / "shared" / "data"))
    output_root = Path(args.output_root)
    if not args.collect_only:
        for name in args.runs:
            try:
                run(name, output_root)
            except subprocess.CalledProcessError as error:
                print(
                    f"FAILED {name}: exit {error.returncode}; see {output_root / name / 'train.log'}",
                    flush=True,
                )
    rows = collect(output_root)
    from bioner.evaluation.bootstrap import paired_bootstrap

    try:
        comparisons = [paired_bootstrap(output_root / a, output_root / b) for a, b in args.compare]
    except (ValueError, FileNotFoundError) as error:
        raise SystemExit(f"error: {error}") from None
    machine = f"{platform.machine()}, {os.cpu_count()} CPU cores"
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "token_classifiers_cpu.json").write_text(
        json.dumps({"machine": machine, "rows": rows, "comparisons": comparisons}, indent=2) + "\n"
    )
    text = (
        f"# Three arms on BC5CDR, this CPU\n\nMachine: {machine}. Command: `{' '.join(sys.argv)}`\n\n"
        f"{table(rows)}\n"
    )
    for c in comparisons:
        text += (
            f"\n{c['runs'][0]} minus {c['runs'][1]}: full-test strict F1 {c['delta_strict_f1']:+.4f},"
            f" 95% interval {c['ci95'][0]:+.4f} to {c['ci95'][1]:+.4f} (paired bootstrap over"
            f" {c['sentences']} test sentences, {c['resamples']} resamples)\n"
        )
    (RESULTS / "token_classifiers_cpu.md").write_text(text)
    print(text)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
