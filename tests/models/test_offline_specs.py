"""The GGUF conversion check and the MPNet spec, without downloading anything (the real builds are tested in
tests/models/test_offline.py)."""

from __future__ import annotations

import json
import re
import shutil

import pytest
import torch
from transformers import AutoModelForCausalLM

from bioner.models.offline.build import MARKER, OfflineModel
from bioner.models.offline.gguf import check_converted
from bioner.models.offline.mpnet import DIR_NAME, MPNET, MPNET_PARTS, mpnet_dir
from bioner.models.registry import OFFLINE_MODELS


def test_check_converted_accepts_a_faithful_copy_and_names_every_kind_of_damage(tiny_llama, tmp_path):
    reference = AutoModelForCausalLM.from_pretrained(tiny_llama, dtype=torch.float32).state_dict()
    out = tmp_path / "converted"
    shutil.copytree(tiny_llama, out)
    model, tokenizer = check_converted(out, reference)
    assert not model.training and tokenizer is not None
    changed = dict(reference)
    name = next(iter(changed))
    changed[name] = changed[name] + 1
    with pytest.raises(RuntimeError, match="saved weights differ from the GGUF's"):
        check_converted(out, changed)
    config = json.loads((out / "config.json").read_text())
    (out / "config.json").write_text(json.dumps({**config, "quantization_config": {"quant_method": "gguf"}}))
    with pytest.raises(RuntimeError, match="GGUF leftovers"):
        check_converted(out, reference)


def test_mpnet_spec_pins_every_wheel(tmp_path):
    assert isinstance(MPNET, OfflineModel) and OFFLINE_MODELS["mpnet"] is MPNET
    assert MPNET.requirements == MPNET_PARTS and len(MPNET_PARTS) == 5
    assert set(MPNET.wheel_sha256) == set(MPNET_PARTS)
    assert all(re.fullmatch(r"[0-9a-f]{64}", digest) for digest in MPNET.wheel_sha256.values())
    built = tmp_path / DIR_NAME
    built.mkdir()
    (built / MARKER).write_text("{}")
    assert mpnet_dir(tmp_path) == built  # a complete build is a file check: nothing is downloaded
