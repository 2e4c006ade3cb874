"""BIO/CoNLL sentences (bioner.data.conll): reading files (errors name file:line), IOB1 repair, writing, and
the project's ``DatasetDict`` of a folder of split files."""

from __future__ import annotations

import logging
from pathlib import Path

import datasets
import pytest

from bioner.data.conll import (
    DOCUMENT_FEATURES,
    build_dataset_dict,
    check_tag,
    label_names,
    load_conll_dir,
    read_conll,
    write_conll,
)
from bioner.data.demo import make_demo_splits
from bioner.data.files import DataFormatError


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


# --- a folder of split files as a DatasetDict ------------------------------------------------------------


def test_round_trip_through_files(tmp_path: Path) -> None:
    splits = make_demo_splits()
    for split, filename in [("train", "train.tsv"), ("validation", "devel.conll"), ("test", "test.iob2")]:
        write_conll(splits[split], tmp_path / "corpus" / filename)
    ds = load_conll_dir(tmp_path / "corpus")
    names = label_names(ds)
    for split, sentences in splits.items():
        assert ds[split]["tokens"] == [tokens for tokens, _ in sentences]
        assert [[names[i] for i in row] for row in ds[split]["ner_tags"]] == [tags for _, tags in sentences]


def test_label_set_is_union_over_splits_with_o_first(tmp_path: Path) -> None:
    write(tmp_path, "a\tB-Zeta\nb\tO\n", "train.tsv")
    write(tmp_path, "a\tB-Alpha\nb\tI-Alpha\n", "dev.tsv")
    write(tmp_path, "a\tB-Beta\n", "test.txt")
    ds = load_conll_dir(tmp_path)
    assert label_names(ds["test"]) == ["O", "B-Alpha", "B-Beta", "B-Zeta", "I-Alpha"]


def test_strict_bio_applies_to_every_split_file(tmp_path: Path) -> None:
    for name in ("train.tsv", "dev.tsv"):
        write(tmp_path, "a\tB-X\n", name)
    write(tmp_path, "a\tO\nb\tI-X\n", "test.tsv")
    assert label_names(load_conll_dir(tmp_path)) == ["O", "B-X"]
    with pytest.raises(DataFormatError, match=r"test\.tsv:2: I-X after O"):
        load_conll_dir(tmp_path, strict_bio=True)


def test_missing_split_names_folder_and_expected_files(tmp_path: Path) -> None:
    write(tmp_path, "a\tO\n", "train.tsv")
    with pytest.raises(DataFormatError) as err:
        load_conll_dir(tmp_path)
    message = str(err.value)
    assert message.startswith(f"{tmp_path}: no validation split file")
    assert "dev.tsv" in message and "devel.tsv" in message and "validation.iob2" in message


def test_build_dataset_dict_ids_features_and_document_columns() -> None:
    splits = {"train": [(["a", "b"], ["B-X", "O"])], "test": [(["c"], ["O"])]}
    columns = {
        split: {
            "id": [f"doc-{split}"],
            "document_id": ["d1"],
            "char_spans": [[[0, 1]] * len(sentences[0][0])],
        }
        for split, sentences in splits.items()
    }
    plain = build_dataset_dict(splits)
    assert list(plain) == ["train", "test"]
    assert plain["train"][0] == {"id": "train-000000", "tokens": ["a", "b"], "ner_tags": [1, 0]}
    assert isinstance(plain["train"].features["ner_tags"].feature, datasets.ClassLabel)
    converted = build_dataset_dict(splits, columns)
    assert converted["test"][0] == {
        "id": "doc-test",
        "tokens": ["c"],
        "ner_tags": [0],
        "document_id": "d1",
        "char_spans": [[0, 1]],
    }
    assert converted["train"].features["char_spans"] == DOCUMENT_FEATURES["char_spans"]


def test_label_names_of_a_split_or_a_dict() -> None:
    ds = build_dataset_dict({"train": [(["a"], ["I-Y"])], "test": [(["b"], ["B-X"])]})
    assert label_names(ds) == label_names(ds["test"]) == ["O", "B-X", "I-Y"]


def test_check_tag_names_where() -> None:
    check_tag("B-Chemical", "f.tsv", 3)
    with pytest.raises(DataFormatError, match=r"^repo\[train\] row 2: invalid BIO tag 'X-Y'"):
        check_tag("X-Y", "repo[train] row 2")


def test_write_conll_rejects_what_it_could_not_read_back(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="contains whitespace"):
        write_conll([(["a b"], ["O"])], tmp_path / "x.tsv")
    with pytest.raises(ValueError, match="1 tokens but 2 tags"):
        write_conll([(["a"], ["O", "O"])], tmp_path / "x.tsv")
