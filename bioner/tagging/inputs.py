"""Documents to tag: raw text from strings, ``.txt`` and JSONL files, pre-tokenized words from JSONL/CoNLL, or
annotated corpora (PubTator, BioC XML/JSON, brat: their ids and passages are kept, their mentions not used).
Each is a :class:`bioner.corpora.model.Document` (pre-tokenized ones with ``words``).

Every problem with an input stops the run with an ``InputFormatError`` that names the file and line.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

from bioner.corpora import READ_FORMATS as CORPUS_FORMATS
from bioner.corpora import detect_format, read_documents
from bioner.corpora.model import Document
from bioner.data.conll import read_conll
from bioner.data.files import DataFormatError, read_utf8_lines
from bioner.data.jsonl import read_jsonl_objects

logger = logging.getLogger(__name__)

INPUT_FORMATS = ("auto", "txt", "jsonl", "conll", *CORPUS_FORMATS)
TXT_UNITS = ("file", "line")
_SUFFIX_FORMATS = {".jsonl": "jsonl", ".tsv": "conll", ".conll": "conll"}  # XML: by its root element


class InputFormatError(ValueError):
    """An input file that cannot be read as documents; the message starts with ``file:line``."""


def read_inputs(
    paths: Sequence[str | Path],
    *,
    input_format: str = "auto",
    txt_unit: str = "file",
    text_field: str = "text",
    tokens_field: str = "tokens",
    id_field: str = "id",
) -> list[Document]:
    """Documents to tag of all ``paths`` in order (a brat input is a folder or a ``.ann``/``.txt`` pair).
    ``txt_unit``: one document per ``.txt`` file or per non-blank line. With ``input_format="auto"`` see
    `input_format_of`."""
    if input_format not in INPUT_FORMATS:
        raise ValueError(f"--input_format must be one of {', '.join(INPUT_FORMATS)}, not {input_format!r}")
    if txt_unit not in TXT_UNITS:
        raise ValueError(f"--txt_unit must be one of {', '.join(TXT_UNITS)}, not {txt_unit!r}")
    documents: list[Document] = []
    for path in map(Path, paths):
        kind = input_format_of(path) if input_format == "auto" else input_format
        if kind in CORPUS_FORMATS:
            documents += _read_corpus(path, kind)
        elif kind == "jsonl":
            documents += _read_jsonl(path, text_field, tokens_field, id_field)
        elif kind == "conll":
            documents += _read_conll(path)
        else:
            documents += _read_txt(path, txt_unit)
    return documents


def input_format_of(path: Path) -> str:
    """The format of an input, for ``--input_format auto``: ``.jsonl`` and ``.tsv``/``.conll`` by suffix;
    ``.json`` is BioC JSON unless its first line is a whole JSON object without ``documents`` (JSONL);
    anything else by content (`bioner.corpora.detect_format`: PubTator, XML by its root element, plain or
    gzipped: PubMed, JATS or BioC, another root an error; brat for a folder or a ``.txt`` beside its
    ``.ann``), else raw text."""
    suffix = path.suffix.lower()
    if suffix in _SUFFIX_FORMATS:
        return _SUFFIX_FORMATS[suffix]
    if suffix == ".json":
        return "jsonl" if _first_line_is_record(path) else "bioc_json"
    return detect_format(path) or "txt"


def _first_line_is_record(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            first = next((line for line in handle if line.strip()), "")
        record = json.loads(first)
    except (OSError, ValueError):
        return False
    return isinstance(record, dict) and "documents" not in record


def _read_corpus(path: Path, kind: str) -> list[Document]:
    """Documents of an annotated corpus file (or brat folder), with their ids and passages."""
    try:
        corpus = read_documents(path, kind)
    except DataFormatError as error:  # CorpusFormatError included: file:line or document id
        raise InputFormatError(str(error)) from None
    annotated = sum(len(document.mentions) for document in corpus)
    if annotated:
        logger.info("%s: %d annotated mention(s) in the input are not used for tagging", path, annotated)
    return [Document(id=d.id, text=d.text, passages=list(d.passages), source=d.source) for d in corpus]


def _lines(path: Path) -> list[str]:
    try:
        return read_utf8_lines(path)
    except DataFormatError as error:
        raise InputFormatError(str(error)) from None


def _read_txt(path: Path, unit: str) -> list[Document]:
    lines = _lines(path)
    if unit == "file":
        return [Document(id=path.name, text="\n".join(lines))]
    documents = [
        Document(id=f"{path.name}:{n}", text=line) for n, line in enumerate(lines, 1) if line.strip()
    ]
    blank = len(lines) - len(documents) - (lines[-1:] == [""])
    if blank:
        logger.info("%s: skipped %d blank line(s) (one document per line)", path, blank)
    return documents


def _read_conll(path: Path) -> list[Document]:
    try:
        sentences = read_conll(path).sentences
    except DataFormatError as error:
        raise InputFormatError(str(error)) from None
    return [Document.from_words(f"{path.name}#{i}", tokens) for i, (tokens, _) in enumerate(sentences)]


def _read_jsonl(path: Path, text_field: str, tokens_field: str, id_field: str) -> list[Document]:
    documents = []
    for where, record in read_jsonl_objects(path, InputFormatError):
        identifier = record.get(id_field, Path(where).name)  # default: file:line
        if not isinstance(identifier, str | int):
            raise InputFormatError(f"{where}: '{id_field}' must be a string or an integer")
        if text_field in record:
            text = record[text_field]
            if not isinstance(text, str):
                raise InputFormatError(f"{where}: '{text_field}' must be a string, got {type(text).__name__}")
            documents.append(Document(id=str(identifier), text=text))
        elif tokens_field in record:
            words = record[tokens_field]
            if not isinstance(words, list) or not all(
                isinstance(w, str) and w and w.split() == [w] for w in words
            ):
                raise InputFormatError(
                    f"{where}: '{tokens_field}' must be a list of non-empty strings without whitespace"
                )
            documents.append(Document.from_words(str(identifier), words))
        else:
            raise InputFormatError(
                f"{where}: no '{text_field}' (raw text) or '{tokens_field}' (words) field; "
                f"the record has {', '.join(map(repr, record)) or 'no fields'} "
                "(see --text_field/--tokens_field)"
            )
    return documents
