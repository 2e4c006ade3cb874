"""What the XML readers share: opening plain or gzipped files, telling the format by the root element, turning
parse errors into ``file:line`` errors, the text of an element with inline markup, and the count of what a
reader read, skipped and left out.

Passage texts are built one way for every XML format (PubMed, JATS): the text of the element and of all
its inline markup in document order (``<i>``, ``<sup>``, ``<sub>``, MathML...), runs of whitespace that hold a
line break or a tab made one space, and the ends stripped; a document's text is its passages joined by single
spaces (PubTator's title + " " + abstract), each passage at its offset.
"""

from __future__ import annotations

import gzip
import logging
import os
import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from bioner.corpora.model import Document, Passage
from bioner.corpora.problems import CorpusFormatError

logger = logging.getLogger("bioner.corpora")

GZIP_MAGIC = b"\x1f\x8b"
ROOT_FORMATS = {
    "PubmedArticleSet": "pubmed",
    "MedlineCitationSet": "pubmed",
    "article": "jats",
    "pmc-articleset": "jats",
    "collection": "bioc_xml",
}
"""Root element -> format (``detect_format``)."""
MATHML = "{http://www.w3.org/1998/Math/MathML}"
_BREAKS = re.compile(r"[ \t\r\n]*[\t\r\n][ \t\r\n]*")


def is_gzip(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(2) == GZIP_MAGIC
    except OSError:
        return False


def open_xml(path: Path) -> IO[bytes]:
    """The file's bytes, decompressed when it is gzipped (by its first bytes, whatever its name)."""
    try:
        return gzip.open(path, "rb") if is_gzip(path) else path.open("rb")
    except FileNotFoundError:
        raise CorpusFormatError(path, "file not found") from None


def local_name(tag: str) -> str:
    """``{namespace}name`` -> ``name``."""
    return tag.rpartition("}")[2]


def xml_root(path: str | os.PathLike[str]) -> str | None:
    """The root element's name (namespace stripped) of an XML file, plain or gzipped; ``None`` when the file
    cannot be read or holds no element before its first error."""
    path = Path(path)
    try:
        with open_xml(path) as handle:
            for _, element in ET.iterparse(handle, events=("start",)):
                return local_name(element.tag)
    except (OSError, EOFError, ET.ParseError, CorpusFormatError):
        return None
    return None


def expect_root(path: Path, roots: Iterable[str], what: str) -> str | None:
    """The root element's name, or a ``CorpusFormatError`` naming the root found when it is not one of
    ``roots``; ``None`` when no root can be read (the parse that follows names the line that is wrong)."""
    root = xml_root(path)
    roots = tuple(roots)
    if root is not None and root not in roots:
        known = ", ".join(f"<{r}>" for r in roots)
        raise CorpusFormatError(path, f"not a {what} file: its root element is <{root}>, expected {known}")
    return root


def unknown_xml_message(root: str) -> str:
    """What ``read_documents`` says of an XML file whose root is no known format."""
    known = "; ".join(f"<{r}> {f}" for r, f in ROOT_FORMATS.items())
    return f"XML whose root element <{root}> is no corpus format known here ({known})"


def parse_error(path: Path, error: ET.ParseError) -> CorpusFormatError:
    line, column = error.position
    return CorpusFormatError(
        path, f"malformed XML: {str(error.msg).split(':')[0]} (column {column + 1})", line
    )


def clean(text: str) -> str:
    """Runs of whitespace holding a line break or tab -> one space; the ends stripped."""
    if "\n" in text or "\t" in text or "\r" in text:
        text = _BREAKS.sub(" ", text)
    return text.strip()


def element_text(element: ET.Element, skip: Callable[[ET.Element], bool] | None = None) -> str:
    """The text of ``element`` and of all its inline markup, in order; elements for which ``skip`` is true are
    left out (their tail text is kept). In ``<alternatives>`` only the MathML (else the first) child is read,
    and MathML ``<annotation>``s are never read (they repeat the formula as TeX)."""
    if len(element) == 0:
        return clean(element.text or "")
    pieces: list[str] = []
    _collect(element, pieces, skip)
    return clean("".join(pieces))


def _collect(element: ET.Element, pieces: list[str], skip: Callable[[ET.Element], bool] | None) -> None:
    if element.text:
        pieces.append(element.text)
    children = list(element)
    if local_name(element.tag) == "alternatives" and children:
        maths = [c for c in children if c.tag == MATHML + "math"]
        children = maths[:1] or children[:1]
    for child in children:
        tag = child.tag
        if not isinstance(tag, str) or tag in (MATHML + "annotation", MATHML + "annotation-xml"):
            pass
        elif skip is None or not skip(child):
            _collect(child, pieces, skip)
        if child.tail:
            pieces.append(child.tail)


def assemble(identifier: str, parts: Iterable[tuple[str, str, dict[str, str]]], source: str = "") -> Document:
    """A document of ``(type, text, infons)`` passages: empty texts dropped, the rest joined by single
    spaces."""
    passages: list[Passage] = []
    offset = 0
    for kind, text, infons in parts:
        if text:
            passages.append(Passage(offset, text, kind, infons))
            offset += len(text) + 1
    return Document(identifier, " ".join(p.text for p in passages), passages, source=source)


@dataclass
class ReadReport:
    """Every record of an XML file accounted for: read as a document, skipped (per reason) or deleted; and the
    parts of the documents read that were left out (per kind)."""

    records: int = 0
    """Citations (PubMed) or articles (JATS) met."""
    documents: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    left_out: Counter[str] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    """Documents read, per kind (PubMed: ``title and abstract``, ``title only``, ``abstract only``)."""
    deleted: list[str] = field(default_factory=list)
    """PMIDs listed in ``<DeleteCitation>`` (PubMed update files): to remove from earlier outputs."""

    def merge(self, other: ReadReport) -> None:
        self.records += other.records
        self.documents += other.documents
        self.skipped.update(other.skipped)
        self.left_out.update(other.left_out)
        self.kinds.update(other.kinds)
        self.deleted += other.deleted

    def as_dict(self) -> dict:
        return {
            "records": self.records,
            "documents": self.documents,
            "kinds": dict(sorted(self.kinds.items())),
            "skipped": dict(sorted(self.skipped.items())),
            "left_out": dict(sorted(self.left_out.items())),
            "deleted": len(self.deleted),
        }

    def check(self, source: str | os.PathLike[str]) -> None:
        """Every record met is either a document or skipped (a reader's own invariant)."""
        if self.records != self.documents + sum(self.skipped.values()):
            raise AssertionError(f"{source}: {self.records} records, {self.documents} read, {self.skipped}")

    def log(self, source: str | os.PathLike[str]) -> None:
        """One line: what was read, skipped and left out."""
        skipped = ", ".join(f"{n} {why}" for why, n in sorted(self.skipped.items())) or "none"
        left_out = ", ".join(f"{n} {what}" for what, n in sorted(self.left_out.items())) or "nothing"
        logger.info(
            "%s: %d record(s), %d document(s) read; skipped: %s; left out: %s%s",
            source, self.records, self.documents, skipped, left_out,
            f"; {len(self.deleted)} PMID(s) to delete (<DeleteCitation>)" if self.deleted else "",
        )  # fmt: skip
