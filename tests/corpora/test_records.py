"""tag.py's JSONL records as documents, and the reader of any scored format (bioner.corpora.records)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bioner.corpora import Document, Mention, Passage, write_documents
from bioner.corpora.records import (
    JSONL,
    RecordFormatError,
    document_format,
    document_from_record,
    read_any_documents,
    read_entity_records,
)


def test_record_becomes_a_document_with_sorted_mentions() -> None:
    record = {
        "id": 7,
        "text": "Aspirin and renal failure",
        "entities": [
            {"start": 12, "end": 25, "type": "Disease", "score": 0.91},
            {"start": 0, "end": 7, "text": "Aspirin", "type": "Chemical"},
        ],
    }
    document = document_from_record(record, "p.jsonl:3")
    assert (document.id, document.source, document.passages) == (
        "7",
        "p.jsonl:3",
        [Passage(0, record["text"])],
    )
    assert [(m.spans, m.type, m.text) for m in document.mentions] == [
        ([(0, 7)], "Chemical", "Aspirin"),
        ([(12, 25)], "Disease", "renal failure"),
    ]
    assert document.mentions[1].infons == {"score": "0.91"}


def test_record_without_text_keeps_offsets_as_given() -> None:
    document = document_from_record({"id": "d", "entities": [{"start": 4, "end": 9, "type": "X"}]}, "w")
    assert (document.text, document.passages, document.mentions[0].spans) == ("", [], [(4, 9)])


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"id": True, "entities": []}, "non-empty string or integer 'id'"),
        ({"id": "d", "text": 3, "entities": []}, "'text' must be a string"),
        ({"id": "d", "entities": {}}, "expected a list field 'entities'"),
        ({"id": "d", "entities": ["x"]}, "entity 0: expected an object"),
        ({"id": "d", "entities": [{"start": 2, "end": 1, "type": "X"}]}, "entity 0: 'start' and 'end'"),
        ({"id": "d", "text": "ab", "entities": [{"start": 0, "end": 1, "type": " "}]}, "entity 0: 'type'"),
    ],
)
def test_bad_records_name_where(record: dict, message: str) -> None:
    with pytest.raises(RecordFormatError, match=f"^w:5: .*{message}"):
        document_from_record(record, "w:5")


def test_records_file_refuses_a_repeated_id(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    lines = [{"id": "a", "text": "x", "entities": []}, {"id": "b", "text": "y", "entities": []}]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert [d.id for d in read_entity_records(path)] == ["a", "b"]
    path.write_text("".join(json.dumps(line) + "\n" for line in [*lines, lines[0]]))
    with pytest.raises(RecordFormatError, match=r"p\.jsonl:3: id 'a' repeats the record at .*p\.jsonl:1"):
        read_entity_records(path)


def test_document_format_checked_or_detected(tmp_path: Path) -> None:
    document = Document("1", "Aspirin.", [Passage(0, "Aspirin.", "title")], [Mention([(0, 7)], "Chemical")])
    write_documents([document], xml := tmp_path / "gold.xml", "bioc_xml")
    (records := tmp_path / "p.ndjson").write_text('{"id": "1", "text": "Aspirin.", "entities": []}\n')
    assert document_format(records) == JSONL
    assert document_format(xml, "auto") == "bioc_xml"
    assert document_format(xml, "pubtator") == "pubtator"  # given, not checked against the content
    with pytest.raises(ValueError, match="unknown document format 'conll'"):
        document_format(xml, "conll")
    with pytest.raises(ValueError, match="file or folder not found"):
        document_format(tmp_path / "missing.txt")
    (plain := tmp_path / "plain.txt").write_text("just text")
    with pytest.raises(ValueError, match="cannot tell its format"):
        document_format(plain)
    [gold] = read_any_documents(xml)
    [predicted] = read_any_documents(records)
    assert gold.text == predicted.text == "Aspirin."
    assert [m.text for m in gold.mentions] == ["Aspirin"] and predicted.mentions == []
