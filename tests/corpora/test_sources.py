"""The one dispatch from a dataset name to a ``DatasetDict`` (bioner.corpora.sources): demo, registered name,
folder of BIO or document files, Hub repo of document files or of BIO rows."""

from __future__ import annotations

from pathlib import Path

import datasets
import pytest

from bioner.corpora import sources
from bioner.corpora.sources import (
    check_dataset,
    load_dataset_and_reports,
    load_ner_dataset,
    load_run_dataset,
    load_split,
)
from bioner.data.conll import label_names, write_conll
from bioner.data.demo import make_demo_splits
from bioner.data.files import DataFormatError


def pubtator_folder(folder: Path) -> Path:
    """Train/devel/test PubTator files of one document each."""
    folder.mkdir(parents=True)
    for name, word in (
        ("train.PubTator", "Aspirin"),
        ("devel.PubTator", "Heparin"),
        ("test.PubTator", "Codeine"),
    ):
        (folder / name).write_text(f"1|t|{word} cures pain.\n1\t0\t{len(word)}\t{word}\tChemical\tD1\n\n")
    return folder


def bio_folder(folder: Path, stems: tuple[str, ...] = ("train", "dev", "test")) -> Path:
    for stem in stems:
        write_conll([(["Aspirin", "works"], ["B-Chemical", "O"]), (["No"], ["O"])], folder / f"{stem}.tsv")
    return folder


def test_demo_dataset_features() -> None:
    ds, reports = load_dataset_and_reports("demo")
    assert reports is None
    assert list(ds) == ["train", "validation", "test"]
    assert ds["test"][0]["id"] == "test-000000"
    assert ds["train"]["tokens"] == [tokens for tokens, _ in make_demo_splits()["train"]]
    assert label_names(ds) == ["O", "B-Chemical", "B-Disease", "I-Chemical", "I-Disease"]
    assert isinstance(ds["train"].features["ner_tags"].feature, datasets.ClassLabel)


def test_registered_name_reads_its_folder_under_data_dir(tmp_path: Path) -> None:
    bio_folder(tmp_path / "bc5cdr")
    ds = load_ner_dataset("bc5cdr", tmp_path)
    assert [len(ds[split]) for split in ds] == [2, 2, 2]
    with pytest.raises(DataFormatError, match="no folder for dataset 'jnlpba'"):
        load_ner_dataset("jnlpba", tmp_path)
    with pytest.raises(DataFormatError, match="available from its authors on request"):
        load_ner_dataset("reddit_impacts", tmp_path)


def test_missing_split_names_folder_and_expected_files(tmp_path: Path) -> None:
    bio_folder(tmp_path / "bc5cdr", ("train",))
    with pytest.raises(DataFormatError) as err:
        load_ner_dataset("bc5cdr", str(tmp_path))
    message = str(err.value)
    assert message.startswith(f"{tmp_path / 'bc5cdr'}: no validation split file")
    assert "dev.tsv" in message and "devel.tsv" in message and "validation.iob2" in message


def test_unknown_name(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="unknown dataset"):
        load_ner_dataset("no such thing", str(tmp_path))


def test_folders_of_bio_and_of_documents(tmp_path: Path) -> None:
    ds, reports = load_dataset_and_reports(str(bio_folder(tmp_path / "bio")))
    assert reports is None and ds["train"].column_names == ["id", "tokens", "ner_tags"]
    ds, reports = load_dataset_and_reports(str(pubtator_folder(tmp_path / "docs")))
    assert set(reports) == {"train", "validation", "test"}
    assert reports["test"].documents == 1
    assert ds["validation"][0]["tokens"] == ["Heparin", "cures", "pain", "."]
    assert ds["validation"][0]["document_id"] == "1"


def test_format_and_files_options(tmp_path: Path) -> None:
    folder = pubtator_folder(tmp_path / "docs")
    with pytest.raises(DataFormatError, match="no bioc_xml files named by split"):
        load_dataset_and_reports(str(folder), format="bioc_xml")
    with pytest.raises(DataFormatError, match="no brat files named by split"):
        load_dataset_and_reports(str(bio_folder(tmp_path / "bio")), format="brat")
    files = {
        "train": folder / "train.PubTator",
        "dev": folder / "devel.PubTator",
        "test": folder / "test.PubTator",
    }
    ds, reports = load_dataset_and_reports("anything", files=files, entity_types={"Chemical": "Drug"})
    assert label_names(ds) == ["O", "B-Drug"]
    assert list(reports) == ["train", "validation", "test"]


def test_hub_ids_are_document_repos_or_bio_datasets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = pubtator_folder(tmp_path / "snapshot")
    monkeypatch.setattr(sources, "hub_corpus_dir", lambda repo_id: folder if repo_id == "org/docs" else None)
    rows = datasets.Dataset.from_dict({"tokens": [["a"]], "ner_tags": [["B-X"]]})
    monkeypatch.setattr(
        datasets, "load_dataset", lambda repo_id: datasets.DatasetDict(train=rows, dev=rows, test=rows)
    )
    ds, reports = load_dataset_and_reports("org/docs")
    assert reports is not None and ds["test"][0]["tokens"][0] == "Codeine"
    ds, reports = load_dataset_and_reports("org/bio")
    assert reports is None and label_names(ds) == ["O", "B-X"]


def test_check_dataset_mirrors_the_dispatch_without_loading(tmp_path: Path) -> None:
    check_dataset("demo", tmp_path)
    check_dataset(str(tmp_path))  # any folder
    check_dataset("org/name")  # Hub ids are not looked up
    with pytest.raises(DataFormatError, match="no folder for dataset 'bc5cdr'"):
        check_dataset("bc5cdr", tmp_path)
    (tmp_path / "bc5cdr").mkdir()
    check_dataset("bc5cdr", tmp_path)
    with pytest.raises(DataFormatError, match="unknown dataset"):
        check_dataset("no such thing")


def test_load_split_takes_any_spelling_and_a_limit(tmp_path: Path) -> None:
    folder = str(bio_folder(tmp_path))
    assert len(load_split(folder, None, "dev")) == 2
    assert load_split(folder, None, "valid", max_instances=1)["tokens"] == [["Aspirin", "works"]]
    assert len(load_split(folder, None, "test", max_instances=10)) == 2
    with pytest.raises(
        ValueError, match=r"--split 'holdout': dataset has splits \['train', 'validation', 'test'\]"
    ):
        load_split(folder, None, "holdout")


def test_load_run_dataset_limits_and_exits_on_bad_data(tmp_path: Path) -> None:
    ds = load_run_dataset("demo", max_train_samples=5, max_eval_samples=3)
    assert {split: len(ds[split]) for split in ds} == {"train": 5, "validation": 3, "test": 3}
    with pytest.raises(SystemExit, match=f"^error: {tmp_path / 'bc5cdr'}: no folder"):
        load_run_dataset("bc5cdr", tmp_path)
