"""What every training script does around the training itself: the run's set-up and its files.

`start_run` configures logging, the seed and mixed precision and holds back the Trainer's own Hub pushes (one
push at the end, with a card: ``bioner.training.publish``); `default_output_dir` names the run folder;
`early_stopping` is the seed's patience; `write_train_meta` keeps the facts of a run without scores;
`finish_run_dir` leaves only what a user needs.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

from transformers import EarlyStoppingCallback, TrainingArguments, set_seed

from bioner.models.precision import warn_if_slow_bf16

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
TRAIN_META_FILE = "train_meta.json"


def default_output_dir(training_args: TrainingArguments, kind: str, dataset: str, model: str) -> str:
    """Set ``output_dir`` to ``runs/<kind>-<dataset>-<model>`` unless one was given; return it."""
    if training_args.output_dir in (None, "trainer_output"):
        training_args.output_dir = "runs/" + f"{kind}-{dataset}-{model}".replace("/", "_")
    return training_args.output_dir


def start_run(training_args: TrainingArguments) -> bool:
    """Logging, seed and the bf16 check; turns the Trainer's checkpoint pushes off and returns whether the
    final model is to be pushed (``--push_to_hub``)."""
    push_to_hub, training_args.push_to_hub = training_args.push_to_hub, False
    logging.basicConfig(format=LOG_FORMAT, level=logging.INFO)
    set_seed(training_args.seed)
    warn_if_slow_bf16(training_args)
    return bool(push_to_hub)


def early_stopping(training_args: TrainingArguments, patience: int) -> list[EarlyStoppingCallback]:
    """The early-stopping callback when the best checkpoint is kept and the dev set is evaluated, else
    none."""
    if training_args.load_best_model_at_end and training_args.eval_strategy != "no":
        return [EarlyStoppingCallback(early_stopping_patience=patience)]
    return []


def effective_batch_size(training_args: TrainingArguments) -> int:
    """Instances per optimizer step: per-device batch x gradient accumulation x processes."""
    return (
        training_args.per_device_train_batch_size
        * training_args.gradient_accumulation_steps
        * training_args.world_size
    )


def write_train_meta(output_dir: str | Path, meta: dict) -> Path:
    """``train_meta.json``: a run's training facts, written instead of ``results.json`` when nothing was
    scored
    (the grid reads a missing ``results.json`` as a failed run)."""
    path = Path(output_dir) / TRAIN_META_FILE
    path.write_text(json.dumps(meta, indent=2) + "\n")
    return path


def finish_run_dir(output_dir: str | Path, keep_checkpoints: bool = False) -> list[str]:
    """Leave a finished run folder as a user needs it: the ``checkpoint-*`` folders removed (unless
    ``keep_checkpoints``; the final model is saved beside them) and every file with the same mode, the one the
    process's umask gives new files (safetensors writes its weights 0600). Returns the removed folders."""
    output_dir = Path(output_dir)
    removed = []
    if not keep_checkpoints:
        for checkpoint in sorted(output_dir.glob("checkpoint-*")):
            if checkpoint.is_dir():
                shutil.rmtree(checkpoint)
                removed.append(checkpoint.name)
        if removed:
            logging.getLogger(__name__).info(
                "removed %s from %s (--keep_checkpoints keeps them)", ", ".join(removed), output_dir
            )
    umask = os.umask(0)
    os.umask(umask)
    for path in output_dir.rglob("*"):
        if path.is_file() and not path.is_symlink():
            path.chmod(0o666 & ~umask)
    return removed
