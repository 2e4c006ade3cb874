"""One-shot GPU check of the decoder path: QLoRA training, 4-bit reload, constrained and free decoding.

Builds the tests' tiny random Llama (untied embeddings, like Mistral/Llama: LoRA on ``lm_head`` too) in a work
folder and trains a LoRA adapter with ``train_decoder.main`` at its defaults for this machine (on CUDA: 4-bit
NF4 with double quantization, bf16, gradient checkpointing) until it has memorised 16 ``demo`` train sentences
(r 64 = full rank of the 64-wide model, lr 3e-3, 150 steps of 16). It then reloads the adapter with
``load_tagger(load_in_4bit=...)`` and decodes the first 32 test sentences (unseen) and the 16 memorised ones,
each with ``constrained`` at batch 8 and batch 1 (tags and passes must be identical), ``speculative`` with the
all-O draft at batch 8 and 1 (tags must equal constrained's; passes = 1 + corrections) and ``free`` at batch
8. Free decoding only writes well-formed answers for memorised sentences, so that is where ``constrained ==
free`` (on every perfectly aligned instance) is tested. Then the LLM token classifier's QLoRA path
(``token_classifier_check``: ``train_encoder.py --use_peft --load_in_4bit --bf16`` on the same Llama,
reloaded; 4-bit layers, reload == run, attention masks; ``--token_steps 0`` skips it). Prints, and writes to
``$OUT/gpu_check.json`` when ``OUT`` is set, one JSON line of figures: whether the linear layers are
bitsandbytes ``Linear4bit`` on the GPU, forward passes and seconds per instance, the checks, peak GPU memory.
Exit status 1 when a check fails.

    python3 benchmarks/gpu_check.py                                    # on the GPU machine
    (benchmarks/gpu_check.sh) OMP_NUM_THREADS=1 python benchmarks/gpu_check.py --max_steps 2 --token_steps 40
    # CPU smoke run (bnb NF4 on CPU) OMP_NUM_THREADS=1 python benchmarks/gpu_check.py --max_steps 2
    --load_in_4bit true   # CPU, bnb 4-bit

The figures are for a 2-layer, 64-wide random model: they check mechanics (kernels, dtypes, determinism),
not speed or accuracy of a real LLM.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes"):
        return True
    if text.lower() in ("0", "false", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {text!r}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="/tmp/bioner_gpu_check", help="Emptied first.")
    parser.add_argument("--max_steps", type=int, default=150)
    parser.add_argument("--max_train_samples", type=int, default=16, help="Memorised, then decoded.")
    parser.add_argument("--instances", type=int, default=32, help="Dev/test instances (max_eval_samples).")
    parser.add_argument(
        "--learning_rate", type=float, default=3e-3, help="High: the train instances must be memorised."
    )
    parser.add_argument("--lora_r", type=int, default=64, help="Full rank of the 64-wide model.")
    parser.add_argument("--per_device_train_batch_size", type=int, default=16)
    parser.add_argument("--effective_batch_size", type=int, default=16)
    parser.add_argument("--lr_scheduler_type", default="constant")
    parser.add_argument(
        "--load_in_4bit",
        type=_bool,
        default=None,
        help="Default: train_decoder's (true on CUDA, false on CPU).",
    )
    parser.add_argument("--output_format", default="tags", choices=("tags", "paper"))
    parser.add_argument(
        "--tied", action="store_true", help="Tied embeddings (like SmolLM2) instead of untied."
    )
    parser.add_argument(
        "--token_steps", type=int, default=40, help="LLM token classifier QLoRA steps (0: skip that section)."
    )
    return parser.parse_args(argv)


def quantization_report(model) -> dict:
    """Kinds and devices of the model's linear layers (bitsandbytes Linear4bit or plain Linear)."""
    import torch

    linear4bit, plain, devices, quant_types, compute_dtypes, storage = 0, [], set(), set(), set(), set()
    try:
        import bitsandbytes as bnb

        bnb_linear = bnb.nn.Linear4bit
    except ImportError:  # pragma: no cover - bitsandbytes missing
        bnb_linear = ()
    for name, module in model.named_modules():
        if bnb_linear and isinstance(module, bnb_linear):
            linear4bit += 1
            weight = module.weight
            devices.add(str(weight.device))
            storage.add(str(weight.dtype))
            quant_types.add(str(getattr(weight, "quant_type", None)))
            compute_dtypes.add(str(getattr(module, "compute_dtype", None)))
        elif type(module) is torch.nn.Linear:
            plain.append(name)
    return {
        "linear4bit_layers": linear4bit,
        "linear4bit_devices": sorted(devices),
        "linear4bit_storage_dtype": sorted(storage),
        "linear4bit_quant_type": sorted(quant_types),
        "linear4bit_compute_dtype": sorted(compute_dtypes),
        "plain_linear_layers": len(plain),
        "plain_linear_examples": plain[:4],
        "model_device": str(getattr(model, "device", "?")),
    }


def timed(tagger, words, mode: str, batch_size: int) -> dict:
    tagger.decoding, tagger.batch_size = mode, batch_size
    tagger.draft = "all-O" if mode == "speculative" else None
    tags = tagger(words, progress=False)
    stats = tagger.last_stats
    if mode == "speculative":  # one pass per window plus one per correction that something follows
        expected = [
            w + c - f
            for w, c, f in zip(
                stats["windows"], stats["corrections"], stats["final_corrections"], strict=True
            )
        ]
        stats["passes_are_1_plus_corrections"] = stats["forward_passes"] == expected
    return {
        "tags": tags,
        "stats": stats,
        "forward_passes": stats["forward_passes"],
        "summary": {
            "mode": mode,
            "batch_size": batch_size,
            "seconds_per_instance": round(tagger.last_seconds / len(words), 5),
            "forward_passes_per_instance": stats["forward_passes_per_instance"],
            "generated_tokens_per_instance": stats["generated_tokens_per_instance"],
            **({"alignment": stats["alignment"]} if stats.get("alignment") else {}),
            **(
                {"corrections_per_instance": stats["corrections_per_instance"]}
                if mode == "speculative"
                else {}
            ),
        },
    }


def speculative_agreement(runs: dict) -> dict:
    """Per batch size: instances and words where speculative's tags differ from constrained's, and whether
    every instance cost exactly 1 + corrections passes."""
    report = {}
    for size in ("b8", "b1"):
        fast, reference = runs[f"speculative_{size}"], runs[f"constrained_{size}"]
        pairs = list(zip(fast["tags"], reference["tags"], strict=True))
        report[size] = {
            "differing_instances": sum(a != b for a, b in pairs),
            "differing_words": sum(x != y for a, b in pairs for x, y in zip(a, b, strict=True)),
            "words": sum(len(b) for _, b in pairs),
            "passes_are_1_plus_corrections": fast["stats"]["passes_are_1_plus_corrections"],
        }
    return report


def fp32_speculative_check(output: Path, words) -> dict:
    """The adapter reloaded without 4-bit or autocast (fp32 weights and compute): speculative vs constrained.

    Both decoders make the same greedy choices in exact arithmetic; in bf16 the one long verification pass
    and the short incremental chunks round differently, so near-ties can flip. fp32 shows the logic is exact.
    """
    from bioner.tagging.taggers import load_tagger

    tagger = load_tagger(str(output), load_in_4bit=False, dtype="float32", autocast_dtype="none")
    runs = {
        f"{mode}_b{size}": timed(tagger, words, mode, size)
        for mode in ("constrained", "speculative")
        for size in (8, 1)
    }
    return {key: run["summary"] for key, run in runs.items()} | {
        "speculative_vs_constrained": speculative_agreement(runs)
    }


def token_classifier_check(base: Path, work: Path, cuda: bool, args: argparse.Namespace) -> dict:
    """The LLM token classifier's QLoRA path: ``train_encoder.py --use_peft --load_in_4bit --bf16`` on the
    tiny Llama, reloaded with ``load_tagger``: 4-bit base layers (on CUDA), reload == the run's test
    predictions, and on the reloaded 4-bit bf16 model a later token changes the first token's logits with
    bidirectional attention, and none left of it once the layers are causal again."""
    import torch

    import train_encoder
    from bioner.models.attention import UNMASKED_LAYERS_KEY, set_unmasked_layers
    from bioner.tagging.taggers import load_tagger

    output = work / "token-qlora"
    train_argv = [
        "--dataset", "demo", "--model_name_or_path", str(base), "--output_dir", str(output),
        "--use_peft", "true", "--load_in_4bit", "true", "--bf16", "true", "--lora_r", "16",
        "--learning_rate", "3e-3", "--max_steps", str(args.token_steps),
        "--per_device_train_batch_size", "16",
        "--max_train_samples", str(args.max_train_samples), "--max_eval_samples", str(args.instances),
        "--eval_strategy", "no", "--save_strategy", "no", "--load_best_model_at_end", "false",
        "--report_to", "none", "--disable_tqdm", "true", "--seed", "0", *([] if cuda else ["--use_cpu"]),
    ]  # fmt: skip
    result = train_encoder.main(train_argv)
    records = [json.loads(line) for line in (output / "predictions_test.jsonl").read_text().splitlines()]
    tagger = load_tagger(str(output))
    quantization = quantization_report(tagger.model)
    reloaded = tagger([r["tokens"] for r in records], progress=False)

    model, inner = tagger.model, tagger.model.get_base_model()
    device = next(model.parameters()).device

    def logits(ids: list[int]) -> torch.Tensor:
        with torch.no_grad():
            return model(input_ids=torch.tensor([ids], device=device)).logits[0].float()

    sentence, changed = [5, 6, 7, 8, 9, 10, 11], [5, 6, 7, 8, 9, 10, 12]
    unmasked = list(getattr(inner.config, UNMASKED_LAYERS_KEY))
    bidirectional = (logits(sentence)[0] - logits(changed)[0]).abs().max().item()
    set_unmasked_layers(inner, [])
    causal = (logits(sentence)[:6] - logits(changed)[:6]).abs().max().item()
    set_unmasked_layers(inner, unmasked)
    on_cuda = quantization["linear4bit_layers"] > 0 and all(
        d.startswith("cuda") for d in quantization["linear4bit_devices"]
    )
    if not cuda:
        print("token classifier: no CUDA, so 'Linear4bit on cuda' is not checked (None)", flush=True)
    report = {
        "argv": " ".join(train_argv),
        "train_seconds": result["meta"].get("train_seconds"),
        "test_strict_f1": round(result["scores"]["test"]["strict"]["f1"], 4),
        "unmasked_layers": unmasked,
        "reloaded_model": quantization,
        "first_token_logit_change_bidirectional": bidirectional,
        "left_logit_change_causal": causal,
        "checks": {
            "linear4bit_on_cuda": on_cuda if cuda else None,
            "linear4bit_bf16_compute": quantization["linear4bit_compute_dtype"] == ["torch.bfloat16"],
            "reload_equals_after_training": reloaded == [r["pred"] for r in records],
            "bidirectional_sees_later_token": bidirectional > 1e-3,
            "causal_left_unchanged": causal == 0.0,
        },
    }
    print(f"token classifier: {json.dumps(report)}", flush=True)
    return report


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)  # train_decoder resolves nothing relative, but runs/ etc. stay in the repo if it did

    import torch

    import bioner.decoding.generative
    import train_decoder
    from bioner.corpora.sources import load_ner_dataset
    from bioner.data.conll import label_names
    from bioner.data.demo import make_demo_splits
    from bioner.data.tags import tag_names
    from bioner.tagging.taggers import load_tagger
    from metrics.bio_ner.scoring import compute_ner_scores
    from tests.fixtures_decoders import build_tiny_llama

    started = time.perf_counter()
    cuda = torch.cuda.is_available()
    work = Path(args.workdir)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    figures: dict = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": cuda,
        "device_name": torch.cuda.get_device_name(0) if cuda else platform.processor() or "cpu",
    }
    for package in (
        "transformers",
        "trl",
        "peft",
        "bitsandbytes",
        "accelerate",
        "datasets",
        "huggingface_hub",
    ):
        try:
            figures[package] = __import__(package).__version__
        except Exception as error:  # noqa: BLE001 - report, don't stop
            figures[package] = f"unavailable: {error}"

    # (a) the tiny random Llama of the tests, with its chat tokenizer trained on the demo corpus
    splits = make_demo_splits()
    labels = label_names(load_ner_dataset("demo")["train"])
    sentences = [tokens for split in splits.values() for tokens, _ in split]
    base = build_tiny_llama(work / "tiny-llama", sentences, labels, tied=args.tied, seed=1)

    # (b) LoRA (QLoRA on CUDA) with train_decoder's defaults for this machine
    output = work / "adapter"
    train_argv = [
        "--dataset", "demo",
        "--model_name_or_path", str(base),
        "--output_dir", str(output),
        "--answer_format", args.output_format,
        "--lora_r", str(args.lora_r),
        "--lora_alpha", str(2 * args.lora_r),
        "--learning_rate", str(args.learning_rate),
        "--lr_scheduler_type", args.lr_scheduler_type,
        "--per_device_train_batch_size", str(args.per_device_train_batch_size),
        "--effective_batch_size", str(args.effective_batch_size),
        "--max_steps", str(args.max_steps),
        "--max_train_samples", str(args.max_train_samples),
        "--max_eval_samples", str(args.instances),
        "--eval_strategy", "no",
        "--save_strategy", "no",
        "--load_best_model_at_end", "false",
        "--logging_steps", "10",
        "--report_to", "none",
        "--disable_tqdm", "true",
    ]  # fmt: skip
    if args.load_in_4bit is not None:
        train_argv += ["--load_in_4bit", str(args.load_in_4bit).lower()]
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    result = train_decoder.main(train_argv)
    meta = result["meta"]
    four_bit = bool(meta["load_in_4bit"])
    figures["train"] = {
        "argv": " ".join(train_argv),
        "load_in_4bit": four_bit,
        "peft": meta["peft"],
        "effective_batch_size": meta["effective_batch_size"],
        "train_seconds": meta["train_seconds"],
        "max_length": meta["max_length"],
        "test_strict_f1_after_training": round(result["scores"]["test"]["strict"]["f1"], 4),
        "decode_after_training": meta["decode"]["test"],
    }
    if cuda:
        figures["train"]["max_memory_allocated_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)

    # (c) reload the adapter (4-bit base as trained); decode the test instances (timing, batch 8 == batch 1,
    # reload == right after training) and the memorised train instances (free == constrained where aligned)
    dataset = load_ner_dataset("demo")
    names = dataset["test"].features["ner_tags"].feature.names

    def instances(split: str, n: int):
        data = dataset[split].select(range(n))
        return [list(t) for t in data["tokens"]], tag_names(data["ner_tags"], names)

    words, gold = instances("test", args.instances)
    train_words, train_gold = instances("train", args.max_train_samples)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    tagger = load_tagger(str(output), load_in_4bit=four_bit, decoding="constrained", batch_size=8)
    figures["reloaded_model"] = quantization_report(tagger.model)
    figures["linear4bit_on_cuda"] = bool(
        figures["reloaded_model"]["linear4bit_layers"] > 0
        and all(d.startswith("cuda") for d in figures["reloaded_model"]["linear4bit_devices"])
    )

    per_instance: dict[tuple[str, ...], dict] = {}
    original_align = bioner.decoding.generative.align_answer

    def recording_align(text, instance_words, prompt_format):
        tags, counts = original_align(text, instance_words, prompt_format)
        per_instance[tuple(instance_words)] = dict(counts)
        return tags, counts

    def compare(name: str, sentences, gold_tags) -> dict:
        """Constrained (batch 8 and 1) and free (batch 8) on ``sentences``; free == constrained where
        aligned."""
        runs = {"constrained_b8": timed(tagger, sentences, "constrained", 8)}
        runs["constrained_b1"] = timed(tagger, sentences, "constrained", 1)
        runs["speculative_b8"] = timed(tagger, sentences, "speculative", 8)
        runs["speculative_b1"] = timed(tagger, sentences, "speculative", 1)
        per_instance.clear()
        bioner.decoding.generative.align_answer = recording_align
        try:
            runs["free_b8"] = timed(tagger, sentences, "free", 8)
        finally:
            bioner.decoding.generative.align_answer = original_align
        batched, single, free = (runs[k] for k in ("constrained_b8", "constrained_b1", "free_b8"))
        perfect = [
            i
            for i, w in enumerate(sentences)
            if per_instance.get(tuple(w), {}).get("aligned") == 1
            and per_instance[tuple(w)].get("bio_repairs") == 0
        ]
        report = {key: run["summary"] for key, run in runs.items()}
        report.update(
            instances=len(sentences),
            constrained_b8_equals_b1=batched["tags"] == single["tags"]
            and batched["forward_passes"] == single["forward_passes"],
            constrained_b8_vs_b1_differing_instances=[
                i for i, (a, b) in enumerate(zip(batched["tags"], single["tags"], strict=True)) if a != b
            ],
            speculative_vs_constrained=speculative_agreement(runs),
            free_perfectly_aligned_instances=len(perfect),
            constrained_equals_free_where_aligned=all(batched["tags"][i] == free["tags"][i] for i in perfect),
            constrained_vs_free_differing_aligned_instances=[
                i for i in perfect if batched["tags"][i] != free["tags"][i]
            ],
            strict_f1={
                mode: round(compute_ner_scores(runs[key]["tags"], gold_tags)["strict"]["f1"], 4)
                for mode, key in (("constrained", "constrained_b8"), ("free", "free_b8"))
            },
        )
        print(f"{name}: {json.dumps(report)}", flush=True)
        return report | {"_tags": batched["tags"]}

    tagger(words[:8], progress=False)  # warm-up (CUDA kernels, allocator), not timed
    test_report = compare("test", words, gold)
    train_report = compare("train (memorised)", train_words, train_gold)
    predictions_file = output / "predictions_test.jsonl"
    after_training = [json.loads(line)["pred"] for line in predictions_file.read_text().splitlines()]
    test_report["reload_equals_after_training"] = test_report.pop("_tags") == after_training
    train_report.pop("_tags")
    figures["decode"] = {"test": test_report, "train_memorised": train_report}
    figures["decode_fp32"] = fp32_speculative_check(output, words)
    print(f"fp32: {json.dumps(figures['decode_fp32'])}", flush=True)
    if cuda:
        figures["decode"]["max_memory_allocated_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    figures["max_memory_allocated_mb"] = max(
        figures["train"].get("max_memory_allocated_mb", 0),
        figures["decode"].get("max_memory_allocated_mb", 0),
    )
    token = token_classifier_check(base, work, cuda, args) if args.token_steps else {"checks": {}}
    figures["token_classifier"] = token
    reports = (test_report, train_report)
    figures["checks"] = {
        "load_in_4bit_default_is_cuda": four_bit == cuda if args.load_in_4bit is None else None,
        "quantized_as_asked": (figures["reloaded_model"]["linear4bit_layers"] > 0) == four_bit,
        "linear4bit_on_cuda": figures["linear4bit_on_cuda"] if cuda and four_bit else None,
        "constrained_b8_equals_b1": all(r["constrained_b8_equals_b1"] for r in reports),
        "speculative_passes_are_1_plus_corrections": all(
            agreement["passes_are_1_plus_corrections"]
            for r in (*reports, figures["decode_fp32"])
            for agreement in r["speculative_vs_constrained"].values()
        ),
        "speculative_equals_constrained_fp32": all(
            agreement["differing_instances"] == 0
            for agreement in figures["decode_fp32"]["speculative_vs_constrained"].values()
        ),
        "reload_equals_after_training": test_report["reload_equals_after_training"],
        "constrained_equals_free_where_aligned": all(
            r["constrained_equals_free_where_aligned"] for r in reports
        ),
        **{f"token_qlora_{name}": value for name, value in token["checks"].items()},
    }
    figures["ok"] = all(v for v in figures["checks"].values() if v is not None)
    # not a check: whether the free == constrained comparison had anything to compare (learning, not code)
    figures["free_aligned_instances"] = sum(r["free_perfectly_aligned_instances"] for r in reports)
    figures["wall_seconds"] = round(time.perf_counter() - started, 1)

    line = json.dumps(figures)
    print(line, flush=True)
    if os.environ.get("OUT"):
        Path(os.environ["OUT"], "gpu_check.json").write_text(line + "\n")
    return figures


if __name__ == "__main__":
    sys.exit(0 if main()["ok"] else 1)
