"""Folders of JSON Lines / JSON records in the Hugging Face convention (bioner.data.hf_json)."""

import json
import logging
from pathlib import Path

import datasets
import pytest
from huggingface_hub import DatasetCardData

from bioner.corpora.sources import load_ner_dataset
from bioner.data.conll import label_names
from bioner.data.files import DataFormatError
from bioner.data.hf_json import is_json_dataset_dir, read_json_records, read_label_names

TRAIN = [
    {"id": "0", "tokens": ["Aspirin", "causes", "ulcers"], "ner_tags": ["B-Chemical", "O", "B-Disease"]},
    {"id": "1", "tokens": ["sodium", "chloride", "."], "ner_tags": ["B-Chemical", "I-Chemical", "O"]},
]
NAMES = ["O", "B-Chemical", "I-Chemical", "B-Disease", "I-Disease"]


def write_jsonl(path: Path, records: list) -> Path:
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    return path


def as_ids(records: list) -> list:
    return [{**r, "ner_tags": [NAMES.index(tag) for tag in r["ner_tags"]]} for r in records]


def folder(tmp_path: Path, records: list = TRAIN, dev: str = "dev", suffix: str = ".jsonl") -> Path:
    for stem in ("train", dev, "test"):
        write_jsonl(tmp_path / f"{stem}{suffix}", records)
    return tmp_path


def test_jsonl_folder_with_string_tags_loads_as_the_project_dataset(tmp_path):
    dataset = load_ner_dataset(str(folder(tmp_path)))
    assert list(dataset) == ["train", "validation", "test"]
    assert dataset["train"]["tokens"] == [r["tokens"] for r in TRAIN]
    labels = label_names(dataset)
    assert labels[0] == "O" and set(labels) == {"O", "B-Chemical", "I-Chemical", "B-Disease"}
    first = dataset["test"][0]
    assert [labels[i] for i in first["ner_tags"]] == ["B-Chemical", "O", "B-Disease"]


def test_validation_stem_and_json_lines_in_a_json_file_as_to_json_writes_them(tmp_path):
    ds = datasets.Dataset.from_list(TRAIN)
    for stem in ("train", "validation", "test"):
        ds.to_json(tmp_path / f"{stem}.json")
    assert is_json_dataset_dir(tmp_path)
    assert len(load_ner_dataset(str(tmp_path))["validation"]) == 2


@pytest.mark.parametrize("wrap", [lambda r: r, lambda r: {"version": "1", "data": r}])
def test_json_list_and_data_object(tmp_path, wrap):
    for stem in ("train", "dev", "test"):
        (tmp_path / f"{stem}.json").write_text(json.dumps(wrap(TRAIN), indent=2))
    dataset = load_ner_dataset(str(tmp_path))
    assert dataset["train"]["tokens"] == [r["tokens"] for r in TRAIN]


def test_records_of_a_json_list_report_the_line_they_start_on(tmp_path):
    path = tmp_path / "train.json"
    path.write_text(
        '[\n  {"tokens": ["a"], "ner_tags": ["O"]},\n\n  {"tokens": ["b"],\n "ner_tags": ["O"]}\n]'
    )
    assert [line for line, _ in read_json_records(path)] == [2, 4]
    path.write_text('{"info": {"x": [1]}, "data": [\n{"tokens": ["a"], "ner_tags": ["O"]},\n{"tokens": []}]}')
    assert [line for line, _ in read_json_records(path)] == [2, 3]


def test_integer_tags_take_their_names_from_labels_json(tmp_path):
    folder(tmp_path, as_ids(TRAIN))
    (tmp_path / "labels.json").write_text(json.dumps(NAMES))
    dataset = load_ner_dataset(str(tmp_path))
    labels = label_names(dataset)
    assert [labels[i] for i in dataset["train"][1]["ner_tags"]] == ["B-Chemical", "I-Chemical", "O"]
    (tmp_path / "labels.json").write_text(json.dumps({"label_names": NAMES}))
    assert read_label_names(tmp_path) == (NAMES, tmp_path / "labels.json")


def _info() -> datasets.DatasetInfo:
    features = datasets.Features(
        {
            "tokens": datasets.Sequence(datasets.Value("string")),
            "ner_tags": datasets.Sequence(datasets.ClassLabel(names=NAMES)),
        }
    )
    return datasets.DatasetInfo(features=features)


def test_integer_tag_names_from_dataset_info_json_as_datasets_writes_it(tmp_path):
    folder(tmp_path, as_ids(TRAIN))
    _info().write_to_directory(str(tmp_path))
    assert read_label_names(tmp_path) == (NAMES, tmp_path / "dataset_info.json")
    assert load_ner_dataset(str(tmp_path))["train"]["tokens"][0] == ["Aspirin", "causes", "ulcers"]


def test_integer_tag_names_from_the_dataset_card_yaml_as_datasets_writes_it(tmp_path):
    folder(tmp_path, as_ids(TRAIN))
    card = DatasetCardData()
    datasets.info.DatasetInfosDict({"default": _info()}).to_dataset_card_data(card)
    (tmp_path / "README.md").write_text(f"---\n{card.to_yaml()}\n---\n# My corpus\n")
    assert read_label_names(tmp_path) == (NAMES, tmp_path / "README.md")


def test_integer_tags_without_label_names_are_an_error_naming_the_file(tmp_path):
    folder(tmp_path, as_ids(TRAIN))
    with pytest.raises(
        DataFormatError, match=r"train\.jsonl:1: ner_tags holds integer ids but no label names"
    ):
        load_ner_dataset(str(tmp_path))


def test_out_of_range_id_names_the_line_and_the_label_source(tmp_path):
    folder(tmp_path, [*as_ids(TRAIN), {"tokens": ["x"], "ner_tags": [7]}])
    (tmp_path / "labels.json").write_text(json.dumps(NAMES))
    with pytest.raises(DataFormatError, match=r"train\.jsonl:3: tag id 7 is out of range: .*labels\.json"):
        load_ner_dataset(str(tmp_path))


@pytest.mark.parametrize(
    "record, message",
    [
        ({"tokens": ["a"]}, "missing ner_tags"),
        ({"tokens": ["a", "b"], "ner_tags": ["O"]}, "list of 2 tags"),
        ({"tokens": ["a"], "ner_tags": ["X-Chem"]}, "invalid BIO tag 'X-Chem'"),
        ({"tokens": [""], "ner_tags": ["O"]}, "non-empty strings"),
        ({"tokens": ["a"], "ner_tags": [0.5]}, "all BIO tag strings or all integer ids"),
    ],
)
def test_bad_records_name_file_and_line(tmp_path, record, message):
    folder(tmp_path, [*TRAIN, record])
    with pytest.raises(DataFormatError, match=rf"train\.jsonl:3: .*{message}"):
        load_ner_dataset(str(tmp_path))


def test_malformed_json_line_is_named_not_extra_data(tmp_path):
    folder(tmp_path)
    (tmp_path / "dev.jsonl").write_text(json.dumps(TRAIN[0]) + "\n{oops\n")
    with pytest.raises(DataFormatError, match=r"dev\.jsonl:2: not valid JSON") as caught:
        load_ner_dataset(str(tmp_path))
    assert "Extra data" not in str(caught.value)


def test_iob1_tags_are_repaired_and_counted_or_refused_with_strict_bio(tmp_path, caplog):
    iob1 = {"tokens": ["sodium", "chloride"], "ner_tags": ["I-Chemical", "I-Chemical"]}
    folder(tmp_path, [*TRAIN, iob1])
    with caplog.at_level(logging.WARNING, logger="bioner.data.hf_json"):
        dataset = load_ner_dataset(str(tmp_path))
    labels = label_names(dataset)
    assert [labels[i] for i in dataset["train"][2]["ner_tags"]] == ["B-Chemical", "I-Chemical"]
    assert "rewrote 1 IOB1/stray I- tag(s)" in caplog.text and "train.jsonl:3" in caplog.text
    with pytest.raises(DataFormatError, match=r"train\.jsonl:3: I-Chemical at token 0 .*strict_bio"):
        load_ner_dataset(str(tmp_path), strict_bio=True)


def test_a_missing_split_lists_the_file_names_looked_for(tmp_path):
    folder(tmp_path)
    (tmp_path / "test.jsonl").unlink()
    with pytest.raises(
        DataFormatError, match=r"no test split file; expected one of: test\.jsonl, test\.json"
    ):
        load_ner_dataset(str(tmp_path))


def test_bioc_json_named_by_split_is_not_taken_for_records(tmp_path):
    for stem in ("train", "dev", "test"):
        (tmp_path / f"{stem}.json").write_text(json.dumps({"source": "x", "documents": []}, indent=1))
    assert not is_json_dataset_dir(tmp_path)
