"""Load errors of bioner.models: a near-miss alias gets a "did you mean", and the offline aliases suggested
are those of the model's kind (LLM token classifiers are decoder LLMs)."""

from __future__ import annotations

import pytest

from bioner.models.errors import load_error
from bioner.models.registry import ALIASES, LLM_TOKEN_CLASSIFIER, ModelLoadError, load_tokenizer

OFFLINE = OSError("We couldn't connect to 'https://huggingface.co' to load the files")


@pytest.mark.parametrize(
    ("name", "meant"), [("minlm", "minilm"), ("MPNET2", "mpnet"), ("smolm2", "smollm2"), ("gema3", "gemma3")]
)
def test_a_near_miss_alias_gets_a_did_you_mean(name, meant):
    message = str(load_error(name, OFFLINE, ("minilm", "mpnet"), tuple(ALIASES)))
    assert f"Could not load '{name}'" in message and f"Did you mean '{meant}'?" in message


@pytest.mark.parametrize("name", ["org/minlm", "./minlm", "some-other-model"])
def test_paths_hub_ids_and_far_names_get_no_did_you_mean(name):
    assert "Did you mean" not in str(load_error(name, OFFLINE, ("minilm", "mpnet"), tuple(ALIASES)))


def test_a_local_name_is_not_corrected(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "minlm").mkdir()
    assert "Did you mean" not in str(load_error("minlm", OFFLINE, ("minilm", "mpnet"), tuple(ALIASES)))


def unreachable(*args, **kwargs):
    raise OFFLINE


def test_registry_loaders_pass_the_aliases_for_the_did_you_mean(monkeypatch):
    import transformers

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", unreachable)
    monkeypatch.setattr(transformers.AutoConfig, "from_pretrained", unreachable)
    with pytest.raises(ModelLoadError, match=r"Did you mean 'minilm'\?"):
        load_tokenizer("minlm")


def test_an_llm_token_classifier_is_told_the_decoder_aliases(monkeypatch):
    import transformers

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", unreachable)
    monkeypatch.setattr(transformers.AutoConfig, "from_pretrained", unreachable)
    with pytest.raises(ModelLoadError) as caught:
        load_tokenizer("no-such-org/no-such-llm", LLM_TOKEN_CLASSIFIER)
    assert "offline alias (smollm2, gemma3, qwen2.5-0.5b, qwen2.5-1.5b)" in str(
        caught.value
    ) and "minilm" not in str(caught.value)
