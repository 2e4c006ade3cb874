"""Benchmark: CPU backends of one trained token classifier -- PyTorch fp32/bf16, ONNX Runtime fp32 and int8.

Exports the model (``bioner.models.onnx``: fp32 with GELU/LayerNorm fusion), quantizes it with every int8
recipe (``naive``: ONNX Runtime's defaults, per-tensor, embeddings included; ``matmul``: per-channel MatMul
weights, embeddings and classifier kept fp32; ``edges``: also the first and last layers fp32), then tags the
test split with each backend through the same ``EncoderTagger`` (windows, merging, Viterbi shared) and scores
it. Backends are timed in interleaved rounds (every backend once per round) and each keeps its fastest round,
which evens out other load on a shared machine. ``torch-bf16`` runs only where the CPU has AVX512-BF16/AMX.

    BIONER_DATA_DIR=../shared/data python -m benchmarks.onnx_backends runs/bc5cdr-minilm --dataset bc5cdr

Writes ``onnx_backends_cpu.json`` and ``.md`` into ``--output_dir`` (default ``benchmarks/results``) and
prints the table. The int8 files go to ``MODEL/onnx/bench/``; the model's own ``onnx/`` build (with its
parity gate) is ``python -m bioner.evaluation.backends``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

from bioner.corpora.sources import load_split
from bioner.data.conll import label_names
from bioner.evaluation.backends import calibration, dev_data
from bioner.models.onnx import (
    CALIBRATION_SENTENCES,
    FILES,
    INT8_RECIPES,
    ONNX,
    OnnxTokenClassifier,
    cpu_info,
    export_onnx,
    onnx_dir,
    quantize_int8,
)
from bioner.models.precision import cpu_has_fast_bf16
from bioner.tagging.taggers import EncoderTagger, load_tagger
from metrics.bio_ner.scoring import compute_ner_scores


def lscpu() -> dict:
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return {}
    wanted = ("Model name", "CPU(s)", "Thread(s) per core", "Core(s) per socket", "L2 cache", "L3 cache")
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    return {key: fields[key].strip() for key in wanted if key in fields}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model_dir")
    parser.add_argument("--dataset", default="bc5cdr")
    parser.add_argument("--data_dir")
    parser.add_argument("--split", default="test")
    parser.add_argument("--max_instances", type=int)
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--recipes", default="naive,matmul,edges")
    parser.add_argument("--output_dir", default="benchmarks/results")
    parser.add_argument("--name", default="onnx_backends_cpu", help="result file name, without suffix")
    args = parser.parse_args(argv)

    load_at_start = [round(x, 2) for x in os.getloadavg()]
    model_dir = Path(args.model_dir)
    data = load_split(args.dataset, args.data_dir, args.split, args.max_instances)
    labels = label_names(data)
    sentences = [list(tokens) for tokens in data["tokens"]]
    gold = [[labels[i] for i in tags] for tags in data["ner_tags"]]

    torch_tagger = load_tagger(str(model_dir), device="cpu", batch_size=args.batch_size)
    fp32_path = onnx_dir(model_dir) / FILES[ONNX]
    started = time.perf_counter()
    export_onnx(model_dir)
    export_seconds = time.perf_counter() - started
    bench_dir = onnx_dir(model_dir) / "bench"
    bench_dir.mkdir(exist_ok=True)

    def onnx_tagger(path: Path, backend: str) -> EncoderTagger:
        return EncoderTagger(
            model=OnnxTokenClassifier(path, torch_tagger.model.config),
            tokenizer=torch_tagger.tokenizer,
            batch_size=args.batch_size,
            backend=backend,
        )

    taggers = {"torch fp32": torch_tagger}
    if cpu_has_fast_bf16():
        taggers["torch bf16 autocast"] = load_tagger(
            str(model_dir), device="cpu", batch_size=args.batch_size, backend="torch-bf16"
        )
    taggers["onnx fp32"] = onnx_tagger(fp32_path, "onnx")
    excluded = {}
    calibrate = None
    if any(INT8_RECIPES[recipe].smooth for recipe in args.recipes.split(",")):  # calibrated on dev only
        dev_sentences = dev_data(model_dir, args.dataset, args.data_dir, CALIBRATION_SENTENCES)[1]
        calibrate = calibration(model_dir, dev_sentences)
    for recipe in args.recipes.split(","):
        path, kept = quantize_int8(fp32_path, bench_dir / f"model_int8_{recipe}.onnx", recipe, calibrate)
        excluded[recipe] = len(kept)
        taggers[f"onnx int8 {recipe}"] = onnx_tagger(path, "onnx-int8")

    for tagger in taggers.values():  # warm-up: thread pools, allocators
        tagger(sentences[:128], progress=False)
    seconds: dict[str, list[float]] = {name: [] for name in taggers}
    predictions = {}
    for round_index in range(args.rounds):
        for name, tagger in taggers.items():
            predictions[name] = tagger(sentences, progress=False)
            seconds[name].append(tagger.last_seconds)
            print(f"round {round_index + 1}: {name}: {tagger.last_seconds:.1f}s", flush=True)

    rows = []
    base_seconds = min(seconds["torch fp32"])
    base_f1 = None
    for name in taggers:
        scores = compute_ner_scores(predictions[name], gold)
        f1 = float(scores["strict"]["f1"])
        base_f1 = f1 if base_f1 is None else base_f1
        best = min(seconds[name])
        rows.append(
            {
                "backend": name,
                "seconds": round(best, 2),
                "all_seconds": [round(s, 2) for s in seconds[name]],
                "sentences_per_second": round(len(sentences) / best, 1),
                "speedup_vs_torch_fp32": round(base_seconds / best, 2),
                "strict_f1": round(f1, 4),
                "delta_f1_points": round(100 * (f1 - base_f1), 2),
                "relaxed_f1": round(float(scores["partial"]["f1"]), 4),
                "tags_equal_to_torch_fp32": sum(
                    p == q for p, q in zip(predictions[name], predictions["torch fp32"], strict=True)
                )
                / len(sentences),
                "fp32_nodes": excluded.get(name.removeprefix("onnx int8 ")),
                "file_mb": _size(name, fp32_path, bench_dir),
            }
        )
    info = cpu_info()
    result = {
        "command": " ".join(
            [".venv/bin/python -m benchmarks.onnx_backends", *(sys.argv[1:] if argv is None else argv)]
        ),
        "model": str(model_dir),
        "dataset": args.dataset,
        "split": args.split,
        "sentences": len(sentences),
        "batch_size": args.batch_size,
        "rounds": args.rounds,
        "export_seconds": round(export_seconds, 1),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "onnxruntime": __import__("onnxruntime").__version__,
        "python": platform.python_version(),
        "lscpu": lscpu(),
        "load_average_at_start": load_at_start,
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        **info,
        "rows": rows,
    }
    table = _table(result)
    output = Path(args.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    (output / f"{args.name}.json").write_text(json.dumps(result, indent=2) + "\n")
    (output / f"{args.name}.md").write_text(table)
    print(table)
    return result


def _size(name: str, fp32_path: Path, bench_dir: Path) -> float | None:
    if name == "onnx fp32":
        path = fp32_path
    elif name.startswith("onnx int8 "):
        path = bench_dir / f"model_int8_{name.removeprefix('onnx int8 ')}.onnx"
    else:
        return None
    return round(path.stat().st_size / 2**20, 1)


def _table(result: dict) -> str:
    flags = ", ".join(f"{flag} {'yes' if on else 'no'}" for flag, on in result["flags"].items())
    lines = [
        f"# CPU backends: {Path(result['model']).name} on {result['dataset']} {result['split']}",
        "",
        f"{result['sentences']} sentences, batch {result['batch_size']}, fastest of {result['rounds']}"
        f" interleaved rounds; CPU {result['cpu']} ({result['lscpu'].get('CPU(s)', '?')} CPUs, shared with"
        f" other jobs), torch {result['torch']} ({result['torch_threads']} threads), onnxruntime"
        f" {result['onnxruntime']}. Load average at start {result.get('load_average_at_start')}, at end"
        f" {result.get('load_average_at_end')}.",
        "",
        f"Command: `{result.get('command', '')}`",
        "",
        f"CPU flags: {flags}; PyTorch CPU capability {result['torch_cpu_capability']}.",
        "",
        "| backend | sentences/s | × torch fp32 | strict F1 | Δ F1 (points) | relaxed F1 | same tags | MB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in result["rows"]:
        lines.append(
            f"| {row['backend']} | {row['sentences_per_second']} | {row['speedup_vs_torch_fp32']:.2f} |"
            f" {row['strict_f1']:.4f} | {row['delta_f1_points']:+.2f} | {row['relaxed_f1']:.4f} |"
            f" {100 * row['tags_equal_to_torch_fp32']:.1f}% | {row['file_mb'] or ''} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
