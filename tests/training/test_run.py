"""The run set-up shared by the training scripts: output folder, seed, pushes, early stopping, facts."""

from __future__ import annotations

import json

import pytest
from transformers import EarlyStoppingCallback, TrainingArguments

from bioner.training.run import (
    TRAIN_META_FILE,
    default_output_dir,
    early_stopping,
    effective_batch_size,
    finish_run_dir,
    start_run,
    write_train_meta,
)


def _args(tmp_path, **options) -> TrainingArguments:
    return TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to="none", **options)


def test_default_output_dir_names_kind_dataset_and_model(tmp_path):
    args = _args(tmp_path)
    assert default_output_dir(args, "encoder", "demo", "minilm") == str(tmp_path)  # given: kept
    args.output_dir = "trainer_output"  # the transformers default: replaced
    assert default_output_dir(args, "decoder", "bc5cdr", "org/model") == "runs/decoder-bc5cdr-org_model"
    assert args.output_dir == "runs/decoder-bc5cdr-org_model"


def test_start_run_holds_back_checkpoint_pushes_and_seeds(tmp_path):
    import torch

    args = _args(tmp_path, push_to_hub=True, seed=7)
    assert start_run(args) is True and args.push_to_hub is False
    first = torch.rand(3)
    start_run(args)
    assert torch.equal(first, torch.rand(3))
    assert start_run(_args(tmp_path)) is False


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"eval_strategy": "epoch", "save_strategy": "epoch", "load_best_model_at_end": True}, 1),
        ({"eval_strategy": "epoch", "save_strategy": "epoch", "load_best_model_at_end": False}, 0),
        ({"eval_strategy": "no", "save_strategy": "no"}, 0),
    ],
)
def test_early_stopping_only_when_the_best_dev_checkpoint_is_kept(tmp_path, options, expected):
    callbacks = early_stopping(_args(tmp_path, **options), patience=3)
    assert len(callbacks) == expected
    assert all(isinstance(c, EarlyStoppingCallback) and c.early_stopping_patience == 3 for c in callbacks)


def test_effective_batch_size(tmp_path):
    args = _args(tmp_path, per_device_train_batch_size=4, gradient_accumulation_steps=8)
    assert effective_batch_size(args) == 32 * args.world_size


def test_write_train_meta(tmp_path):
    path = write_train_meta(tmp_path, {"train_seconds": 1.5, "peak_memory_gb": 0.4})
    assert path == tmp_path / TRAIN_META_FILE
    assert json.loads(path.read_text()) == {"train_seconds": 1.5, "peak_memory_gb": 0.4}


def test_finish_run_dir_removes_checkpoints_and_evens_file_modes(tmp_path):
    (tmp_path / "checkpoint-5").mkdir()
    (tmp_path / "checkpoint-5" / "optimizer.pt").write_bytes(b"x")
    (tmp_path / "config.json").write_text("{}")
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"w")
    weights.chmod(0o600)  # as safetensors writes it
    assert finish_run_dir(tmp_path, keep_checkpoints=True) == []
    assert (tmp_path / "checkpoint-5").is_dir()
    assert finish_run_dir(tmp_path) == ["checkpoint-5"]
    assert not (tmp_path / "checkpoint-5").exists()
    assert weights.stat().st_mode & 0o777 == (tmp_path / "config.json").stat().st_mode & 0o777
    assert weights.stat().st_mode & 0o044  # readable by others, as every other file
