"""Benchmark: SmolLM2-135M-Instruct fine-tuned on real BC5CDR by train_decoder.py, decoded free vs
constrained.

Trains with the recipe below (the calibrated one from the shared notes -- full fine-tuning, ``tags`` format, a
plain prompt, lr 2e-4 cosine, length-grouped batches -- resized for a CPU without bf16 units: fp32, batch 8,
300 steps = 2,400 sentences, about half an epoch), then times decoding at batch size 1 on the first BC5CDR
test sentences: ``constrained`` on ``--constrained_instances`` (200) and ``free`` on
the first ``--free_instances`` (50), in the same process, one after the other (nothing else should run).

    BIONER_DATA_DIR=../shared/data python -m benchmarks.decoder_cpu --output_dir runs/bench-smollm2-bc5cdr

Writes ``decoder_cpu.json`` and ``decoder_cpu.md`` into ``--output_dir`` and prints the table.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

RECIPE = [
    "--dataset", "bc5cdr",
    "--model_name_or_path", "smollm2",
    "--use_peft", "false",
    "--answer_format", "tags",
    "--use_chat_template", "false",
    "--learning_rate", "2e-4",
    "--lr_scheduler_type", "cosine",
    "--warmup_steps", "0.05",
    "--weight_decay", "0",
    "--per_device_train_batch_size", "4",
    "--effective_batch_size", "8",
    "--train_sampling_strategy", "group_by_length",
    "--eval_strategy", "no",
    "--save_strategy", "no",
    "--load_best_model_at_end", "false",
    "--gradient_checkpointing", "false",
    "--bf16", "false",
    "--max_eval_samples", "200",
    "--logging_steps", "20",
    "--evaluate", "false",
]  # fmt: skip


def decode(model_dir: str, mode: str, sentences, gold, autocast) -> dict:
    from bioner.tagging.taggers import load_tagger
    from metrics.bio_ner.scoring import compute_ner_scores

    tagger = load_tagger(model_dir, decoding=mode, batch_size=1, autocast_dtype=autocast)
    tagger(sentences[:2], progress=False)  # warm-up, not timed
    predictions = tagger(sentences)
    scores = compute_ner_scores(predictions, gold)
    return {
        "mode": mode,
        "instances": len(sentences),
        "strict_f1": round(scores["strict"]["f1"], 4),
        "strict_precision": round(scores["strict"]["precision"], 4),
        "strict_recall": round(scores["strict"]["recall"], 4),
        "seconds_per_instance": round(tagger.last_seconds / len(sentences), 4),
        "forward_passes_per_instance": tagger.last_stats["forward_passes_per_instance"],
        "generated_tokens_per_instance": tagger.last_stats["generated_tokens_per_instance"],
        "alignment": tagger.last_stats["alignment"],
        "predictions": predictions,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output_dir", default="runs/bench-smollm2-bc5cdr")
    parser.add_argument("--skip_training", action="store_true", help="Reuse a model already in --output_dir.")
    parser.add_argument("--train_only", action="store_true", help="Stop after training (decode later).")
    parser.add_argument("--max_steps", type=int, default=300, help="Optimizer steps of 8 sentences.")
    parser.add_argument("--constrained_instances", type=int, default=200)
    parser.add_argument("--free_instances", type=int, default=50)
    parser.add_argument(
        "--bf16", action="store_true", help="Decode under bf16 autocast (CPUs with AMX/BF16)."
    )
    args = parser.parse_args(argv)
    output = Path(args.output_dir)
    train_meta = {}
    if not args.skip_training:
        import train_decoder

        start = time.perf_counter()
        recipe = [*RECIPE, "--max_steps", str(args.max_steps)]
        result = train_decoder.main([*recipe, "--output_dir", str(output)])
        train_meta = {
            k: result["meta"][k] for k in ("train_seconds", "peak_memory_gb", "epochs_run", "max_length")
        }
        train_meta["wall_seconds"] = round(time.perf_counter() - start, 1)
        train_meta["max_steps"] = args.max_steps
        (output / "train_meta.json").write_text(json.dumps(train_meta, indent=2) + "\n")
        if args.train_only:
            return train_meta
    elif (output / "train_meta.json").is_file():
        train_meta = json.loads((output / "train_meta.json").read_text())

    from bioner.corpora.sources import load_ner_dataset
    from bioner.data.tags import tag_names

    test = load_ner_dataset("bc5cdr")["test"]
    labels = test.features["ner_tags"].feature.names
    sentences = [list(t) for t in test["tokens"][: args.constrained_instances]]
    gold = tag_names(test["ner_tags"][: args.constrained_instances], labels)
    autocast = "bfloat16" if args.bf16 else "none"
    constrained = decode(str(output), "constrained", sentences, gold, autocast)
    n = args.free_instances
    free = decode(str(output), "free", sentences[:n], gold[:n], autocast)
    constrained_subset = decode(str(output), "constrained", sentences[:n], gold[:n], autocast)
    same = sum(a == b for a, b in zip(free["predictions"], constrained_subset["predictions"], strict=True))
    report = {
        "machine": f"{platform.node()} {platform.machine()}, {torch.get_num_threads()} torch threads,"
        f" torch {torch.__version__}",
        "recipe": " ".join([*RECIPE, "--max_steps", str(train_meta.get("max_steps", args.max_steps))]),
        "decode_dtype": "float32 weights, bf16 autocast" if args.bf16 else "float32",
        "training": train_meta,
        "constrained": {k: v for k, v in constrained.items() if k != "predictions"},
        "free": {k: v for k, v in free.items() if k != "predictions"},
        "constrained_same_instances": {k: v for k, v in constrained_subset.items() if k != "predictions"},
        "free_equals_constrained": f"{same}/{n}",
        "speedup_constrained_vs_free": round(
            free["seconds_per_instance"] / constrained_subset["seconds_per_instance"], 2
        ),
    }
    output.mkdir(parents=True, exist_ok=True)
    (output / "decoder_cpu.json").write_text(json.dumps(report, indent=2) + "\n")
    table = markdown(report)
    (output / "decoder_cpu.md").write_text(table)
    print(table)
    return report


def markdown(report: dict) -> str:
    rows = [
        "| decoding | instances | strict P / R / F1 | s/instance | forward passes/instance"
        " | generated tokens/instance |",
        "|---|---|---|---|---|---|",
    ]
    for key in ("constrained", "constrained_same_instances", "free"):
        r = report[key]
        rows.append(
            f"| {r['mode']} | {r['instances']} | {r['strict_precision']:.3f} / {r['strict_recall']:.3f} / "
            f"{r['strict_f1']:.3f} | {r['seconds_per_instance']:.3f} | {r['forward_passes_per_instance']} | "
            f"{r['generated_tokens_per_instance']} |"
        )
    training = report["training"]
    return "\n".join(
        [
            f"Machine: {report['machine']}; decoding in {report['decode_dtype']}, batch size 1.",
            f"Recipe: `{report['recipe']}`",
            f"Training: {json.dumps(training)}",
            "",
            *rows,
            "",
            f"Constrained is {report['speedup_constrained_vs_free']}x faster than free per instance;"
            f" free output equals constrained on {report['free_equals_constrained']} instances;"
            f" free alignment counts: {json.dumps(report['free']['alignment'])}.",
            "",
        ]
    )


if __name__ == "__main__":
    main()
