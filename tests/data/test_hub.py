"""Hub datasets of BIO sentences (bioner.data.hub), with ``datasets.load_dataset`` replaced; the real fake-Hub
round trip is tested with bioner.hub (tests/hub) and the dispatch with bioner.corpora.sources."""

from __future__ import annotations

import logging

import datasets
import pytest

from bioner.data.conll import label_names
from bioner.data.files import DataFormatError
from bioner.data.hub import load_hub_dataset


def _fake_hub(monkeypatch: pytest.MonkeyPatch, raw: datasets.DatasetDict | Exception) -> None:
    def load_dataset(repo_id: str) -> datasets.DatasetDict:
        if isinstance(raw, Exception):
            raise raw
        return raw

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)


def _split(tags: list[list[str]], **extra) -> datasets.Dataset:
    return datasets.Dataset.from_dict(
        {"tokens": [["w"] * len(row) for row in tags], "ner_tags": tags, **extra}
    )


def test_hub_string_tags_and_dev_split(monkeypatch: pytest.MonkeyPatch) -> None:
    split = datasets.Dataset.from_dict({"tokens": [["a", "b"]], "ner_tags": [["I-X", "I-X"]], "extra": [1]})
    _fake_hub(monkeypatch, datasets.DatasetDict(train=split, dev=split, test=split))
    ds = load_hub_dataset("org/name")
    assert list(ds) == ["train", "validation", "test"]
    assert label_names(ds) == ["O", "B-X", "I-X"]
    assert ds["validation"][0] == {"id": "validation-000000", "tokens": ["a", "b"], "ner_tags": [1, 2]}


def test_hub_classlabel_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    features = datasets.Features(
        {
            "tokens": datasets.Sequence(datasets.Value("string")),
            "ner_tags": datasets.Sequence(datasets.ClassLabel(names=["O", "B-Y", "I-Y"])),
        }
    )
    split = datasets.Dataset.from_dict(
        {"tokens": [["a", "b", "c"]], "ner_tags": [[1, 2, 0]]}, features=features
    )
    _fake_hub(monkeypatch, datasets.DatasetDict(train=split, valid=split, test=split))
    assert load_hub_dataset("org/name")["test"][0]["ner_tags"] == [1, 2, 0]


def test_hub_missing_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    split = datasets.Dataset.from_dict({"words": [["a"]], "labels": [["O"]]})
    _fake_hub(monkeypatch, datasets.DatasetDict(train=split, validation=split, test=split))
    with pytest.raises(
        DataFormatError, match=r"org/name\[train\]: missing column\(s\) \['ner_tags', 'tokens'\]"
    ):
        load_hub_dataset("org/name")


def test_hub_missing_split_and_failed_load(monkeypatch: pytest.MonkeyPatch) -> None:
    split = _split([["O"]])
    _fake_hub(monkeypatch, datasets.DatasetDict(train=split, test=split))
    with pytest.raises(DataFormatError, match=r"org/name: missing split\(s\) \['validation'\]"):
        load_hub_dataset("org/name")
    _fake_hub(monkeypatch, FileNotFoundError("no such repo"))
    with pytest.raises(DataFormatError, match="loading it as a Hub dataset failed: no such repo"):
        load_hub_dataset("org/name")


def test_hub_rows_are_checked_and_repairs_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    good, stray = _split([["B-X"]]), _split([["O", "I-X"], ["I-Y"]])
    _fake_hub(monkeypatch, datasets.DatasetDict(train=good, validation=good, test=stray))
    caplog.set_level(logging.WARNING, logger="bioner.data.hub")
    assert load_hub_dataset("org/name")["test"]["ner_tags"] == [[0, 1], [2]]
    assert "org/name[test]: rewrote 2 IOB1/stray I- tag(s)" in caplog.text
    with pytest.raises(DataFormatError, match=r"org/name\[test\] row 0: IOB1 or stray I- tag at token 1"):
        load_hub_dataset("org/name", strict_bio=True)
    bad = _split([["O"], ["B-X", "Q"]])
    _fake_hub(monkeypatch, datasets.DatasetDict(train=bad, validation=good, test=good))
    with pytest.raises(DataFormatError, match=r"org/name\[train\] row 1: invalid BIO tag 'Q'"):
        load_hub_dataset("org/name")
