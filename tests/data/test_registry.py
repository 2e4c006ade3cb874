"""The registered datasets (bioner.data.registry): where their folders are, and the errors that say how to
supply them."""

from __future__ import annotations

from pathlib import Path

import pytest

from bioner.data.files import DataFormatError
from bioner.data.registry import (
    HUB_ID_RE,
    REGISTERED_DATASETS,
    close_name,
    dataset_dir,
    resolve_data_dir,
    unknown_dataset,
)


def test_resolve_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIONER_DATA_DIR", "/from/env")
    assert resolve_data_dir("/given") == Path("/given")
    assert resolve_data_dir() == Path("/from/env")
    monkeypatch.delenv("BIONER_DATA_DIR")
    assert resolve_data_dir() == Path("data")


def test_dataset_dir_of_an_existing_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "bc5cdr").mkdir()
    assert dataset_dir("bc5cdr", tmp_path) == tmp_path / "bc5cdr"
    monkeypatch.setenv("BIONER_DATA_DIR", str(tmp_path))
    assert dataset_dir("bc5cdr") == tmp_path / "bc5cdr"


def test_missing_registered_dir_says_how_to_point_at_data(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError) as err:
        dataset_dir("bc5cdr", str(tmp_path))
    assert str(err.value).startswith(f"{tmp_path / 'bc5cdr'}: no folder for dataset 'bc5cdr'")
    assert "--data_dir" in str(err.value) and "BIONER_DATA_DIR" in str(err.value)


def test_reddit_impacts_explains_access(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="available from its authors on request") as err:
        dataset_dir("reddit_impacts", str(tmp_path))
    assert f"{tmp_path / 'reddit_impacts'}" in str(err.value)
    assert "train.tsv, dev.tsv and test.tsv" in str(err.value)


def test_unknown_dataset_lists_what_a_name_may_be() -> None:
    message = str(unknown_dataset("no such thing"))
    assert message.startswith("no such thing: unknown dataset")
    assert all(name in message for name in REGISTERED_DATASETS)
    assert "org/name" in message
    assert "did you mean" not in message


def test_unknown_dataset_suggests_the_registered_name_it_nearly_is(tmp_path, monkeypatch) -> None:
    assert str(unknown_dataset("bc5dcr")).endswith("; did you mean 'bc5cdr'?")
    assert "did you mean 'ncbi_disease'" in str(unknown_dataset("NCBI-disease"))
    assert close_name("data/bc5dcr", REGISTERED_DATASETS) is None  # a path: never corrected
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bc5dcr").touch()  # something of that name on disk: not a typo of a registered name
    assert close_name("bc5dcr", REGISTERED_DATASETS) is None


@pytest.mark.parametrize(
    ("name", "is_hub_id"),
    [("bigbio/bc5cdr", True), ("org/my-data.v2", True), ("bc5cdr", False), ("a/b/c", False), ("/abs", False)],
)
def test_hub_id_shape(name: str, is_hub_id: bool) -> None:
    assert bool(HUB_ID_RE.fullmatch(name)) is is_hub_id
