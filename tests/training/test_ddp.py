"""train_decoder.py under ``accelerate launch`` with two processes: DDP on CPU (gloo), as users launch it.

``accelerate launch --multi_gpu --num_processes 2`` on a machine without GPUs runs two gloo DDP processes
(``--cpu --num_processes 2`` would silently run one). The launcher is started as
``python -m accelerate.commands.launch`` so it is the venv's own, whatever is on PATH.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest
import torch

from tests.helpers import LAUNCH, ROOT, free_port


@pytest.mark.skipif(
    torch.cuda.device_count() == 1, reason="--multi_gpu with 2 processes needs 2 GPUs (or none: gloo on CPU)"
)
def test_train_decoder_runs_two_process_ddp(tiny_llama, tmp_path):
    """Two processes train one LoRA adapter; accumulation keeps the effective batch at 32 (2 x 8 x 2)."""
    output = tmp_path / "ddp"
    # The caller's environment (BIONER_DATA_DIR included), one thread per process, nothing from the network.
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}
    command = [
        *LAUNCH, "--main_process_port", str(free_port()),
        "train_decoder.py", "--dataset", "demo",
        "--model_name_or_path", str(tiny_llama), "--output_dir", str(output),
        "--max_steps", "2", "--max_train_samples", "16", "--max_eval_samples", "4",
        "--eval_strategy", "no", "--save_strategy", "no", "--load_best_model_at_end", "false",
        "--lora_r", "8", "--per_device_train_batch_size", "2",
        "--disable_tqdm", "true", "--report_to", "none",
    ]  # fmt: skip
    result = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        pytest.fail(
            f"accelerate launch exited {result.returncode}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
    assert "world size 2, gradient accumulation 8, effective batch 32" in result.stderr
    meta = json.loads((output / "results.json").read_text())["meta"]
    assert meta["world_size"] == 2, meta
    assert meta["effective_batch_size"] == 32, meta
    assert meta["peft"] is True
    assert (output / "adapter_config.json").is_file()
    assert (output / "adapter_model.safetensors").is_file()
    assert (output / "bioner_decoder.json").is_file()


def test_end_process_group_leaves_a_joined_group_and_is_a_no_op_otherwise(monkeypatch):
    """Both training scripts end with it, so a rank that returns early never exits with a live gloo group."""
    import torch.distributed as dist

    from bioner.training.distributed import end_process_group

    assert end_process_group() is False
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", str(free_port()))
    dist.init_process_group("gloo", rank=0, world_size=1)
    assert end_process_group() is True
    assert not dist.is_initialized()
    assert end_process_group() is False
