"""tag.py's JSON Lines output as corpus documents, and a reader for any document format the project scores.

A record is ``{"id", "text", "entities": [{"start", "end", "text", "type", ...}]}`` with character offsets
into ``text`` (end exclusive), as ``bioner.tagging.entities`` writes it; ``text`` may be left out (offsets are
then taken as given). Every problem is a `RecordFormatError` that names the file and line.
"""

from __future__ import annotations

import os
from pathlib import Path

from bioner.corpora import FORMATS, detect_format, read_documents
from bioner.corpora.model import Document, Mention, Passage
from bioner.data.jsonl import read_jsonl_objects

JSONL = "jsonl"
DOCUMENT_FORMATS = (JSONL, *FORMATS)
JSONL_SUFFIXES = (".jsonl", ".ndjson")


class RecordFormatError(ValueError):
    """A malformed entity record; the message starts with ``file:line``."""


def read_entity_records(path: str | os.PathLike[str]) -> list[Document]:
    """Documents of a tag.py JSONL file, in file order; an ``id`` given twice is refused (file:line)."""
    documents: list[Document] = []
    seen: dict[str, str] = {}
    for where, record in read_jsonl_objects(Path(path), RecordFormatError):
        document = document_from_record(record, where)
        if document.id in seen:
            raise RecordFormatError(f"{where}: id {document.id!r} repeats the record at {seen[document.id]}")
        seen[document.id] = where
        documents.append(document)
    return documents


def document_from_record(record: dict, where: str) -> Document:
    """One record as a `Document` (``where`` is its ``file:line``, kept as the document's source)."""
    identifier = record.get("id")
    if not isinstance(identifier, str | int) or isinstance(identifier, bool) or str(identifier) == "":
        raise RecordFormatError(f"{where}: expected a non-empty string or integer 'id', got {identifier!r}")
    text = record.get("text", "")
    if not isinstance(text, str):
        raise RecordFormatError(f"{where}: 'text' must be a string, got {type(text).__name__}")
    entities = record.get("entities")
    if not isinstance(entities, list):
        raise RecordFormatError(f"{where}: expected a list field 'entities' of {{start, end, type}} objects")
    mentions = [_mention(entity, number, text, where) for number, entity in enumerate(entities)]
    mentions.sort(key=lambda mention: (mention.start, mention.end))
    passages = [Passage(0, text)] if text else []
    return Document(str(identifier), text, passages, mentions, source=where)


def _mention(entity: object, number: int, text: str, where: str) -> Mention:
    name = f"{where}: entity {number}"
    if not isinstance(entity, dict):
        raise RecordFormatError(f"{name}: expected an object with 'start', 'end' and 'type'")
    start, end, kind = entity.get("start"), entity.get("end"), entity.get("type")
    if not all(isinstance(x, int) and not isinstance(x, bool) for x in (start, end)) or not 0 <= start < end:
        raise RecordFormatError(f"{name}: 'start' and 'end' must be integers with 0 <= start < end")
    if not isinstance(kind, str) or not kind.strip():
        raise RecordFormatError(f"{name}: 'type' must be a non-empty string")
    surface = entity.get("text")
    if text:
        if end > len(text):
            raise RecordFormatError(f"{name}: end {end} is beyond the text ({len(text)} characters)")
        if surface is not None and surface != text[start:end]:
            raise RecordFormatError(
                f"{name}: 'text' {surface!r} is not text[{start}:{end}] = {text[start:end]!r}"
            )
        surface = text[start:end]
    infons = {"score": str(entity["score"])} if "score" in entity else {}
    return Mention([(start, end)], kind, surface or "", infons=infons)


def document_format(path: str | os.PathLike[str], format: str | None = None) -> str:
    """``format`` checked, or detected: a ``.jsonl`` file is tag.py's records, else the corpus formats'
    detection (`bioner.corpora.detect_format`). Raises ``ValueError`` naming the path when undetectable."""
    if format not in (None, "auto"):
        if format not in DOCUMENT_FORMATS:
            raise ValueError(
                f"unknown document format {format!r}; expected one of {', '.join(DOCUMENT_FORMATS)}"
            )
        return format
    path = Path(path)
    if path.suffix.lower() in JSONL_SUFFIXES:
        return JSONL
    detected = detect_format(path)
    if detected is None:
        what = "file or folder not found" if not path.exists() else "cannot tell its format"
        raise ValueError(
            f"{path}: {what} (expected one of {', '.join(DOCUMENT_FORMATS)}; pass it explicitly)"
        )
    return detected


def read_any_documents(path: str | os.PathLike[str], format: str | None = None) -> list[Document]:
    """Documents of tag.py JSONL or any corpus format (PubTator, BioC XML/JSON, brat); ``format`` detected
    when ``None`` or ``"auto"`` (see `document_format`)."""
    format = document_format(path, format)
    return read_entity_records(path) if format == JSONL else read_documents(path, format)
