"""Tiny random encoders built in the test session (no downloads): a WordPiece BERT over the demo vocabulary."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
LABELS = ["O", "B-Chemical", "B-Disease", "I-Chemical", "I-Disease"]


class ContextFreeTagger(torch.nn.Module):
    """A fake token classifier whose logits depend on each token id alone, so windowing can't change them."""

    def __init__(self, vocab_size: int):
        super().__init__()
        torch.manual_seed(0)
        self.table = torch.nn.Embedding(vocab_size, len(LABELS))
        self.config = SimpleNamespace(id2label=dict(enumerate(LABELS)), num_labels=len(LABELS))

    def forward(self, input_ids, attention_mask):
        return SimpleNamespace(logits=self.table(input_ids))


def build_tiny_bert(directory: Path, sentences, *, hidden: int = 32, seed: int = 0) -> Path:
    """Save a 2-layer random BERT and a WordPiece tokenizer whose vocabulary covers ``sentences``.

    Words are split so that some of them become several sub-words (``##`` pieces), which exercises the
    first-sub-word labelling.
    """
    from transformers import BertConfig, BertModel, BertTokenizerFast

    words = sorted({w.lower() for tokens in sentences for w in tokens})
    vocab = dict.fromkeys(SPECIAL)
    for word in words:
        if len(word) > 6:  # long words become prefix + ## suffix pieces
            vocab[word[:4]] = None
            vocab["##" + word[4:]] = None
        else:
            vocab[word] = None
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer = BertTokenizerFast(vocab={piece: i for i, piece in enumerate(vocab)}, do_lower_case=True)
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=hidden,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=2 * hidden,
        max_position_embeddings=256,
    )
    BertModel(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def demo_splits():
    from bioner.demo import make_demo_splits

    return make_demo_splits()


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory, demo_splits) -> Path:
    sentences = [tokens for split in demo_splits.values() for tokens, _ in split]
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert"), sentences)


@pytest.fixture(scope="session")
def demo_encoder(tmp_path_factory, tiny_bert) -> Path:
    """The tiny BERT fine-tuned on the demo corpus (test strict F1 about 0.96): an encoder with the demo labels."""
    import train_encoder

    output = tmp_path_factory.mktemp("demo-encoder")
    train_encoder.main(
        ["--model_name_or_path", str(tiny_bert), "--dataset", "demo", "--output_dir", str(output),
         "--max_steps", "80", "--learning_rate", "5e-3", "--use_cpu", "--per_device_train_batch_size", "16",
         "--eval_strategy", "no", "--save_strategy", "no", "--load_best_model_at_end", "false",
         "--disable_tqdm", "true", "--report_to", "none", "--logging_steps", "1000"]
    )  # fmt: skip
    return output
