"""A newcomer's first runs of train_encoder.py: a folder of JSON Lines records as --dataset, and logs without
bitsandbytes' import-time kernel notice."""

import json
import logging
import subprocess
import sys

import pytest

import bioner
import train_encoder
from tests.helpers import ROOT


def test_train_encoder_trains_on_a_folder_of_jsonl_records(tiny_bert, demo_splits, tmp_path):
    data = tmp_path / "my_corpus"
    data.mkdir()
    names = ["O", *sorted({tag for _, tags in demo_splits["train"] for tag in tags} - {"O"})]
    (data / "labels.json").write_text(json.dumps(names))
    for split, stem in (("train", "train"), ("validation", "validation"), ("test", "test")):
        records = [
            {"tokens": tokens, "ner_tags": [names.index(tag) for tag in tags]}
            for tokens, tags in demo_splits[split][:12]
        ]
        (data / f"{stem}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    output = tmp_path / "run"
    args = ["--model_name_or_path", str(tiny_bert), "--dataset", str(data), "--output_dir", str(output)]
    train_encoder.main(
        args + ["--num_train_epochs", "1", "--use_cpu", "--disable_tqdm", "true", "--logging_steps", "1000"]
    )
    results = json.loads((output / "results.json").read_text())
    assert set(results) == {"dev", "test", "meta"}
    config = json.loads((output / "config.json").read_text())
    assert set(config["id2label"].values()) <= set(names)
    assert not list(output.glob("checkpoint-*"))


def test_only_the_bitsandbytes_kernel_notice_is_dropped():
    logger = logging.getLogger("bitsandbytes.backends.cpu.ops")

    def record(message: str) -> logging.LogRecord:
        return logger.makeRecord(logger.name, logging.WARNING, __file__, 1, message, ("exc",), None)

    assert not logger.filter(record(bioner.BNB_KERNEL_NOTICE + ": %s. Please make sure ..."))
    assert logger.filter(record("bitsandbytes: something else went wrong: %s"))


def test_importing_the_training_scripts_prints_no_bitsandbytes_kernel_notice():
    """transformers' Trainer imports peft, which imports bitsandbytes, whose CPU backend warns that its fused
    4-bit kernel did not load (no `kernels` package); the scripts import bioner first, which drops it."""
    pytest.importorskip("bitsandbytes")
    code = "import sys, train_encoder, train_decoder; print('bitsandbytes' in sys.modules)"
    completed = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stdout.strip() == "True"  # the import that emits the notice did happen
    assert "gemm_4bit_forward" not in completed.stderr and "kernels-community" not in completed.stderr
