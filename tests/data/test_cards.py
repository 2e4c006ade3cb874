"""Dataset cards (bioner.data.cards): YAML header, provenance, counts and the differences from the paper."""

from __future__ import annotations

import yaml

from bioner.data.cards import ORIGINAL_TERMS, SOURCES, dataset_card
from bioner.data.conll import build_dataset_dict
from bioner.data.demo import make_demo_splits
from bioner.data.stats import PAPER_COUNTS, dataset_statistics


def _front_matter(card: str) -> dict:
    assert card.startswith("---\n")
    return yaml.safe_load(card.split("---\n")[1])


def test_demo_card_header_and_body() -> None:
    dsdict = build_dataset_dict(make_demo_splits())
    card = dataset_card("demo", dsdict, dataset_statistics(dsdict))
    header = _front_matter(card)
    assert header["task_categories"] == ["token-classification"]
    assert header["pretty_name"] == SOURCES["demo"]["pretty_name"]
    assert [s["num_examples"] for s in header["dataset_info"]["splits"]] == [300, 80, 80]
    assert [f["name"] for f in header["dataset_info"]["features"]] == ["id", "tokens", "ner_tags"]
    assert "**Entity types.** Chemical, Disease." in card
    assert "| validation | 80 |" in card
    assert "- not in the paper's tables" in card
    assert "Not a benchmark" in card


def test_differences_from_the_paper_are_listed() -> None:
    dsdict = build_dataset_dict(
        {"train": [(["a"], ["B-X"])], "validation": [(["b"], ["O"])], "test": [(["c"], ["O"])]}
    )
    stats = dataset_statistics(dsdict)
    card = dataset_card("bc5cdr", dsdict, stats)
    paper = PAPER_COUNTS["bc5cdr"]
    assert f"- train sentences: 1 here, {paper['sentences']['train']:,} in the paper" in card
    assert f"- test entities of length 1: 0 here, {paper['test_entity_lengths']['1']:,} in the paper" in card
    assert SOURCES["bc5cdr"]["source"] in card


def test_converted_corpus_card_names_the_original_terms_and_document_columns() -> None:
    splits = {"train": [(["a"], ["B-X"])], "validation": [(["b"], ["O"])], "test": [(["c"], ["O"])]}
    columns = {s: {"id": [f"{s}-d1-0"], "document_id": ["d1"], "char_spans": [[[0, 1]]]} for s in splits}
    dsdict = build_dataset_dict(splits, columns)
    card = dataset_card("ncbi_disease", dsdict, dataset_statistics(dsdict), conversion="### train\n\nreport")
    header = _front_matter(card)
    assert [f["name"] for f in header["dataset_info"]["features"]][-2:] == ["document_id", "char_spans"]
    assert "Converted from the documents of the original release" in card
    assert f"**Terms.** {ORIGINAL_TERMS['ncbi_disease']}." in card
    assert card.rstrip().endswith("## Conversion from documents\n\n### train\n\nreport")
