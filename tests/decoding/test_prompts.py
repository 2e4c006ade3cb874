"""Prompt formats and answer token ids: what the decoder forces at inference is what training produced."""

from __future__ import annotations

import pytest

from bioner.corpora.sources import load_ner_dataset
from bioner.decoding.prompts import AnswerTokenizer, PromptFormat, PromptFormatError, build_prompt_format
from tests.fixtures.models import LABELS
from tests.helpers import DATA_DIR

TRICKY = [
    ["IL-2", "(", "5", "mg/kg", ")", "induced", "Na+", "/", "K+", "-ATPase", "."],
    ["β-blocker", "naïve", "patients", ":", "1:2", "ratio", "<", "0.05", ">"],
    ["a", "'s", "don't", "...", "--", "“quoted”", "100%", "O", "B-Chemical", "<O>"],
    ["x"],
]


def _formats(tokenizer):
    for output_format in ("tags", "paper"):
        for chat in (False, True) if tokenizer.chat_template else (False,):
            yield build_prompt_format(output_format, LABELS, tokenizer, use_chat_template=chat)


def _with_tag_tokens(tokenizer, prompt_format):
    """``tokenizer`` with the format's tag tokens, on a fresh copy (the caller's stays as it was)."""
    if not prompt_format.tag_tokens:
        return tokenizer
    tokenizer = tokenizer.__class__.from_pretrained(tokenizer.name_or_path)
    tokenizer.add_special_tokens({"extra_special_tokens": prompt_format.tag_tokens})
    return tokenizer


def _check_ids(tokenizer, sentences):
    for base_format in _formats(tokenizer):
        tok = _with_tag_tokens(tokenizer, base_format)
        answers = AnswerTokenizer(tok, base_format)
        for words, tags in sentences:
            pieces = answers.answer_ids(words, tags)
            assert pieces == answers.whole_answer_ids(words, tags), (base_format.output_format, words)
            # the prompt/answer boundary too: prompt ids + answer ids == the whole text tokenized at once
            whole = tok(
                base_format.prompt(words) + base_format.answer(words, tags),
                add_special_tokens=base_format.add_special_tokens,
            )["input_ids"]
            assert answers.prompt_ids(words) + pieces[:-1] == whole, (base_format.output_format, words)


def _tagged(sentences):
    cycle = ["B-Chemical", "I-Chemical", "O", "B-Disease", "O"]
    return [(words, [cycle[i % len(cycle)] for i in range(len(words))]) for words in sentences]


def test_piecewise_ids_equal_whole_answer_tiny(tiny_llama, demo_splits):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_llama)
    _check_ids(tokenizer, list(demo_splits["test"][:40]) + _tagged(TRICKY))


def test_piecewise_ids_equal_whole_answer_smollm2(smollm2):
    """SmolLM2's real tokenizer on real BC5CDR sentences (and tricky tokens), every format."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(smollm2)
    _check_ids(tokenizer, _bc5cdr(150) + _tagged(TRICKY))


def test_piecewise_ids_equal_whole_answer_gemma3(gemma3):
    """Gemma 3's SentencePiece-style tokenizer (spaces as "▁", no dummy prefix, byte fallback; like Mistral's,
    unlike the byte-level ones above) on real BC5CDR sentences and tricky tokens. It has no chat template."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gemma3)
    assert not tokenizer.chat_template
    assert tokenizer.tokenize("a  b\nc") == ["a", "▁▁", "b", "\n", "c"]  # SentencePiece-style pieces
    _check_ids(tokenizer, _bc5cdr(150) + _tagged(TRICKY))


def _bc5cdr(n: int) -> list[tuple[list[str], list[str]]]:
    split = load_ner_dataset("bc5cdr", DATA_DIR)["train"].select(range(n))
    names = split.features["ner_tags"].feature.names
    return [(list(w), [names[i] for i in t]) for w, t in zip(split["tokens"], split["ner_tags"], strict=True)]


def test_example_masks_the_prompt(tiny_llama):
    from transformers import AutoTokenizer

    prompt_format = build_prompt_format("tags", LABELS)
    tokenizer = _with_tag_tokens(AutoTokenizer.from_pretrained(tiny_llama), prompt_format)
    answers = AnswerTokenizer(tokenizer, prompt_format)
    example = answers.example(["Aspirin", "helps"], ["B-Chemical", "O"])
    prompt = answers.prompt_ids(["Aspirin", "helps"])
    assert example["completion_mask"] == [0] * len(prompt) + [1] * (len(example["input_ids"]) - len(prompt))
    assert example["input_ids"][-1] == tokenizer.eos_token_id
    answer_text = tokenizer.decode(example["input_ids"][len(prompt) :])
    assert answer_text == "Aspirin<B-Chemical>\nhelps<O>\n" + tokenizer.eos_token


def test_chat_template_default_system_prompt_is_replaced(tiny_llama):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_llama)
    plain_chat = tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False)
    assert "helpful assistant called Tiny" in plain_chat  # the fixture's template injects a default
    prompt_format = build_prompt_format("tags", LABELS, tokenizer)
    assert prompt_format.chat_template
    assert "Tiny" not in prompt_format.prompt(["w"])
    assert "biomedical named-entity tagger" in prompt_format.prompt(["w"])
    assert prompt_format.prompt(["a", "b"]).endswith("<|im_start|>assistant\n")


def test_paper_format_is_the_seed_layout(tiny_llama):
    from transformers import AutoTokenizer

    prompt_format = build_prompt_format("paper", LABELS, AutoTokenizer.from_pretrained(tiny_llama))
    prompt = prompt_format.prompt(["Aspirin", "helps"])
    assert not prompt_format.chat_template  # the seed used no chat template
    assert "### Instruction:" in prompt and "### Input:\nAspirin helps\n" in prompt
    assert prompt.endswith("### Response:\n")
    assert "Chemical, Disease" in prompt and "B-Chemical" not in prompt
    assert prompt_format.answer(["Aspirin", "helps"], ["B-Chemical", "O"]) == "Aspirin:B-Chemical\nhelps:O\n"
    assert prompt_format.tag_tokens == []


def test_format_round_trips_through_file(tmp_path):
    prompt_format = build_prompt_format("tags", LABELS)
    prompt_format.save(tmp_path)
    assert PromptFormat.load(tmp_path) == prompt_format
    (tmp_path / "bioner_decoder.json").write_text("{not json")
    with pytest.raises(PromptFormatError, match="bioner_decoder.json"):
        PromptFormat.load(tmp_path)


def test_bad_format_and_missing_template_are_clear_errors():
    with pytest.raises(PromptFormatError, match="--answer_format"):
        build_prompt_format("json", LABELS)
    with pytest.raises(PromptFormatError, match="no chat template"):
        build_prompt_format("tags", LABELS, tokenizer=None, use_chat_template=True)
