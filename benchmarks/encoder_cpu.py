#!/usr/bin/env python
"""Benchmark: fine-tune the offline MiniLM encoder on real corpora on this CPU and print the figures.

    BIONER_DATA_DIR=../shared/data python benchmarks/encoder_cpu.py bc5cdr:4 jnlpba:1 biored:2 chemprot:1

Each ``NAME:EPOCHS`` runs ``train_encoder.py`` in its own process (lr 5e-5, batch 16, 10% warm-up, dev
evaluation each epoch) and the script collects dev/test strict F1 (Viterbi and argmax decoding), training time
per epoch and test inference speed into ``benchmarks/results/encoder_cpu.md``.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECIPE = [
    "--model_name_or_path",
    "minilm",
    "--learning_rate",
    "5e-5",
    "--per_device_train_batch_size",
    "16",
    "--warmup_steps",
    "0.1",
    "--use_cpu",
    "--save_total_limit",
    "1",
    "--logging_steps",
    "100",
]


def run(name: str, epochs: str, output_root: Path) -> dict:
    output = output_root / f"minilm-{name}"
    command = [
        sys.executable,
        str(ROOT / "train_encoder.py"),
        "--dataset",
        name,
        "--num_train_epochs",
        epochs,
        "--output_dir",
        str(output),
        *RECIPE,
    ]
    print("$", " ".join(command[1:]), flush=True)
    start = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT)
    results = json.loads((output / "results.json").read_text())
    results["meta"]["wall_seconds"] = round(time.perf_counter() - start, 1)
    return results


def row(name: str, results: dict) -> str:
    meta, by_decoding = results["meta"], results["meta"]["test_strict_f1_by_decoding"]
    epochs = meta["epoch_train_seconds"]
    cells = [
        name,
        f"{meta['epochs_run']:g}",
        f"{results['dev']['strict']['f1']:.4f}",
        f"{results['test']['strict']['f1']:.4f}",
        f"{by_decoding['argmax']:.4f}",
        f"{results['test']['partial']['f1']:.4f}",
        f"{sum(epochs) / len(epochs):.0f}",
        f"{meta['test_sentences_per_second']:.0f}",
        f"{meta['wall_seconds'] / 60:.1f}",
    ]
    return "| " + " | ".join(cells) + " |"


def main(specs: list[str]) -> None:
    output_root = Path(os.environ.get("BIONER_BENCH_DIR", ROOT / "runs" / "bench"))
    lines = [
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, torch CPU, fp32."
        f" Recipe: `{' '.join(RECIPE)}`.",
        "",
        "| dataset | epochs | dev strict F1 | test strict F1 (Viterbi) | test strict F1 (argmax)"
        " | test relaxed F1 | train s/epoch | test sentences/s | wall min |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for spec in specs:
        name, _, epochs = spec.partition(":")
        lines.append(row(name, run(name, epochs or "1", output_root)))
        print("\n".join(lines), flush=True)
    out = ROOT / "benchmarks" / "results" / "encoder_cpu.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1:] or ["bc5cdr:4"])
