"""The corpus arguments every training script shares: the corpus, optionally cut to its first instances."""

from __future__ import annotations

from transformers import HfArgumentParser

from bioner.training.arguments import CorpusArguments


def test_corpus_arguments_load_the_corpus_cut_to_its_first_instances():
    (args,) = HfArgumentParser(CorpusArguments).parse_args_into_dataclasses(
        args=["--dataset", "demo", "--max_train_samples", "5", "--max_eval_samples", "3"]
    )
    assert args.early_stopping_patience == 3 and not args.strict_bio
    corpus = args.load()
    assert set(corpus) == {"train", "validation", "test"}
    assert (len(corpus["train"]), len(corpus["validation"]), len(corpus["test"])) == (5, 3, 3)
    assert corpus["train"]["tokens"][0] == CorpusArguments(dataset="demo").load()["train"]["tokens"][0]
