"""Tiny random Llama decoders with a byte-level BPE tokenizer trained in the test session (no downloads).

The tokenizer is GPT-2/SmolLM2-style (byte-level BPE, ChatML special tokens) and its chat template injects a
default system prompt when none is given, as SmolLM2's does.
"""

from __future__ import annotations

from pathlib import Path

import pytest

CHAT_SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|pad|>"]
CHATML_WITH_DEFAULT_SYSTEM = (
    "{% for message in messages %}"
    "{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful assistant called Tiny.<|im_end|>\n' }}{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def build_tiny_llama(
    directory: Path,
    sentences,
    labels,
    *,
    hidden: int = 64,
    tied: bool = True,
    seed: int = 0,
    vocab_size: int = 700,
) -> Path:
    """Save a 2-layer random ``LlamaForCausalLM`` and a chat tokenizer trained on ``sentences`` and our prompts."""
    import torch
    from tokenizers import ByteLevelBPETokenizer
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from bioner.prompts import build_prompt_format

    directory.mkdir(parents=True, exist_ok=True)
    texts = [" ".join(tokens) for tokens in sentences]
    for output_format in ("tags", "paper"):
        prompt_format = build_prompt_format(output_format, labels, use_chat_template=False)
        texts += [
            prompt_format.prompt(tokens) + prompt_format.answer(tokens, ["O"] * len(tokens))
            for tokens in sentences[:50]
        ]
        texts += [prompt_format.prompt([]) + "\n".join(labels)]
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        texts, vocab_size=vocab_size, min_frequency=2, special_tokens=CHAT_SPECIAL, show_progress=False
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|pad|>", bos_token=None, unk_token=None
    )
    tokenizer.chat_template = CHATML_WITH_DEFAULT_SYSTEM
    tokenizer.save_pretrained(directory)
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        tie_word_embeddings=tied,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
    )
    LlamaForCausalLM(config).save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory, demo_splits) -> Path:
    """A tiny random Llama with tied embeddings (like SmolLM2) and a chat template."""
    from tests.fixtures_models import LABELS

    sentences = [tokens for split in demo_splits.values() for tokens, _ in split]
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"), sentences, LABELS)


@pytest.fixture(scope="session")
def tiny_llama_untied(tmp_path_factory, demo_splits) -> Path:
    """The same with separate input and output embeddings (like Mistral-7B and Llama-3.1-8B)."""
    from tests.fixtures_models import LABELS

    sentences = [tokens for split in demo_splits.values() for tokens, _ in split]
    return build_tiny_llama(
        tmp_path_factory.mktemp("tiny-llama-untied"), sentences, LABELS, tied=False, seed=1
    )


DECODER_FAST = [
    "--dataset", "demo",
    "--eval_strategy", "no",
    "--save_strategy", "no",
    "--load_best_model_at_end", "false",
    "--disable_tqdm", "true",
    "--report_to", "none",
]  # fmt: skip


def train_instances(n: int = 16):
    from bioner.data import load_ner_dataset

    split = load_ner_dataset("demo")["train"].select(range(n))
    names = split.features["ner_tags"].feature.names
    return [list(t) for t in split["tokens"]], [[names[i] for i in tags] for tags in split["ner_tags"]]


@pytest.fixture(scope="session", params=["tags", "paper"])
def overfit_run(request, tmp_path_factory, tiny_llama) -> tuple[Path, dict]:
    """Full fine-tuning of the tiny Llama on 16 demo sentences until it has memorised them."""
    import train_decoder

    output = tmp_path_factory.mktemp(f"overfit-{request.param}")
    result = train_decoder.main(
        [
            *DECODER_FAST,
            "--model_name_or_path",
            str(tiny_llama),
            "--output_dir",
            str(output),
            "--output_format",
            request.param,
            "--use_peft",
            "false",
            "--max_train_samples",
            "16",
            "--max_eval_samples",
            "16",
            "--learning_rate",
            "3e-3",
            "--lr_scheduler_type",
            "constant",
            "--max_steps",
            "250",
            "--per_device_train_batch_size",
            "16",
            "--effective_batch_size",
            "16",
        ]  # fmt: skip
    )
    return output, result
