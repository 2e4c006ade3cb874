"""Documents to tag: raw text from strings, ``.txt`` and JSONL files, or pre-tokenized words from JSONL/CoNLL.

Every problem with an input stops the run with an ``InputFormatError`` that names the file and line.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bioner.data import DataFormatError, read_conll, read_utf8_lines
from bioner.jsonl import read_jsonl_objects

logger = logging.getLogger(__name__)

INPUT_FORMATS = ("auto", "txt", "jsonl", "conll")
TXT_UNITS = ("file", "line")
_SUFFIX_FORMATS = {".txt": "txt", ".jsonl": "jsonl", ".json": "jsonl", ".tsv": "conll", ".conll": "conll"}


class InputFormatError(ValueError):
    """An input file that cannot be read as documents; the message starts with ``file:line``."""


@dataclass
class Document:
    """One unit of output. Raw text is cut into words and sentences by ``bioner.text``; pre-tokenized
    ``words`` are kept as they are, as one sentence, and ``text`` is then the words joined by single spaces."""

    id: str
    text: str
    words: list[str] | None = None

    @classmethod
    def from_words(cls, id: str, words: Sequence[str]) -> Document:
        return cls(id=id, text=" ".join(words), words=list(words))


def read_documents(
    paths: Sequence[str | Path],
    *,
    input_format: str = "auto",
    txt_unit: str = "file",
    text_field: str = "text",
    tokens_field: str = "tokens",
    id_field: str = "id",
) -> list[Document]:
    """Documents of all ``paths`` in order. ``txt_unit``: one document per ``.txt`` file or per non-blank line."""
    if input_format not in INPUT_FORMATS:
        raise ValueError(f"--input_format must be one of {', '.join(INPUT_FORMATS)}, not {input_format!r}")
    if txt_unit not in TXT_UNITS:
        raise ValueError(f"--txt_unit must be one of {', '.join(TXT_UNITS)}, not {txt_unit!r}")
    documents: list[Document] = []
    for path in map(Path, paths):
        kind = _SUFFIX_FORMATS.get(path.suffix.lower(), "txt") if input_format == "auto" else input_format
        if kind == "jsonl":
            documents += _read_jsonl(path, text_field, tokens_field, id_field)
        elif kind == "conll":
            documents += _read_conll(path)
        else:
            documents += _read_txt(path, txt_unit)
    return documents


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
                f"the record has {', '.join(map(repr, record)) or 'no fields'} (see --text_field/--tokens_field)"
            )
    return documents
