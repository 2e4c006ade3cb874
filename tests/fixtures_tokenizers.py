"""Tiny random RoBERTa and DeBERTa-v3-style encoders with tokenizers trained on the demo corpus (no downloads).

* ``tiny_roberta``: a byte-level BPE (GPT-2/RoBERTa scheme: a word's leading space is part of its first
  sub-word, ``Ġword``) trained with the ``tokenizers`` library, saved as the Hub's roberta-base is
  (vocab.json, merges.txt, tokenizer.json; ``add_prefix_space`` left at its default, False), and a random
  ``RobertaModel``.
* ``tiny_deberta_v3``: a SentencePiece unigram model trained with ``sentencepiece`` with DeBERTa-v3's
  special pieces ([PAD]=0, [CLS]=1, [SEP]=2, [UNK]=3; [MASK] is a control piece here, an added token in the
  real model), wrapped as ``DebertaV2Tokenizer`` (spm.model kept beside tokenizer.json), and a random
  ``DebertaV2Model`` with v3's relative attention (log position buckets, p2c|c2p, shared keys, no absolute
  positions, no token types).

The DeBERTa tokenizer is built from the (piece, score) list read through ``SentencePieceProcessor``; the
Hub-layout test in tests/test_tokenizers.py checks that transformers' own conversion of spm.model (what
microsoft/deberta-v3-* need, since they ship no tokenizer.json) gives the same tokenizer. That conversion needs
protobuf >= 7 beside sentencepiece 0.2.3, hence the pin in requirements.txt.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

ROBERTA_SPECIAL = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]  # ids 0-4, as in roberta-base


def corpus_text(sentences) -> list[str]:
    """Running text, one sentence a line, as a tokenizer would have seen it in pre-training."""
    return [" ".join(tokens) for tokens in sentences]


def build_tiny_roberta(
    directory: Path, sentences, *, vocab_size: int = 400, hidden: int = 32, seed: int = 0
) -> Path:
    import torch
    from tokenizers import ByteLevelBPETokenizer
    from transformers import RobertaConfig, RobertaModel, RobertaTokenizer

    directory.mkdir(parents=True, exist_ok=True)
    bpe = ByteLevelBPETokenizer()  # add_prefix_space=False, like GPT-2 and RoBERTa
    bpe.train_from_iterator(
        corpus_text(sentences),
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=ROBERTA_SPECIAL,
        show_progress=False,
    )
    bpe.save_model(str(directory))  # vocab.json + merges.txt
    tokenizer = RobertaTokenizer.from_pretrained(directory)
    tokenizer.save_pretrained(directory)
    torch.manual_seed(seed)
    config = RobertaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=2 * hidden,
        max_position_embeddings=514,  # 512 positions after RoBERTa's padding_idx offset
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    RobertaModel(config, add_pooling_layer=False).save_pretrained(directory)
    return directory


def train_deberta_spm(sentences, *, vocab_size: int = 400) -> bytes:
    """A unigram spm.model with DeBERTa-v3's special pieces (the demo text supports ~220 pieces at most)."""
    import sentencepiece as spm

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus_text(sentences)),
        model_writer=model,
        model_type="unigram",
        vocab_size=vocab_size,
        hard_vocab_limit=False,
        pad_id=0,
        pad_piece="[PAD]",
        bos_id=1,
        bos_piece="[CLS]",
        eos_id=2,
        eos_piece="[SEP]",
        unk_id=3,
        unk_piece="[UNK]",
        control_symbols=["[MASK]"],
        num_threads=1,
        minloglevel=2,
    )
    return model.getvalue()


def deberta_v3_config(vocab_size: int, hidden: int = 32):
    """microsoft/deberta-v3-large's attention settings at toy size."""
    from transformers import DebertaV2Config

    return DebertaV2Config(
        vocab_size=vocab_size,
        hidden_size=hidden,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=2 * hidden,
        max_position_embeddings=512,
        relative_attention=True,
        max_relative_positions=-1,
        position_buckets=16,
        pos_att_type=["p2c", "c2p"],
        share_att_key=True,
        norm_rel_ebd="layer_norm",
        position_biased_input=False,
        type_vocab_size=0,
        layer_norm_eps=1e-7,
        pad_token_id=0,
    )


def build_tiny_deberta_v3(
    directory: Path, sentences, *, vocab_size: int = 400, hidden: int = 32, seed: int = 0
) -> Path:
    import sentencepiece as spm
    import torch
    from transformers import DebertaV2Model, DebertaV2Tokenizer

    directory.mkdir(parents=True, exist_ok=True)
    spm_path = directory / "spm.model"
    spm_path.write_bytes(train_deberta_spm(sentences, vocab_size=vocab_size))
    processor = spm.SentencePieceProcessor(model_file=str(spm_path))
    pieces = [(processor.id_to_piece(i), processor.get_score(i)) for i in range(processor.get_piece_size())]
    tokenizer = DebertaV2Tokenizer(vocab=pieces, vocab_file=str(spm_path), unk_id=processor.unk_id())
    tokenizer.save_pretrained(directory)
    torch.manual_seed(seed)
    DebertaV2Model(deberta_v3_config(len(tokenizer), hidden)).save_pretrained(directory)
    return directory


def _demo_sentences(demo_splits):
    return [tokens for split in demo_splits.values() for tokens, _ in split]


@pytest.fixture(scope="session")
def tiny_roberta(tmp_path_factory, demo_splits) -> Path:
    return build_tiny_roberta(tmp_path_factory.mktemp("tiny-roberta"), _demo_sentences(demo_splits))


@pytest.fixture(scope="session")
def tiny_deberta_v3(tmp_path_factory, demo_splits) -> Path:
    return build_tiny_deberta_v3(tmp_path_factory.mktemp("tiny-deberta-v3"), _demo_sentences(demo_splits))
