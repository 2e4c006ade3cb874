"""Dataset statistics in the shape of the paper's Tables I and II (bioner.data.stats), and
prepare_datasets.py, which writes them with a card per dataset.

The real-data test checks the counts published in shared/data/README.md; it is skipped only when the data
folder (``BIONER_DATA_DIR``, default ``../shared/data``) does not exist.
"""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pytest

import prepare_datasets
from bioner.data.conll import build_dataset_dict
from bioner.data.stats import LENGTH_BINS, PAPER_COUNTS, dataset_statistics, format_table1, format_table2
from tests.helpers import DATA_DIR

SPLITS = {
    "train": [(["a", "b", "c", "d"], ["B-X", "I-X", "O", "B-Y"]), (["e"], ["O"])],
    "validation": [(["f", "g"], ["B-Y", "I-Y"])],
    "test": [(["h", "i", "j", "k"], ["B-X", "I-X", "I-X", "O"]), (["l"], ["B-X"])],
}


def test_dataset_statistics_counts_sentences_tokens_types_and_lengths() -> None:
    stats = dataset_statistics(build_dataset_dict(SPLITS))
    assert stats["sentences"] == {"train": 2, "validation": 1, "test": 2}
    assert stats["tokens"] == {"train": 5, "validation": 2, "test": 5}
    assert stats["entities"]["train"] == {"X": 1, "Y": 1}
    assert stats["entities"]["test"] == {"X": 2}
    assert stats["entity_lengths"]["train"] == {"1": 1, "2": 1, "3+": 0}
    assert stats["entity_lengths"]["test"] == {"1": 1, "2": 0, "3+": 1}
    assert tuple(stats["entity_lengths"]["validation"]) == LENGTH_BINS


def test_tables_put_ours_beside_the_paper_and_bold_what_differs() -> None:
    stats = dataset_statistics(build_dataset_dict(SPLITS))
    paper = PAPER_COUNTS["biored"]
    biored = {**stats, "sentences": {**paper["sentences"], "train": 7}}
    table1 = format_table1({"biored": biored, "mine": stats})
    assert table1.splitlines()[0].startswith("| dataset | train sents (ours / paper) |")
    assert "| biored | **7** / 1,051 | 269 / 269 | 273 / 273 |" in table1
    assert "| mine | 2 / – | 1 / – | 2 / – |" in table1
    table2 = format_table2({"mine": stats})
    assert "| mine | 2 / – | 1 (50.00%) / – | 0 (0.00%) / – | 1 (50.00%) / – |" in table2


# --- prepare_datasets.py -------------------------------------------------------------------------------


def test_prepare_writes_cards_and_pushes_with_the_card(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pushed = []

    def push_dataset(dsdict: datasets.DatasetDict, repo_id: str, card: str, token: str | None) -> str:
        pushed.append((list(dsdict), repo_id, card, token))
        return f"https://hub.example/datasets/{repo_id}"

    monkeypatch.setattr(prepare_datasets, "push_dataset", push_dataset)
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
