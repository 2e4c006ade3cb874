"""Domain-adaptive pre-training: masked-LM continued pre-training of an encoder on an unlabelled pool.

    python -m bioner.training.dapt --model minilm --pool ../shared/pubmed/pubmed20n0014.xml.gz \\
        --pool_size 20000 --dataset bc5cdr --leakage_corpora ../shared/corpora/bc5cdr \\
        --dapt_steps 2000 --output_dir runs/dapt-minilm
    python train_encoder.py --dataset bc5cdr --model_name_or_path runs/dapt-minilm ...

The pool is the one distillation uses (`bioner.training.distill.dataset_pool`: the first N sentences that pass
the leakage filter, cut in ``--word_style`` or the ``--dataset``'s style); its sentences are encoded as the
token classifier will see them (pre-split words, `bioner.decoding.windows.WordEncoder`; long sentences become
several windows, never cut) and masked at random (15 %). The last ``--dapt_eval_sentences`` pool sentences are
held out: their masked-LM loss before and after training is the run's measure. The offline MiniLM and MPNet
ship without their MLM head (sentence-transformers models): the head is initialised, and the log and
``dapt.json`` say so. The output folder holds the masked-LM model, its tokenizer and ``dapt.json``;
``train_encoder.py`` loads it as any encoder (a fresh token-classification head on the adapted body).
"""

from __future__ import annotations

import json
import logging
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from datasets import Dataset
from transformers import (
    AutoModelForMaskedLM,
    DataCollatorForLanguageModeling,
    HfArgumentParser,
    Trainer,
    TrainingArguments,
)

from bioner.corpora.sources import load_run_dataset
from bioner.data.files import DataFormatError
from bioner.data.text import DEFAULT_WORD_STYLE, infer_word_style
from bioner.decoding.windows import WordEncoder
from bioner.evaluation.records import OutputFolderError
from bioner.models.registry import ModelLoadError, load_tokenizer, resolve
from bioner.training.distill import dataset_pool
from bioner.training.run import start_run

logger = logging.getLogger(__name__)

DAPT_FILE = "dapt.json"


@dataclass
class DaptArguments:
    model: str = field(
        default="minilm", metadata={"help": "Encoder alias, folder or Hub id (BERT, MPNet...)."}
    )
    pool: str | None = field(
        default=None, metadata={"help": "Unlabelled text: PubMed XML, PubTator, BioC..."}
    )
    pool_size: int = field(default=20000, metadata={"help": "Pool sentences (first N that pass the filter)."})
    dataset: str | None = field(
        default=None,
        metadata={
            "help": "The dataset to fine-tune on later: its dev/test sentences are kept out of the pool."
        },
    )
    data_dir: str | None = field(default=None, metadata={"help": "Folder of registered datasets."})
    word_style: str | None = field(
        default=None, metadata={"help": "split or genia (default: the --dataset's style, else split)."}
    )
    leakage_corpora: list[str] = field(
        default_factory=list, metadata={"help": "Releases whose dev/test PMIDs are kept out of the pool."}
    )
    dapt_steps: int | None = field(
        default=None, metadata={"help": "Optimizer steps (else --num_train_epochs)."}
    )
    mlm_probability: float = field(default=0.15, metadata={"help": "Share of sub-words masked."})
    max_seq_length: int = field(default=256, metadata={"help": "Sub-words per window."})
    dapt_eval_sentences: int = field(
        default=200, metadata={"help": "Pool sentences held out to measure the masked-LM loss."}
    )


def check_output_dir(output_dir: str | Path) -> None:
    """Refuse a folder that already holds a model or another run's results."""
    output_dir = Path(output_dir)
    for name in ("config.json", DAPT_FILE, "results.json"):
        if (output_dir / name).is_file():
            raise OutputFolderError(f"{output_dir / name} exists: pass another --output_dir")


def load_mlm(model: str):
    """The encoder with its masked-LM head, its tokenizer, and the head parameters that had to be initialised
    (the checkpoint had none)."""
    path = resolve(model).path
    tokenizer = load_tokenizer(path)
    if tokenizer.mask_token is None:
        raise ModelLoadError(
            f"--model {model}: its tokenizer has no mask token; it cannot be trained as an MLM"
        )
    try:
        mlm, info = AutoModelForMaskedLM.from_pretrained(path, output_loading_info=True)
    except (OSError, ValueError) as error:
        raise ModelLoadError(f"--model {model}: no masked-LM model loads from {path} ({error})") from None
    initialised = sorted(info["missing_keys"])
    if initialised:
        logger.warning(
            "%s has no masked-LM head in its checkpoint: %d head parameters initialised (%s)",
            model, len(initialised), ", ".join(initialised[:6]),
        )  # fmt: skip
    return mlm, tokenizer, initialised


def run_dapt(args: DaptArguments, training_args: TrainingArguments) -> dict:
    """Continue pre-training ``args.model`` on the pool and save it in ``output_dir``; returns the facts."""
    if not args.pool:
        raise DataFormatError("--pool", "give the unlabelled text to pre-train on")
    check_output_dir(training_args.output_dir)
    dataset = load_run_dataset(args.dataset, args.data_dir) if args.dataset else None
    word_style = args.word_style or DEFAULT_WORD_STYLE
    if dataset is not None and not args.word_style:
        word_style = infer_word_style(w for words in dataset["train"]["tokens"] for w in words)
    sentences, report = dataset_pool(args.pool, args.pool_size, dataset, word_style, args.leakage_corpora)
    held_out = min(args.dapt_eval_sentences, len(sentences) // 5)
    model, tokenizer, initialised = load_mlm(args.model)
    encoder = WordEncoder(tokenizer, args.max_seq_length, stride=args.max_seq_length // 4)
    words = [list(s.words) for s in sentences]
    cut = len(words) - held_out
    train = Dataset.from_dict({"input_ids": [w.input_ids for w in encoder.windows(words[:cut])]})
    evaluation = Dataset.from_dict({"input_ids": [w.input_ids for w in encoder.windows(words[cut:])]})
    if args.dapt_steps:
        training_args.max_steps = args.dapt_steps
    collator = DataCollatorForLanguageModeling(
        tokenizer, mlm_probability=args.mlm_probability, seed=training_args.seed
    )
    trainer = Trainer(
        model=model, args=training_args, train_dataset=train, eval_dataset=evaluation if held_out else None,
        data_collator=collator, processing_class=tokenizer,
    )  # fmt: skip
    before = trainer.evaluate()["eval_loss"] if held_out else None
    start = time.perf_counter()
    result = trainer.train()
    seconds = time.perf_counter() - start
    after = trainer.evaluate()["eval_loss"] if held_out else None
    trainer.save_model()
    facts = {
        "dapt_model": args.model,
        "dapt_model_path": str(resolve(args.model).path),
        "pool": args.pool,
        "pool_size": len(sentences) - held_out,
        "held_out_sentences": held_out,
        "word_style": word_style,
        "mlm_head_initialised": initialised,
        "steps": trainer.state.global_step,
        "train_seconds": round(seconds, 1),
        "train_loss": round(result.training_loss, 4),
        "held_out_mlm_loss_before": None if before is None else round(before, 4),
        "held_out_mlm_loss_after": None if after is None else round(after, 4),
        "held_out_perplexity_after": None if after is None else round(math.exp(min(after, 50.0)), 2),
        "leakage": report.as_dict(),
    }
    (Path(training_args.output_dir) / DAPT_FILE).write_text(
        json.dumps(facts, indent=2) + "\n", encoding="utf-8"
    )
    logger.info("masked-LM loss on %d held-out pool sentences: %s -> %s", held_out, before, after)
    return facts


def main(argv: list[str] | None = None) -> dict:
    parser = HfArgumentParser((DaptArguments, TrainingArguments))
    parser.set_defaults(
        learning_rate=5e-5, per_device_train_batch_size=32, save_strategy="no", report_to="none"
    )
    args, training_args = parser.parse_args_into_dataclasses(args=argv)
    if training_args.output_dir in (None, "trainer_output"):
        training_args.output_dir = f"runs/dapt-{Path(args.model).name}"
    start_run(training_args)
    try:
        return run_dapt(args, training_args)
    except (ModelLoadError, DataFormatError, OutputFolderError) as error:
        raise SystemExit(str(error)) from None


if __name__ == "__main__":
    main(sys.argv[1:])
