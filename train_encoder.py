#!/usr/bin/env python
"""Fine-tune a token classifier for biomedical NER: an encoder, or a decoder LLM read in one pass.

Methods (the seed study's encoder setup): a pre-trained encoder with a linear token-classification head
predicts one BIO tag per word (the label sits on the word's first sub-word); AdamW at lr 2e-5 for up to 20
epochs, early stopping after 3 epochs without a better dev strict F1, the best checkpoint kept; inputs up to
512 sub-words. Beyond the seed: longer instances are split into overlapping windows instead of being
truncated, predictions are decoded to valid IOB2 (Viterbi), batches are padded dynamically, and every score
comes from the SemEval metric in ``metrics/bio_ner``.

Decoder LLMs (``smollm2``, ``gemma3``, ``mistral``, ``llama`` or any causal-LM directory / Hub id) are trained
the same way: their last hidden states feed the BIO head (no prompt, no generated answer), with the causal
mask lifted in all or some layers (``--attention``, ``--unmasked_layers``), fully fine-tuned or with LoRA
(``--use_peft``), on a 4-bit base where bitsandbytes runs (``--load_in_4bit``: QLoRA).

    python train_encoder.py --dataset bc5cdr --model_name_or_path biomedbert-large --output_dir
    runs/bc5cdr-biomedbert python train_encoder.py --dataset bc5cdr --model_name_or_path llama --use_peft
    --load_in_4bit --bf16 ... accelerate launch --multi_gpu --num_processes 2 train_encoder.py --dataset demo
    --model_name_or_path minilm ...

Every ``transformers.TrainingArguments`` flag works as well.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field

import bioner  # noqa: F401 - first: it quiets an import-time notice of bitsandbytes (bioner/__init__.py)

# isort: split
from transformers import HfArgumentParser, TrainingArguments

from bioner.data.conll import label_names
from bioner.data.files import DataFormatError
from bioner.data.tags import tag_names
from bioner.decoding.viterbi import DECODERS
from bioner.decoding.windows import WordEncoder
from bioner.evaluation.latency import peak_memory_gb
from bioner.evaluation.records import write_outputs
from bioner.models.onnx import TORCH, TORCH_BF16
from bioner.models.registry import DECODER, ENCODER, LLM_TOKEN_CLASSIFIER, ModelLoadError, aliases
from bioner.models.token_llm import TokenLLMArguments, save_info
from bioner.tagging.taggers import EncoderTagger
from bioner.training.arguments import CorpusArguments
from bioner.training.distill import DistillArguments, distillation_card_section, student_trainer
from bioner.training.distributed import end_process_group
from bioner.training.encoder import encoder_meta, load_token_model, record_word_style
from bioner.training.evaluation import evaluate_splits, strict_f1_by_decoding
from bioner.training.publish import push_with_card
from bioner.training.run import default_output_dir, finish_run_dir, start_run

logger = logging.getLogger("train_encoder")

PAPER_DEFAULTS = {
    "num_train_epochs": 20,
    "learning_rate": 2e-5,
    "per_device_train_batch_size": 16,
    "per_device_eval_batch_size": 64,
    "eval_strategy": "epoch",
    "save_strategy": "epoch",
    "save_total_limit": 1,
    "load_best_model_at_end": True,
    "metric_for_best_model": "strict_f1",
    "greater_is_better": True,
    "logging_steps": 50,
    "report_to": "none",
}


@dataclass
class ModelArguments:
    model_name_or_path: str = field(
        default="minilm",
        metadata={
            "help": f"Local path, Hub id or alias: {', '.join(aliases(ENCODER))}; or a decoder LLM"
            f" ({', '.join(aliases(DECODER))}, a causal-LM directory or Hub id) trained as a token"
            " classifier."
        },
    )
    max_seq_length: int = field(
        default=512, metadata={"help": "Sub-words per window; longer instances are windowed."}
    )
    stride: int = field(
        default=128, metadata={"help": "Sub-words shared by consecutive windows of a long instance."}
    )
    bio_decoding: str = field(
        default="viterbi", metadata={"help": f"How word scores become tags: {DECODERS}."}
    )


@dataclass
class DataArguments(CorpusArguments):
    """The corpus arguments (``bioner.training.arguments.CorpusArguments``)."""


def parse_args(argv: list[str] | None = None):
    parser = HfArgumentParser(
        (ModelArguments, TokenLLMArguments, DataArguments, DistillArguments, TrainingArguments)
    )
    parser.set_defaults(**PAPER_DEFAULTS)
    if argv is None and len(sys.argv) == 2 and sys.argv[1].endswith((".json", ".yaml", ".yml")):
        return (
            parser.parse_yaml_file(sys.argv[1])
            if not sys.argv[1].endswith(".json")
            else parser.parse_json_file(sys.argv[1])
        )
    return parser.parse_args_into_dataclasses(args=argv)


def main(argv: list[str] | None = None) -> dict:
    model_args, llm_args, data_args, distill_args, training_args = parse_args(argv)
    if model_args.bio_decoding not in DECODERS:
        raise SystemExit(f"--bio_decoding must be one of {DECODERS}, got {model_args.bio_decoding!r}")
    default_output_dir(training_args, "encoder", data_args.dataset, model_args.model_name_or_path)
    push_to_hub = start_run(training_args)

    # Data: BIO-tagged instances; labels on each word's first sub-word, long instances windowed.
    dataset = data_args.load()
    labels = label_names(dataset["train"])
    try:
        model, tokenizer, is_llm = load_token_model(model_args.model_name_or_path, llm_args, labels)
    except ModelLoadError as error:
        raise SystemExit(str(error)) from None
    word_style = record_word_style(model, dataset["train"])  # so tag.py cuts raw text the same way
    encoder = WordEncoder(tokenizer, model_args.max_seq_length, model_args.stride)

    # Training: Trainer with dev strict F1 after every epoch, early stopping, best checkpoint restored; with
    # --teacher, gold plus the teacher's labels on an unlabelled pool (bioner.training.distill).
    try:
        trainer, timer, distilled = student_trainer(
            model, tokenizer, training_args, encoder, dataset, labels, model_args.bio_decoding,
            data_args.early_stopping_patience, distill_args, word_style,
        )  # fmt: skip
    except (ModelLoadError, DataFormatError) as error:
        raise SystemExit(str(error)) from None
    train_result = trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    trainer.save_model()
    if is_llm and trainer.is_world_process_zero():
        save_info(training_args.output_dir, model, model_args.model_name_or_path, llm_args, word_style)
    if not trainer.is_world_process_zero():
        return {}

    # Evaluation: whole-sentence predictions on dev and test, SemEval scores, outputs (and the Hub). A model
    # trained with --bf16 is scored under bf16 autocast too, as the Trainer evaluates it.
    tagger = EncoderTagger(
        trainer.model.eval(), tokenizer, model_args.max_seq_length, model_args.stride,
        training_args.per_device_eval_batch_size, model_args.bio_decoding,
        backend=TORCH_BF16 if training_args.bf16 else TORCH,
    )  # fmt: skip
    results = evaluate_splits(tagger, dataset, labels)
    test_gold = tag_names(dataset["test"]["ner_tags"], labels)
    meta = encoder_meta(
        model_args, llm_args, data_args.dataset, trainer, train_result.metrics,
        by_decoding=strict_f1_by_decoding(tagger, test_gold, results.scores["test"]),
        epoch_seconds=timer.seconds, results=results, is_llm=is_llm, peak_memory_gb=peak_memory_gb(),
        eval_backend=tagger.backend,
    ) | distilled  # fmt: skip
    title = f"{model_args.model_name_or_path} on {data_args.dataset}"
    write_outputs(training_args.output_dir, results.scores, {"test": results.records["test"]}, title, meta)
    if push_to_hub:
        kind = LLM_TOKEN_CLASSIFIER if is_llm else ENCODER
        card = distillation_card_section(distilled)
        push_with_card(
            training_args, model_args.model_name_or_path, data_args.dataset, results.scores, kind, card
        )
    finish_run_dir(training_args.output_dir, data_args.keep_checkpoints)
    return {"scores": results.scores, "meta": meta}


if __name__ == "__main__":
    try:
        main()
    finally:
        end_process_group()
