"""Corpora as annotators publish them: PubTator, BioC XML, BioC JSON and brat standoff, in and out.

    documents = read_documents("CDR_TestSet.PubTator.txt")          # format detected
    write_documents(documents, "test.xml", "bioc_xml")

Every reader returns :class:`~bioner.corpora.model.Document` objects; problems raise
:class:`~bioner.corpora.problems.CorpusFormatError` naming the file and line (or document id), and unambiguous
repairs are counted in an optional :class:`~bioner.corpora.problems.Repairs` and logged.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path

from bioner.corpora.bioc import read_bioc_json, read_bioc_xml, write_bioc_json, write_bioc_xml
from bioner.corpora.brat import read_brat, write_brat
from bioner.corpora.model import Document, Mention, Passage
from bioner.corpora.problems import CorpusFormatError, Repairs
from bioner.corpora.pubtator import read_pubtator, write_pubtator

__all__ = [
    "FORMATS",
    "CorpusFormatError",
    "Document",
    "Mention",
    "Passage",
    "Repairs",
    "detect_format",
    "read_documents",
    "write_documents",
]

FORMATS = ("pubtator", "bioc_xml", "bioc_json", "brat")
# --from / --output_format spellings: "bioc" reads XML or JSON by content.
FORMAT_ALIASES = {
    "bioc": None,
    "xml": "bioc_xml",
    "json": "bioc_json",
    "bioc-xml": "bioc_xml",
    "bioc-json": "bioc_json",
}
_READERS: dict[str, Callable[..., list[Document]]] = {
    "pubtator": read_pubtator,
    "bioc_xml": read_bioc_xml,
    "bioc_json": read_bioc_json,
    "brat": read_brat,
}
_WRITERS: dict[str, Callable[[Sequence[Document], str | os.PathLike[str]], None]] = {
    "pubtator": write_pubtator,
    "bioc_xml": write_bioc_xml,
    "bioc_json": write_bioc_json,
    "brat": write_brat,
}
_PUBTATOR_LINE = re.compile(rb"[^|\t\r\n]+\|[ta]\|")


def detect_format(path: str | os.PathLike[str]) -> str | None:
    """The format of a file or folder from its name and first bytes, or ``None`` when it is none of them.

    A folder holding ``.ann`` files, or a ``.ann`` file, is brat; a file starting with ``<`` is BioC XML, with
    ``{`` or ``[`` BioC JSON, with ``ID|t|`` PubTator (whatever its extension: NCBI's are ``.txt``); a ``.txt``
    beside a ``.ann`` of the same name is brat."""
    path = Path(path)
    if path.is_dir():
        return "brat" if any(path.glob("*.ann")) else None
    if path.suffix == ".ann" or (path.suffix == ".txt" and path.with_suffix(".ann").is_file()):
        return "brat"
    try:
        with path.open("rb") as handle:
            head = handle.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    except OSError:
        return None
    if head.startswith(b"<"):
        return "bioc_xml"
    if head[:1] in (b"{", b"["):
        return "bioc_json"
    if _PUBTATOR_LINE.match(head):
        return "pubtator"
    return None


def _format(path: Path, format: str | None) -> str:
    if format is not None:
        format = FORMAT_ALIASES.get(format.lower(), format.lower())
    if format is None:
        format = detect_format(path)
        if format is None:
            if not path.exists():
                raise CorpusFormatError(path, "file or folder not found")
            raise CorpusFormatError(
                path,
                f"cannot tell the corpus format (expected one of {', '.join(FORMATS)}); pass it explicitly",
            )
    if format not in FORMATS:
        raise CorpusFormatError(
            path, f"unknown corpus format {format!r}; expected one of {', '.join(FORMATS)}"
        )
    return format


def read_documents(
    path: str | os.PathLike[str], format: str | None = None, repairs: Repairs | None = None
) -> list[Document]:
    """Documents of a PubTator, BioC XML/JSON file or a brat folder/file pair (``format`` detected when
    ``None``; ``"bioc"`` means XML or JSON by content). Repairs made are added to ``repairs`` when given."""
    path = Path(path)
    format = _format(path, format)
    return _READERS[format](path, repairs)


def write_documents(documents: Sequence[Document], path: str | os.PathLike[str], format: str) -> None:
    """Write documents in ``format`` (one of ``FORMATS``); brat writes a folder of ``.txt``/``.ann`` pairs."""
    key = FORMAT_ALIASES.get(format.lower(), format.lower()) or "bioc_xml"
    if key not in _WRITERS:
        raise ValueError(f"unknown output format {format!r}; expected one of {', '.join(FORMATS)}")
    _WRITERS[key](documents, path)
