#!/usr/bin/env python
"""Fine-tune a token classifier for biomedical NER: an encoder, or a decoder LLM read in one pass.

Methods (the seed study's encoder setup): a pre-trained encoder with a linear token-classification head predicts
one BIO tag per word (the label sits on the word's first sub-word); AdamW at lr 2e-5 for up to 20 epochs, early
stopping after 3 epochs without a better dev strict F1, the best checkpoint kept; inputs up to 512 sub-words.
Beyond the seed: longer instances are split into overlapping windows instead of being truncated, predictions are
decoded to valid IOB2 (Viterbi), batches are padded dynamically, and every score comes from the SemEval metric
in ``metrics/bio_ner``.

Decoder LLMs (``smollm2``, ``gemma3``, ``mistral``, ``llama`` or any causal-LM directory / Hub id) are trained the
same way: their last hidden states feed the BIO head (no prompt, no generated answer), with the causal mask lifted
in all or some layers (``--attention``, ``--unmasked_layers``), fully fine-tuned or with LoRA (``--use_peft``),
on a 4-bit base where bitsandbytes runs (``--load_in_4bit``: QLoRA).

    python train_encoder.py --dataset bc5cdr --model_name_or_path biomedbert-large --output_dir runs/bc5cdr-biomedbert
    python train_encoder.py --dataset bc5cdr --model_name_or_path llama --use_peft --load_in_4bit --bf16 ...
    accelerate launch --multi_gpu --num_processes 2 train_encoder.py --dataset demo --model_name_or_path minilm ...

Every ``transformers.TrainingArguments`` flag works as well.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass, field

import numpy as np
from datasets import Dataset
from torch.utils.data import SequentialSampler
from transformers import (
    DataCollatorForTokenClassification,
    EarlyStoppingCallback,
    HfArgumentParser,
    Trainer,
    TrainerCallback,
    TrainingArguments,
    set_seed,
)

from bioner.data.conll import label_names
from bioner.data.text import WORD_STYLE_KEY, infer_word_style
from bioner.decoding.viterbi import DECODERS, decode_tags
from bioner.decoding.windows import WordEncoder, label_features, merge_windows
from bioner.evaluation.records import headline, predictions_records, write_outputs
from bioner.models.llm import DECODER_ALIASES, decoder_base_id
from bioner.models.precision import warn_if_slow_bf16
from bioner.models.registry import (
    ENCODER_ALIASES,
    ModelLoadError,
    base_model_id,
    load_token_classifier,
    load_tokenizer,
)
from bioner.models.token_llm import (
    LLM_TOKEN_CLASSIFIER_KIND,
    TokenLLMArguments,
    check_not_causal_for_encoder,
    is_causal_lm,
    load_llm_token_classifier,
    resolve_any_model,
    save_info,
)
from bioner.tagging.taggers import EncoderTagger
from bioner.training.arguments import CorpusArguments
from bioner.training.distributed import end_process_group
from metrics.bio_ner.scoring import compute_ner_scores

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
            "help": f"Local path, Hub id or alias: {', '.join(ENCODER_ALIASES)}; or a decoder LLM"
            f" ({', '.join(DECODER_ALIASES)}, a causal-LM directory or Hub id) trained as a token classifier."
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
    """The corpus arguments (``bioner.arguments.CorpusArguments``)."""


class EpochTimer(TrainerCallback):
    """Wall time of each training epoch, excluding the evaluation that follows it."""

    def __init__(self):
        self.seconds: list[float] = []

    def on_epoch_begin(self, args, state, control, **kwargs):
        self._start = time.perf_counter()

    def on_epoch_end(self, args, state, control, **kwargs):
        self.seconds.append(time.perf_counter() - self._start)


class WindowedTrainer(Trainer):
    """A Trainer that evaluates in dataset order, even with ``--train_sampling_strategy group_by_length``.

    ``DevScorer`` maps prediction rows back to windows by position; transformers would otherwise apply the
    length-grouped (shuffling) sampler to evaluation too. The dev set is already sorted by length.
    """

    def _get_eval_sampler(self, eval_dataset):
        return SequentialSampler(eval_dataset) if self.args.world_size <= 1 else None


class DevScorer:
    """``compute_metrics`` for windowed instances: merges windows back to words and scores whole sentences."""

    def __init__(self, windows, gold_tags, labels, decoding):
        self.windows, self.gold_tags, self.labels, self.decoding = windows, gold_tags, labels, decoding

    def __call__(self, eval_prediction) -> dict[str, float]:
        logits, label_ids = eval_prediction.predictions, eval_prediction.label_ids
        window_scores = []
        for row, _window in enumerate(self.windows):
            word_logits = logits[row][label_ids[row] != -100].astype(np.float64)
            window_scores.append(word_logits - np.logaddexp.reduce(word_logits, axis=-1, keepdims=True))
        merged = merge_windows(self.windows, window_scores, [len(g) for g in self.gold_tags])
        predictions = [decode_tags(scores, self.labels, self.decoding) for scores in merged]
        scores = compute_ner_scores(predictions, self.gold_tags)
        return {
            "strict_f1": scores["strict"]["f1"],
            "strict_precision": scores["strict"]["precision"],
            "strict_recall": scores["strict"]["recall"],
            "relaxed_f1": scores["partial"]["f1"],
        }


def windowed_dataset(encoder: WordEncoder, split, sort_by_length: bool = False):
    """Windows and labelled features of a split (optionally longest first, for fast evaluation)."""
    windows = encoder.windows(split["tokens"])
    if sort_by_length:
        windows.sort(key=lambda w: -len(w.input_ids))
    return windows, Dataset.from_list(label_features(windows, split["ner_tags"]))


def parse_args(argv: list[str] | None = None):
    parser = HfArgumentParser((ModelArguments, TokenLLMArguments, DataArguments, TrainingArguments))
    parser.set_defaults(**PAPER_DEFAULTS)
    if argv is None and len(sys.argv) == 2 and sys.argv[1].endswith((".json", ".yaml", ".yml")):
        return (
            parser.parse_yaml_file(sys.argv[1])
            if not sys.argv[1].endswith(".json")
            else parser.parse_json_file(sys.argv[1])
        )
    return parser.parse_args_into_dataclasses(args=argv)


def load_model(model_args: ModelArguments, llm_args: TokenLLMArguments, labels: list[str]):
    """Pre-trained encoder or decoder LLM with a fresh token-classification head over ``labels``, its tokenizer,
    and whether it is a decoder LLM."""
    try:
        model_path = resolve_any_model(model_args.model_name_or_path)
        if is_causal_lm(model_path):
            return (*load_llm_token_classifier(model_path, labels, llm_args), True)
        check_not_causal_for_encoder(model_args.model_name_or_path, llm_args)
        tokenizer = load_tokenizer(model_path)
        model = load_token_classifier(
            model_path,
            num_labels=len(labels),
            id2label=dict(enumerate(labels)),
            label2id={label: i for i, label in enumerate(labels)},
            ignore_mismatched_sizes=True,
        )
    except ModelLoadError as error:
        raise SystemExit(str(error)) from None
    return model, tokenizer, False


def evaluate_splits(
    tagger: EncoderTagger, dataset, gold: dict[str, list[list[str]]]
) -> tuple[dict, dict, dict]:
    """Scores, prediction records and sentences/s for dev and test, predicted with the whole-sentence tagger."""
    scores, records, speed = {}, {}, {}
    for split, name in (("validation", "dev"), ("test", "test")):
        predictions = tagger(dataset[split]["tokens"])
        speed[name] = round(len(predictions) / tagger.last_seconds, 1)
        scores[name] = compute_ner_scores(predictions, gold[split])
        records[name] = predictions_records(
            dataset[split]["id"], dataset[split]["tokens"], gold[split], predictions
        )
        logger.info("%s: %s", name, headline(scores[name]))
    return scores, records, speed


def strict_f1_by_decoding(
    tagger: EncoderTagger, gold_test: list[list[str]], scores: dict
) -> dict[str, float]:
    """Test strict F1 with BIO-valid (Viterbi) and with plain argmax decoding, side by side; the other decoding
    re-reads the word scores of the tagger's last call (the test split, see ``evaluate_splits``)."""
    chosen = tagger.decoding
    other = "argmax" if chosen == "viterbi" else "viterbi"
    other_f1 = compute_ner_scores(tagger.redecode(other), gold_test)["strict"]["f1"]
    return {chosen: scores["test"]["strict"]["f1"], other: other_f1}


def _card_model_type(output_dir: str) -> str:
    from pathlib import Path

    adapter = Path(output_dir, "adapter_config.json").is_file()
    return LLM_TOKEN_CLASSIFIER_KIND + ("-adapter" if adapter else "")


def push_with_card(
    training_args: TrainingArguments, model_name: str, dataset_name: str, scores: dict, is_llm: bool = False
) -> None:
    """Upload the final model once, with a model card whose model-index carries the test scores."""
    from bioner.hub import push_training_output

    url = push_training_output(
        training_args,
        base_model=decoder_base_id(model_name) if is_llm else base_model_id(model_name),
        dataset=dataset_name,
        results=scores,
        model_type=_card_model_type(training_args.output_dir) if is_llm else "encoder",
    )
    logger.info("pushed to %s", url)


def peak_rss_mb() -> float:
    """This process' peak resident memory so far (training included), in MB."""
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def llm_meta(model, llm_args: TokenLLMArguments) -> dict:
    """How a decoder LLM token classifier was trained, for results.json and the tables."""
    from bioner.models.attention import UNMASKED_LAYERS_KEY

    config = model.config
    return {
        "model_kind": LLM_TOKEN_CLASSIFIER_KIND,
        "attention": llm_args.attention,
        "unmasked_layers": list(getattr(config, UNMASKED_LAYERS_KEY, []) or []),
        "num_layers": config.num_hidden_layers,
        "use_peft": llm_args.use_peft,
        "load_in_4bit": llm_args.load_in_4bit,
        "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "parameters": sum(p.numel() for p in model.parameters()),
    }


def main(argv: list[str] | None = None) -> dict:
    model_args, llm_args, data_args, training_args = parse_args(argv)
    if model_args.bio_decoding not in DECODERS:
        raise SystemExit(f"--bio_decoding must be one of {DECODERS}, got {model_args.bio_decoding!r}")
    if training_args.output_dir in (None, "trainer_output"):
        name = f"encoder-{data_args.dataset}-{model_args.model_name_or_path}".replace("/", "_")
        training_args.output_dir = f"runs/{name}"
    push_to_hub = training_args.push_to_hub
    training_args.push_to_hub = (
        False  # no checkpoint pushes during training: one push at the end, with a card
    )
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    set_seed(training_args.seed)
    warn_if_slow_bf16(training_args)

    # Data: BIO-tagged instances; labels on each word's first sub-word, long instances windowed.
    dataset = data_args.load()
    labels = label_names(dataset["train"])
    gold = {
        split: [[labels[i] for i in tags] for tags in dataset[split]["ner_tags"]]
        for split in ("validation", "test")
    }
    model, tokenizer, is_llm = load_model(model_args, llm_args, labels)
    # How the corpus cut words, so tag.py cuts raw text the same way.
    word_style = infer_word_style(w for words in dataset["train"]["tokens"] for w in words)
    setattr(model.config, WORD_STYLE_KEY, word_style)
    encoder = WordEncoder(tokenizer, model_args.max_seq_length, model_args.stride)
    _, train_features = windowed_dataset(encoder, dataset["train"])
    dev_windows, dev_features = windowed_dataset(encoder, dataset["validation"], sort_by_length=True)

    # Training: Trainer with dev strict F1 after every epoch, early stopping, best checkpoint restored.
    timer = EpochTimer()
    callbacks = [timer]
    if training_args.load_best_model_at_end:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=data_args.early_stopping_patience))
    trainer = WindowedTrainer(
        model=model,
        args=training_args,
        train_dataset=train_features,
        eval_dataset=dev_features,
        data_collator=DataCollatorForTokenClassification(tokenizer),
        processing_class=tokenizer,
        compute_metrics=DevScorer(dev_windows, gold["validation"], labels, model_args.bio_decoding),
        callbacks=callbacks,
    )
    logger.info(
        "world size %d, %d train windows, %d dev windows",
        training_args.world_size,
        len(train_features),
        len(dev_features),
    )
    train_result = trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    trainer.save_model()
    if is_llm and trainer.is_world_process_zero():
        save_info(training_args.output_dir, model, model_args.model_name_or_path, llm_args, word_style)
    if not trainer.is_world_process_zero():
        return {}

    # Evaluation: whole-sentence predictions on dev and test, SemEval scores, outputs (and the Hub).
    tagger = EncoderTagger(
        trainer.model.eval(),
        tokenizer,
        model_args.max_seq_length,
        model_args.stride,
        training_args.per_device_eval_batch_size,
        model_args.bio_decoding,
    )
    scores, records, speed = evaluate_splits(tagger, dataset, gold)
    meta = {
        "model": model_args.model_name_or_path,
        "dataset": data_args.dataset,
        "bio_decoding": model_args.bio_decoding,
        "test_strict_f1_by_decoding": strict_f1_by_decoding(tagger, gold["test"], scores),
        "world_size": training_args.world_size,
        "epochs_run": train_result.metrics.get("epoch"),
        "train_seconds": train_result.metrics.get("train_runtime"),
        "epoch_train_seconds": [round(s, 2) for s in timer.seconds],
        "test_sentences_per_second": speed["test"],
        "dev_sentences_per_second": speed["dev"],
        "best_checkpoint": trainer.state.best_model_checkpoint,
        "max_seq_length": model_args.max_seq_length,
        "peak_rss_mb": peak_rss_mb(),
        **(llm_meta(trainer.model, llm_args) if is_llm else {"model_kind": "encoder"}),
    }
    title = f"{model_args.model_name_or_path} on {data_args.dataset}"
    write_outputs(training_args.output_dir, scores, {"test": records["test"]}, title, meta)
    if push_to_hub:
        push_with_card(training_args, model_args.model_name_or_path, data_args.dataset, scores, is_llm)
    return {"scores": scores, "meta": meta}


if __name__ == "__main__":
    try:
        main()
    finally:
        end_process_group()
