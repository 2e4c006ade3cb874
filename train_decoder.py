#!/usr/bin/env python
"""Fine-tune a decoder LLM to answer a NER prompt with one BIO tag per input word (TRL SFTTrainer, QLoRA).

Methods (the seed study's LLM set-up): an instruction-tuned LLM (Mistral-7B-Instruct-v0.3 by default,
Llama-3.1-8B-Instruct as ``llama``) loaded in 4-bit NF4 with double quantization and bf16 compute, LoRA r=128,
alpha=256, dropout 0.05 on every linear layer and ``lm_head``; effective batch 32, lr 4e-5, up to 20 epochs,
early stopping after 3 evaluations without a lower dev loss, the best checkpoint kept; max length computed
from the data and capped at 2048 tokens. Each instance is a prompt (the words) and an answer with one ``word
TAG`` line per word. Beyond the seed: the loss covers the answer only (never the prompt or padding), decoding
is greedy (and by default constrained to the input words and valid BIO), each BIO tag can be one added token
(``--answer_format tags``), and over-long instances are split into windows, never cut.

    accelerate launch train_decoder.py --dataset chemprot                  # Mistral-7B QLoRA, the seed's
    set-up accelerate launch --config_file configs/accelerate/multi_gpu.yaml train_decoder.py --dataset bc5cdr
    \
        --model_name_or_path llama
    python train_decoder.py --dataset demo --model_name_or_path smollm2 --use_peft false   # offline, CPU

Every TRL ``SFTConfig`` and ``ModelConfig`` flag works as well.
"""

from __future__ import annotations

import logging
import sys
import time
import warnings
from dataclasses import dataclass, field

import bioner  # noqa: F401 - first: it quiets an import-time notice of bitsandbytes (bioner/__init__.py)

# isort: split
import torch
from trl import ModelConfig, SFTConfig, TrlParser

from bioner.data.conll import label_names
from bioner.decoding.generative import DECODING_MODES
from bioner.decoding.prompts import ANSWER_FORMATS, AnswerTokenizer, PromptFormatError
from bioner.evaluation.latency import peak_memory_gb
from bioner.evaluation.records import write_outputs
from bioner.models.precision import fast_bf16
from bioner.models.registry import DECODER, ModelLoadError, aliases
from bioner.tagging.taggers import load_tagger
from bioner.training import decoder as sft
from bioner.training.arguments import CorpusArguments
from bioner.training.distributed import end_process_group
from bioner.training.evaluation import evaluate_splits
from bioner.training.publish import decoder_card_section, push_with_card
from bioner.training.run import default_output_dir, finish_run_dir, start_run, write_train_meta

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
    answer_format: str = field(
        default="tags",
        metadata={"help": f"{ANSWER_FORMATS}: one added token per tag, or the seed's 'token:TAG' lines."},
    )
    output_format: str | None = field(
        default=None,
        metadata={
            "help": "Deprecated spelling of --answer_format (tag.py's --output_format is a file format)."
        },
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


def parse_args(argv: list[str] | None = None) -> tuple[DataArguments, SFTConfig, ModelConfig]:
    parser = TrlParser((DataArguments, SFTConfig, ModelConfig))
    parser.set_defaults(**SEED_TRAINING_DEFAULTS, **SEED_MODEL_DEFAULTS)
    data_args, training_args, model_args = parser.parse_args_and_config(args=argv)
    _deprecated_output_format(data_args, argv)
    if data_args.decoding not in DECODING_MODES:
        raise SystemExit(f"--decoding must be one of {DECODING_MODES}, got {data_args.decoding!r}")
    if data_args.answer_format not in ANSWER_FORMATS:
        raise SystemExit(f"--answer_format must be one of {ANSWER_FORMATS}, got {data_args.answer_format!r}")
    if model_args.load_in_4bit and not model_args.use_peft:
        if _given("--load_in_4bit", argv):
            raise SystemExit(
                "error: --load_in_4bit needs --use_peft true (a 4-bit model cannot be fine-tuned fully)"
            )
        model_args.load_in_4bit = False  # the CUDA default applies to (Q)LoRA only
    if model_args.dtype is None:  # 4-bit: bf16 compute (the seed); otherwise fp32 weights under bf16 autocast
        model_args.dtype = "bfloat16" if model_args.load_in_4bit else "float32"
    default_output_dir(training_args, "decoder", data_args.dataset, model_args.model_name_or_path)
    if data_args.effective_batch_size > 0:
        per_step = training_args.per_device_train_batch_size * training_args.world_size
        training_args.gradient_accumulation_steps = max(1, round(data_args.effective_batch_size / per_step))
    return data_args, training_args, model_args


def _deprecated_output_format(data_args: DataArguments, argv: list[str] | None) -> None:
    """``--output_format`` (the old name of ``--answer_format``) still works, with a FutureWarning."""
    if data_args.output_format is None:
        return
    if _given("--answer_format", argv) and data_args.answer_format != data_args.output_format:
        raise SystemExit(
            "error: --output_format is the old name of --answer_format; pass only --answer_format"
        )
    message = "train_decoder.py --output_format is deprecated: use --answer_format (same values)"
    warnings.warn(message, FutureWarning, stacklevel=3)
    logger.warning(message)
    data_args.answer_format, data_args.output_format = data_args.output_format, None


def _given(flag: str, argv: list[str] | None) -> bool:
    return any(arg == flag or arg.startswith(flag + "=") for arg in (sys.argv[1:] if argv is None else argv))


def main(argv: list[str] | None = None) -> dict:
    data_args, training_args, model_args = parse_args(argv)
    push_to_hub = start_run(training_args)

    # Data: each instance becomes a prompt and a one-line-per-word answer, tokenized exactly as decoding will.
    dataset = data_args.load()
    labels = label_names(dataset["train"])
    limit = training_args.max_length
    try:
        model, tokenizer, prompt_format, tag_token_ids = sft.load_for_sft(
            model_args, data_args.answer_format, labels, data_args.use_chat_template
        )
        answers = AnswerTokenizer(tokenizer, prompt_format)
        train_data, train_stats = sft.sft_dataset(dataset["train"], labels, answers, limit, "train")
        dev_data, dev_stats = sft.sft_dataset(dataset["validation"], labels, answers, limit, "dev")
    except (ModelLoadError, PromptFormatError) as error:
        raise SystemExit(f"error: {error}") from None
    stats = {"train": train_stats, "dev": dev_stats}
    sft.record_settings(prompt_format, training_args, model_args, dataset["train"], stats, len(tag_token_ids))

    # Training: SFT on the answers only; dev loss after every epoch, early stopping, best checkpoint restored.
    trainer = sft.sft_trainer(
        model, tokenizer, training_args, model_args, train_data, dev_data, tag_token_ids,
        data_args.early_stopping_patience,
    )  # fmt: skip
    start = time.perf_counter()
    train_result = trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    train_seconds = time.perf_counter() - start
    if not sft.save_decoder(trainer, model_args.use_peft, tokenizer, prompt_format):
        return {}
    meta = sft.decoder_meta(
        model_args, data_args.dataset, prompt_format, trainer, train_result.metrics,
        train_seconds=train_seconds, train_examples=train_stats, dev_examples=dev_stats,
        peak_memory_gb=peak_memory_gb(),
    )  # fmt: skip
    if sft.skip_evaluation(trainer, data_args.evaluate, data_args.dataset, data_args.decoding):
        write_train_meta(training_args.output_dir, meta)  # no results.json without scores
        finish_run_dir(training_args.output_dir, data_args.keep_checkpoints)
        return {"scores": {}, "meta": meta}

    # Evaluation: reload the saved model exactly as users will (evaluate_ner.py, by path or repo id), decode
    # dev
    # and test (greedy; constrained by default), score, write outputs (and the Hub).
    del trainer, model
    sft.free_memory()
    tagger = load_tagger(
        training_args.output_dir, decoding=data_args.decoding, batch_size=data_args.decode_batch_size
    )
    results = evaluate_splits(tagger, dataset, labels)
    meta.update(decoding=data_args.decoding, decode=results.decode_stats(), peak_memory_gb=peak_memory_gb())
    title = sft.title(model_args.model_name_or_path, prompt_format, data_args.decoding, data_args.dataset)
    write_outputs(training_args.output_dir, results.scores, {"test": results.records["test"]}, title, meta)
    if push_to_hub:
        card = decoder_card_section(prompt_format, data_args.decoding)
        push_with_card(
            training_args, model_args.model_name_or_path, data_args.dataset, results.scores, DECODER, card
        )
    finish_run_dir(training_args.output_dir, data_args.keep_checkpoints)
    return {"scores": results.scores, "meta": meta}


if __name__ == "__main__":
    if len(sys.argv) == 1:
        print(__doc__)
        print("model aliases:", ", ".join(f"{k} = {a.describe()}" for k, a in aliases(DECODER).items()))
    try:
        main()
    finally:
        end_process_group()
