"""Split names (bioner.data.splits): one table of spellings, and the functions that read it."""

from __future__ import annotations

from pathlib import Path

import pytest

from bioner.data.files import DataFormatError
from bioner.data.splits import (
    SPLIT_ALIASES,
    SPLIT_MARKERS,
    SPLIT_NAMES,
    SPLITS,
    canonical_split,
    missing_splits,
    split_file,
    split_of_file,
    split_stem,
)


def test_the_table_is_consistent() -> None:
    assert tuple(SPLIT_NAMES) == tuple(SPLIT_MARKERS) == SPLITS == ("train", "validation", "test")
    for split, names in SPLIT_NAMES.items():
        assert SPLIT_ALIASES[split] == split  # a canonical name stands for itself
        for name in names:  # every accepted name is marked as its split in a file name
            assert split_of_file(f"corpus_{name}.tsv") == split


@pytest.mark.parametrize(
    ("name", "split"),
    [("dev", "validation"), ("devel", "validation"), ("valid", "validation"), ("validation", "validation"),
     ("train", "train"), ("test", "test"), ("holdout", "holdout"), ("Dev", "Dev")],
)  # fmt: skip
def test_canonical_split(name: str, split: str) -> None:
    assert canonical_split(name) == split


def test_split_stem_is_the_written_file_name() -> None:
    assert [split_stem(split) for split in SPLITS] == ["train", "dev", "test"]
    assert split_stem("devel") == "dev"


@pytest.mark.parametrize(
    ("name", "split"),
    [("CDR_TrainingSet.PubTator.txt", "train"), ("CDR_DevelopmentSet.BioC.xml", "validation"),
     ("bc5cdr_VALID.json", "validation"), ("NCBItestset_corpus.txt", "test"), ("README.md", None),
     ("train_dev.txt", None)],
)  # fmt: skip
def test_split_of_file(name: str, split: str | None) -> None:
    assert split_of_file(name) == split


def test_missing_splits_accepts_any_spelling() -> None:
    assert missing_splits(["train", "dev", "test"]) == []
    assert missing_splits(["devel"]) == ["train", "test"]
    assert missing_splits([]) == list(SPLITS)


def test_split_file_takes_the_first_name_and_suffix_found(tmp_path: Path) -> None:
    for name in ("devel.txt", "validation.tsv", "dev.conll"):
        (tmp_path / name).write_text("a\tO\n")
    assert split_file(tmp_path, "validation", (".tsv", ".conll", ".txt")) == tmp_path / "dev.conll"
    assert split_file(tmp_path, "validation", (".tsv", ".txt")) == tmp_path / "devel.txt"
    with pytest.raises(DataFormatError, match=r"no test split file; expected one of: test\.tsv, test\.txt$"):
        split_file(tmp_path, "test", (".tsv", ".txt"))
