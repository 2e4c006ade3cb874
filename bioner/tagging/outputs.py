"""Tagged records written as corpus files (PubTator, BioC, brat): what ``tag.py --output`` and the corpus runs
of ``tag.py --output_dir`` (`bioner.tagging.corpus_run`) share.

A tagged document keeps its input's id, text and passages and takes the record's entities as mentions;
`check_writable` refuses, before any tagging, documents the format cannot hold.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from bioner.corpora import write_documents
from bioner.corpora.model import Document, Passage
from bioner.corpora.records import document_from_record

NO_ID = "-1"
"""PubTator's ids field of a mention without a concept id (as in BC5CDR; an empty last field is often
misread)."""


def tagged_document(
    document: Document, record: dict | None = None, where: str = "", output_format: str = ""
) -> Document:
    """``document`` (id, text, passages: one for the whole text when it has none) with the entities of
    ``record`` (read at ``where``) as mentions; no mentions without a record. PubTator mentions without a
    concept id get `NO_ID`."""
    mentions = document_from_record(record, where).mentions if record is not None else []
    if output_format == "pubtator":
        for mention in mentions:
            mention.ids = mention.ids or [NO_ID]
    passages = list(document.passages) or ([Passage(0, document.text)] if document.text else [])
    return Document(document.id, document.text, passages, mentions, source=document.source)


def check_writable(documents: Sequence[Document], output_format: str, where: str | None = None) -> None:
    """Fail before any tagging when the documents cannot be written in ``output_format``: ids that repeat,
    or what the format cannot hold (a line break in PubTator text, an id that is no brat file name...).
    ``where`` names the output in the message (default: "the <format> output")."""
    if output_format == "jsonl":
        return
    seen: set[str] = set()
    for document in documents:
        if document.id in seen:
            raise ValueError(
                f"document id {document.id!r} appears twice; {output_format} output needs unique ids"
            )
        seen.add(document.id)
    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder) / "check"
        try:
            write_documents([tagged_document(d) for d in documents], scratch, output_format)
        except ValueError as error:  # it names the scratch folder: name the user's output instead
            raise ValueError(
                str(error).replace(str(scratch), where or f"the {output_format} output")
            ) from None
