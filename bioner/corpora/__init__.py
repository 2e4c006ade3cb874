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
from bioner.corpora.jats import read_jats
from bioner.corpora.model import Document, Mention, Passage
from bioner.corpora.problems import CorpusFormatError, Repairs
from bioner.corpora.pubmed import read_pubmed
from bioner.corpora.pubtator import read_pubtator, write_pubtator
from bioner.corpora.xmlfiles import GZIP_MAGIC, ROOT_FORMATS, unknown_xml_message, xml_root

__all__ = [
    "FORMATS",
    "READ_FORMATS",
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
READ_FORMATS = (*FORMATS, "pubmed", "jats")  # PubMed/MEDLINE XML and PMC JATS: read only (docs/pubmed.md)
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
    "pubmed": read_pubmed,
    "jats": read_jats,
}
_WRITERS: dict[str, Callable[[Sequence[Document], str | os.PathLike[str]], None]] = {
    "pubtator": write_pubtator,
    "bioc_xml": write_bioc_xml,
    "bioc_json": write_bioc_json,
    "brat": write_brat,
}
_PUBTATOR_LINE = re.compile(rb"[^|\t\r\n]+\|[ta]\|")
# Past the first line: a title/abstract line or a mention line (id, two integer offsets) anywhere in the head.
_PUBTATOR_ANY_LINE = re.compile(rb"(?m)^(?:[^|\t\r\n]+\|[ta]\||[^|\t\r\n]+\t-?\d+\t-?\d+\t)")
# Names that say the format when the content cannot (an empty file): the reader then names the problem.
_SUFFIX_FORMATS = {".pubtator": "pubtator", ".xml": "bioc_xml", ".bioc": "bioc_xml", ".ann": "brat"}


def detect_format(path: str | os.PathLike[str]) -> str | None:
    """The format of a file or folder from its name and first bytes, or ``None`` when it is none of them.

    A folder holding ``.ann`` files (in it or in sub-folders), or a ``.ann`` file, is brat; a file starting
    with ``<`` is BioC XML, with ``{`` or ``[`` BioC JSON, with ``ID|t|`` PubTator (whatever its extension:
    NCBI's are ``.txt``; a title or mention line further in the first 4 KiB also counts); a file whose
    content says none of these (empty, damaged) goes by its name (``.PubTator``, ``.xml``, ``.json``), so
    that its reader names the problem; a
    ``.txt`` beside a ``.ann`` of the same name is brat. XML (plain or gzipped) goes by its root element:
    ``PubmedArticleSet`` pubmed, ``article``/``pmc-articleset`` jats, ``collection`` BioC XML; any other
    root is a ``CorpusFormatError`` naming it (never a file read as zero documents)."""
    path = Path(path)
    if path.is_dir():
        return "brat" if any(path.rglob("*.ann")) else None
    if path.suffix == ".ann" or (path.suffix == ".txt" and path.with_suffix(".ann").is_file()):
        return "brat"
    try:
        with path.open("rb") as handle:
            head = handle.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    except OSError:
        return None
    if head.startswith((b"<", GZIP_MAGIC)):  # XML, plain or gzipped: by its root element
        root = xml_root(path)
        if root is None:
            return "bioc_xml" if head.startswith(b"<") else None  # malformed: the reader names the line
        if root not in ROOT_FORMATS:
            raise CorpusFormatError(path, unknown_xml_message(root))
        return ROOT_FORMATS[root]
    if head[:1] in (b"{", b"["):
        return "bioc_json"
    if _PUBTATOR_LINE.match(head) or _PUBTATOR_ANY_LINE.search(head):
        return "pubtator"
    for suffix in (s.lower() for s in reversed(path.suffixes)):  # empty or damaged: by the name
        if suffix in _SUFFIX_FORMATS:  # (an empty .PubTator is no raw text: its reader names the problem)
            return _SUFFIX_FORMATS[suffix]
        if suffix == ".json":
            return "bioc_json"
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
                f"cannot tell the corpus format (expected one of {', '.join(READ_FORMATS)}); pass it"
                " explicitly",
            )
    if format not in READ_FORMATS:
        raise CorpusFormatError(
            path, f"unknown corpus format {format!r}; expected one of {', '.join(READ_FORMATS)}"
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
