"""Domain-adaptive pre-training: a few masked-LM steps on a pool give a folder train_encoder.py fine-tunes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import AutoModel

from bioner.data.conll import build_dataset_dict, label_names
from bioner.data.text import detokenize
from bioner.models.token_llm import TokenLLMArguments
from bioner.training.dapt import DAPT_FILE, main
from bioner.training.encoder import load_token_model


@pytest.fixture(scope="module")
def pool_file(tmp_path_factory, demo_splits) -> Path:
    """Twelve one-sentence PubTator documents (titles) from the demo training sentences."""
    sentences = [tokens for tokens, _ in demo_splits["train"][:12]]
    lines = [f"{2000 + i}|t|{detokenize(tokens)[0]}\n{2000 + i}|a|\n" for i, tokens in enumerate(sentences)]
    path = tmp_path_factory.mktemp("dapt-pool") / "pool.PubTator"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def test_dapt_runs_a_few_steps_and_writes_an_encoder_base(tmp_path, tiny_bert, pool_file, demo_splits):
    output = tmp_path / "dapt"
    args = [
        "--model", str(tiny_bert), "--pool", str(pool_file), "--pool_size", "12", "--dataset", "demo",
        "--dapt_steps", "3", "--per_device_train_batch_size", "4", "--dapt_eval_sentences", "2",
        "--max_seq_length", "32", "--use_cpu", "--disable_tqdm", "true", "--output_dir", str(output),
    ]  # fmt: skip
    facts = main(args)
    assert facts["steps"] == 3 and facts["pool_size"] == 10 and facts["held_out_sentences"] == 2
    assert any(key.startswith("cls.") for key in facts["mlm_head_initialised"])  # tiny BERT has no MLM head
    assert facts["held_out_mlm_loss_before"] > 0 and facts["held_out_mlm_loss_after"] > 0
    assert json.loads((output / DAPT_FILE).read_text())["steps"] == 3
    # The folder is a token-classifier base: a fresh head on the adapted body, which training changed.
    labels = label_names(build_dataset_dict(demo_splits))
    model, tokenizer, is_llm = load_token_model(str(output), TokenLLMArguments(), labels)
    assert not is_llm and model.config.num_labels == len(labels) and tokenizer.mask_token == "[MASK]"
    original = AutoModel.from_pretrained(tiny_bert).embeddings.word_embeddings.weight
    assert not torch.equal(model.bert.embeddings.word_embeddings.weight, original)
    # No run overwrites another's folder.
    with pytest.raises(SystemExit, match="exists: pass another --output_dir"):
        main(args)
