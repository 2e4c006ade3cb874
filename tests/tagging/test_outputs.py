"""Tagged records as corpus documents, as tag.py --output and the corpus runs of --output_dir write them."""

from __future__ import annotations

import pytest

from bioner.corpora.model import Document, Passage
from bioner.tagging.outputs import NO_ID, check_writable, tagged_document

RECORD = {"id": "7", "text": "Aspirin helps.", "entities": [{"start": 0, "end": 7, "type": "Chemical"}]}


def test_tagged_document_keeps_the_inputs_passages_and_takes_the_records_entities():
    document = Document("7", "Aspirin helps.", [Passage(0, "Aspirin helps.", "title")], source="in.txt:1")
    tagged = tagged_document(document, RECORD, "out.jsonl:1", "pubtator")
    assert [(m.start, m.end, m.type, m.ids) for m in tagged.mentions] == [(0, 7, "Chemical", [NO_ID])]
    assert tagged.passages[0].type == "title" and tagged.source == "in.txt:1"
    assert tagged_document(document, RECORD, "out.jsonl:1", "bioc_xml").mentions[0].ids == []
    raw = tagged_document(Document("8", "No entity."))
    assert raw.mentions == [] and [(p.offset, p.text) for p in raw.passages] == [(0, "No entity.")]


def test_check_writable_refuses_repeated_ids_and_names_the_users_output():
    check_writable([Document("a", "x"), Document("a", "y")], "jsonl")  # JSON Lines holds anything
    with pytest.raises(ValueError, match="document id 'a' appears twice"):
        check_writable([Document("a", "x"), Document("a", "y")], "pubtator")
    with pytest.raises(ValueError, match="out.pubtator") as error:
        check_writable([Document("a|b", "text")], "pubtator", "out.pubtator")
    assert "/tmp" not in str(error.value)  # not the scratch folder the check wrote to
