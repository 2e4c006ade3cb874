"""Tests for reading BIO/CoNLL files, the demo corpus, dataset loading and the Table I/II statistics.

The real-data test checks the counts published in shared/data/README.md; it is skipped only when the data
folder (``BIONER_DATA_DIR``, default ``../shared/data``) does not exist.
"""

from __future__ import annotations

import json
import logging
import sys
import types
from pathlib import Path

import datasets
import pytest

import prepare_datasets
from bioner.data.conll import (
    DataFormatError,
    _load_from_hub,
    label_names,
    load_ner_dataset,
    read_conll,
    resolve_data_dir,
    write_conll,
)
from bioner.data.demo import make_demo_splits
from metrics.bio_ner.scoring import extract_entities
from tests.helpers import DATA_DIR


def write(tmp_path: Path, text: str | bytes, name: str = "f.tsv") -> Path:
    path = tmp_path / name
    if isinstance(text, str):
        text = text.encode("utf-8")
    path.write_bytes(text)
    return path


# --- read_conll: valid files ---------------------------------------------------------------------------


def test_two_columns(tmp_path: Path) -> None:
    conll = read_conll(
        write(tmp_path, "Aspirin\tB-Chemical\ncauses\tO\nrenal\tB-Disease\nfailure\tI-Disease\n\n")
    )
    assert conll.sentences == [
        (["Aspirin", "causes", "renal", "failure"], ["B-Chemical", "O", "B-Disease", "I-Disease"])
    ]
    assert conll.repairs == 0


def test_four_columns_tag_last_jnlpba_style(tmp_path: Path) -> None:
    text = "IL-2\tNN\tx\tB-DNA\ngene\tNN\tx\tI-DNA\nexpression\tNN\tx\tO\n\nNF-kappa\tNN\tx\tB-protein\n"
    conll = read_conll(write(tmp_path, text))
    assert conll.sentences == [
        (["IL-2", "gene", "expression"], ["B-DNA", "I-DNA", "O"]),
        (["NF-kappa"], ["B-protein"]),
    ]


def test_space_separated_when_first_line_has_no_tab(tmp_path: Path) -> None:
    conll = read_conll(write(tmp_path, "EU B-ORG\nrejects O\n\n"))
    assert conll.sentences == [(["EU", "rejects"], ["B-ORG", "O"])]


def test_docstart_blank_runs_missing_final_blank_crlf_and_bom(tmp_path: Path) -> None:
    text = "\ufeff-DOCSTART-\tO\n\na\tO\nb\tB-X\n-DOCSTART-\tO\nc\tO\n\n\n\n  \nd\tI-X\r\ne\tI-X"
    conll = read_conll(write(tmp_path, text))
    assert conll.sentences == [(["a", "b"], ["O", "B-X"]), (["c"], ["O"]), (["d", "e"], ["B-X", "I-X"])]
    assert conll.repairs == 1  # the I-X that starts a sentence


# --- read_conll: errors name file:line -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "what"),
    [
        ("a\tO\nb\tx\tO\n", 2, "expected 2 TAB-separated columns (as on line 1), found 3"),
        ("a\tPOS\tO\n\nb\tO\n", 3, "expected 3 TAB-separated columns (as on line 1), found 2"),
        ("a\tO\nb O\n", 2, "found 1"),
        ("a\tO\n\n\nb\tO\n\tO\n", 5, "empty token"),
        ("a\tO\nb\tB-\n", 2, "invalid BIO tag 'B-'"),
        ("a\tO\nb\tBegin-X\n", 2, "invalid BIO tag 'Begin-X'"),
        ("a\tO\nb\tO \n", 2, "invalid BIO tag 'O '"),
        ("token-only\n", 1, "found one column"),
    ],
)
def test_line_errors_name_file_and_line(tmp_path: Path, text: str, line: int, what: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(DataFormatError) as err:
        read_conll(path)
    assert str(err.value).startswith(f"{path}:{line}: ")
    assert what in str(err.value)


def test_non_utf8_byte_reports_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, b"a\tO\n\nb\tO\ncaf\xe9\tO\n")
    with pytest.raises(DataFormatError, match=r"f\.tsv:4: not valid UTF-8: byte 0xe9 at column 4"):
        read_conll(path)


@pytest.mark.parametrize("text", ["", "\n\n", "-DOCSTART-\tO\n\n"])
def test_file_without_sentences(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(DataFormatError, match="no sentences found") as err:
        read_conll(path)
    assert str(err.value).startswith(str(path))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="nope.tsv: file not found"):
        read_conll(tmp_path / "nope.tsv")


# --- IOB1 -> IOB2 repair -------------------------------------------------------------------------------

IOB1 = "a\tI-X\nb\tI-X\nc\tO\nd\tI-Y\n\ne\tB-X\nf\tI-Y\ng\tI-Y\n"


def test_iob1_repair_counted_and_logged_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = write(tmp_path, IOB1)
    caplog.set_level(logging.WARNING, logger="bioner.data.conll")
    conll = read_conll(path)
    assert conll.sentences == [
        (["a", "b", "c", "d"], ["B-X", "I-X", "O", "B-Y"]),
        (["e", "f", "g"], ["B-X", "B-Y", "I-Y"]),
    ]
    assert conll.repairs == 3
    [record] = [r for r in caplog.records if r.name == "bioner.data.conll"]
    assert record.levelno == logging.WARNING
    assert "rewrote 3 IOB1/stray I- tag(s)" in record.getMessage()
    assert f"{path}:1, {path}:4, {path}:7" in record.getMessage()


def test_strict_bio_raises_at_first_case(tmp_path: Path) -> None:
    path = write(tmp_path, "a\tO\nb\tB-X\nc\tI-X\nd\tO\ne\tI-X\n")
    with pytest.raises(DataFormatError, match=r"f\.tsv:5: I-X after O does not continue an entity"):
        read_conll(path, strict_bio=True)


# --- the demo corpus -----------------------------------------------------------------------------------


def test_demo_is_deterministic_and_varied() -> None:
    splits = make_demo_splits()
    assert splits == make_demo_splits(13)
    assert splits != make_demo_splits(14)
    assert {name: len(s) for name, s in splits.items()} == {"train": 300, "validation": 80, "test": 80}
    for sentences in splits.values():
        entities = [e for _, tags in sentences for e in extract_entities(tags)]
        assert {t for t, _, _ in entities} == {"Chemical", "Disease"}
        assert {min(end - start, 3) for _, start, end in entities} == {1, 2, 3}
        assert any(not extract_entities(tags) for _, tags in sentences)
        assert all(len(tokens) == len(tags) and all(tokens) for tokens, tags in sentences)


def test_demo_dataset_features() -> None:
    ds = load_ner_dataset("demo")
    assert list(ds) == ["train", "validation", "test"]
    assert ds["test"][0]["id"] == "test-000000"
    assert label_names(ds) == ["O", "B-Chemical", "B-Disease", "I-Chemical", "I-Disease"]
    assert isinstance(ds["train"].features["ner_tags"].feature, datasets.ClassLabel)


# --- load_ner_dataset ----------------------------------------------------------------------------------


def test_round_trip_through_files(tmp_path: Path) -> None:
    splits = make_demo_splits()
    for split, filename in [("train", "train.tsv"), ("validation", "devel.conll"), ("test", "test.iob2")]:
        write_conll(splits[split], tmp_path / "corpus" / filename)
    ds = load_ner_dataset(str(tmp_path / "corpus"))
    names = label_names(ds)
    for split, sentences in splits.items():
        assert ds[split]["tokens"] == [tokens for tokens, _ in sentences]
        assert [[names[i] for i in row] for row in ds[split]["ner_tags"]] == [tags for _, tags in sentences]


def test_label_set_is_union_over_splits_with_o_first(tmp_path: Path) -> None:
    write(tmp_path, "a\tB-Zeta\nb\tO\n", "train.tsv")
    write(tmp_path, "a\tB-Alpha\nb\tI-Alpha\n", "dev.tsv")
    write(tmp_path, "a\tB-Beta\n", "test.txt")
    ds = load_ner_dataset(str(tmp_path))
    assert label_names(ds["test"]) == ["O", "B-Alpha", "B-Beta", "B-Zeta", "I-Alpha"]


def test_write_conll_rejects_what_it_could_not_read_back(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="contains whitespace"):
        write_conll([(["a b"], ["O"])], tmp_path / "x.tsv")
    with pytest.raises(ValueError, match="1 tokens but 2 tags"):
        write_conll([(["a"], ["O", "O"])], tmp_path / "x.tsv")


def test_resolve_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIONER_DATA_DIR", "/from/env")
    assert resolve_data_dir("/given") == Path("/given")
    assert resolve_data_dir() == Path("/from/env")
    monkeypatch.delenv("BIONER_DATA_DIR")
    assert resolve_data_dir() == Path("data")


def test_missing_registered_dir_says_how_to_point_at_data(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError) as err:
        load_ner_dataset("bc5cdr", str(tmp_path))
    assert str(err.value).startswith(f"{tmp_path / 'bc5cdr'}: ")
    assert "--data_dir" in str(err.value) and "BIONER_DATA_DIR" in str(err.value)


def test_reddit_impacts_explains_access(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="available from its authors on request") as err:
        load_ner_dataset("reddit_impacts", str(tmp_path))
    assert f"{tmp_path / 'reddit_impacts'}" in str(err.value)
    assert "train.tsv, dev.tsv and test.tsv" in str(err.value)


def test_missing_split_names_folder_and_expected_files(tmp_path: Path) -> None:
    (tmp_path / "bc5cdr").mkdir()
    write(tmp_path / "bc5cdr", "a\tO\n", "train.tsv")
    with pytest.raises(DataFormatError) as err:
        load_ner_dataset("bc5cdr", str(tmp_path))
    message = str(err.value)
    assert message.startswith(f"{tmp_path / 'bc5cdr'}: no validation split file")
    assert "dev.tsv" in message and "devel.tsv" in message and "validation.iob2" in message


def test_unknown_name(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="unknown dataset"):
        load_ner_dataset("no such thing", str(tmp_path))


# --- Hub branch (datasets.load_dataset replaced; the real fake-Hub round trip is tested with bioner.hub) --


def _fake_hub(monkeypatch: pytest.MonkeyPatch, raw: datasets.DatasetDict) -> None:
    monkeypatch.setattr(datasets, "load_dataset", lambda repo_id: raw)


def test_hub_string_tags_and_dev_split(monkeypatch: pytest.MonkeyPatch) -> None:
    split = datasets.Dataset.from_dict({"tokens": [["a", "b"]], "ner_tags": [["I-X", "I-X"]], "extra": [1]})
    _fake_hub(monkeypatch, datasets.DatasetDict(train=split, dev=split, test=split))
    ds = _load_from_hub("org/name")
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
    _fake_hub(monkeypatch, datasets.DatasetDict(train=split, validation=split, test=split))
    assert load_ner_dataset("org/name")["test"][0]["ner_tags"] == [1, 2, 0]


def test_hub_missing_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    split = datasets.Dataset.from_dict({"words": [["a"]], "labels": [["O"]]})
    _fake_hub(monkeypatch, datasets.DatasetDict(train=split, validation=split, test=split))
    with pytest.raises(
        DataFormatError, match=r"org/name\[train\]: missing column\(s\) \['ner_tags', 'tokens'\]"
    ):
        _load_from_hub("org/name")


# --- prepare_datasets.py -------------------------------------------------------------------------------


def test_prepare_writes_cards_and_pushes_with_the_card(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pushed = []

    def push_dataset(dsdict: datasets.DatasetDict, repo_id: str, card: str, token: str | None) -> str:
        pushed.append((list(dsdict), repo_id, card, token))
        return f"https://hub.example/datasets/{repo_id}"

    fake_module = types.ModuleType("bioner.hub")
    fake_module.push_dataset = push_dataset
    fake_module.HubPublishError = RuntimeError
    monkeypatch.setitem(sys.modules, "bioner.hub", fake_module)
    assert prepare_datasets.main(["--output_dir", str(tmp_path), "--push_to_hub", "someorg", "demo"]) == 0
    assert "pushed https://hub.example/datasets/someorg/demo" in capsys.readouterr().out
    card = (tmp_path / "demo" / "README.md").read_text()
    assert pushed == [(["train", "validation", "test"], "someorg/demo", card, None)]
    for line in [
        "task_categories:\n- token-classification",
        "- named-entity-recognition",
        "num_examples: 300",
    ]:
        assert line in card
    assert "Synthetic templated sentences" in card


def test_prepare_reports_bad_data_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert prepare_datasets.main(["--output_dir", str(tmp_path), "--data_dir", str(tmp_path), "bc5cdr"]) == 2
    assert f"error: {tmp_path / 'bc5cdr'}: no folder for dataset 'bc5cdr'" in capsys.readouterr().err


# --- real data: the counts of shared/data/README.md ----------------------------------------------------

# shared/data/README.md, "Summary against the paper": sentences per split, test entities and the
# 1 / 2 / 3+ token shares (one decimal).
README_COUNTS = {
    "bc5cdr": ((4560, 4581, 4797), 9809, ("75.5", "14.7", "9.8")),
    "jnlpba": ((16805, 1739, 3856), 8662, ("40.0", "30.2", "29.7")),
    "biored": ((1054, 269, 273), 3535, ("71.6", "9.7", "18.8")),
    "chemprot": ((13134, 3360, 8179), 19387, ("51.1", "17.7", "31.2")),
    "ncbi_disease": ((5424, 923, 940), 960, ("44.1", "28.1", "27.8")),
    "bc2gm": ((12574, 2519, 5038), 6325, ("44.6", "18.5", "36.9")),
}


@pytest.mark.skipif(not DATA_DIR.is_dir(), reason=f"no data folder at {DATA_DIR}")
def test_real_data_reproduces_readme_counts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    names, missing = prepare_datasets.available_names(str(DATA_DIR))
    assert names == [*README_COUNTS, "demo"]
    assert set(missing) == {"reddit_impacts"}
    stats = prepare_datasets.prepare(names, tmp_path, str(DATA_DIR))
    for name, (sentences, test_entities, shares) in README_COUNTS.items():
        assert tuple(stats[name]["sentences"].values()) == sentences, name
        lengths = stats[name]["entity_lengths"]["test"]
        assert sum(lengths.values()) == test_entities, name
        assert tuple(f"{100 * lengths[b] / test_entities:.1f}" for b in ("1", "2", "3+")) == shares, name
        assert (tmp_path / name / "README.md").read_text().startswith("---\nlanguage:\n- en\n")
    assert json.loads((tmp_path / "stats.json").read_text()) == stats
    tables = (tmp_path / "tables.md").read_text()
    assert "| jnlpba | **16,805** / 16,807 | 1,739 / 1,739 | 3,856 / 3,856 |" in tables
    assert "| bc5cdr | 9,809 / 9,809 | 7,407 (75.51%) / 7,407 (75.51%) |" in tables
    assert tables in capsys.readouterr().out
