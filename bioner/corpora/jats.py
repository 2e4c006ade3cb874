"""PMC full texts in JATS XML (``.nxml``/``.xml``, plain or gzipped; an ``<article>``, or a
``<pmc-articleset>`` of them), read as documents.

    documents = read_jats("PMC1234567.nxml", report=report)          # or bioner.corpora.read_documents

One document per ``<article>``. Its id is the PMCID (``article-id`` of type ``pmc``/``pmcid``, written
``PMC<number>``), else the PMID, else the DOI, else the file name without its suffixes. Passages, in document
order (texts as in `bioner.corpora.xmlfiles`: inline markup's text kept in order, joined by single spaces):

- ``title``: the ``article-title``;
- ``abstract``: each paragraph of each ``<abstract>`` (``abstract_type`` infon when it has one, ``section``
  when it has titled sections);
- ``section_title`` and ``paragraph``: each ``<sec>``'s title and each ``<p>`` of the ``<body>``, with
  the section's titles from the outermost (``Methods / Cell culture``) as the ``section`` infon (and
  ``sec_type``).

Left out, and counted per element in the :class:`~bioner.corpora.xmlfiles.ReadReport`'s ``left_out``: tables
(``table-wrap``), figures (``fig``), display formulas, supplementary material, media and graphics, wherever
they are (inside a paragraph too: the paragraph's text around them is kept); the whole ``<back>`` (references
``ref-list``, acknowledgements, appendices, footnotes: counted as ``back/<element>``), ``floats-group``,
``sub-article``/``response``, and translated titles and abstracts. With ``captions=True`` the captions of the
figures and tables left out become passages (``fig_caption``/``table_caption``) after the paragraph or section
that holds them.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path

from bioner.corpora.model import Document
from bioner.corpora.problems import CorpusFormatError, Repairs
from bioner.corpora.xmlfiles import (
    ReadReport,
    assemble,
    element_text,
    expect_root,
    local_name,
    open_xml,
    parse_error,
)

ROOTS = ("article", "pmc-articleset")
LEFT_OUT = frozenset(
    {
        "table-wrap", "table-wrap-group", "fig", "fig-group", "disp-formula", "disp-formula-group",
        "supplementary-material", "media", "graphic", "chem-struct-wrap", "array", "ref-list", "alternatives",
    }
)  # fmt: skip
CAPTIONED = {"fig": "fig_caption", "table-wrap": "table_caption"}
_ID_TYPES = (("pmc", "pmcid"), ("pmid",), ("doi",))
Part = tuple[str, str, dict[str, str]]


def iter_jats(
    path: str | os.PathLike[str], report: ReadReport | None = None, *, captions: bool = False
) -> Iterator[Document]:
    """The documents of a JATS file, one article in memory at a time."""
    path = Path(path)
    report = report if report is not None else ReadReport()
    root_name = expect_root(path, ROOTS, "JATS")
    depth = 1  # inside the root once its start is read
    with open_xml(path) as handle:
        events = ET.iterparse(handle, events=("start", "end"))
        try:
            _, root = next(events)
            for event, element in events:
                if event == "start":
                    depth += 1
                    continue
                depth -= 1
                name = local_name(element.tag)
                if name == "article" and (depth == 0 or root_name == "pmc-articleset" and depth == 1):
                    report.records += 1
                    document = _article(element, path, report, captions)
                    if depth == 1:
                        root.clear()
                    if document is None:
                        report.skipped["no text"] += 1
                    else:
                        report.documents += 1
                        yield document
        except ET.ParseError as error:
            raise parse_error(path, error) from None
        except EOFError:
            raise CorpusFormatError(path, "the gzip stream ends early (file cut short?)") from None


def read_jats(
    path: str | os.PathLike[str],
    repairs: Repairs | None = None,
    *,
    report: ReadReport | None = None,
    captions: bool = False,
) -> list[Document]:
    """All the documents of a JATS file (see `iter_jats`); what was left out is logged. ``repairs`` is not
    used (the corpus readers' common signature)."""
    found = ReadReport()
    documents = list(iter_jats(path, found, captions=captions))
    found.check(path)
    found.log(path)
    if report is not None:
        report.merge(found)
    return documents


def _children(element: ET.Element, *names: str) -> list[ET.Element]:
    return [child for child in element if local_name(child.tag) in names]


def _first(element: ET.Element | None, *path: str) -> ET.Element | None:
    for name in path:
        if element is None:
            return None
        element = next(iter(_children(element, name)), None)
    return element


def article_id(article: ET.Element, fallback: str) -> str:
    """PMCID, else PMID, else DOI, else ``fallback``."""
    ids = {
        node.get("pub-id-type", ""): (node.text or "").strip()
        for node in _children(_first(article, "front", "article-meta") or ET.Element("none"), "article-id")
    }
    for types in _ID_TYPES:
        value = next((ids[t] for t in types if ids.get(t)), "")
        if value:
            return value if types[0] != "pmc" or value.upper().startswith("PMC") else f"PMC{value}"
    return fallback


class _Walker:
    """Collects an article's passages in document order, counting what is left out."""

    def __init__(self, report: ReadReport, captions: bool):
        self.report = report
        self.captions = captions
        self.parts: list[Part] = []
        self.floats: list[ET.Element] = []

    def leave_out(self, element: ET.Element, prefix: str = "") -> bool:
        name = local_name(element.tag)
        if name not in LEFT_OUT:
            return False
        self.report.left_out[prefix + name] += 1
        self.floats.append(element)
        return True

    def flush_captions(self, infons: dict[str, str]) -> None:
        floats, self.floats = self.floats, []
        for element in floats if self.captions else ():
            kind = CAPTIONED.get(local_name(element.tag))
            caption = _first(element, "caption")
            if kind and caption is not None:
                text = " ".join(filter(None, (element_text(c, self._skip) for c in caption)))
                self.parts.append((kind, text, {**infons, "float_id": element.get("id", "")}))
        self.floats = []

    @property
    def _skip(self) -> Callable[[ET.Element], bool]:
        return self.leave_out

    def blocks(self, container: ET.Element, kind: str, sections: list[str], infons: dict[str, str]) -> None:
        """Paragraphs (``kind``) and sections of ``container``."""
        for child in container:
            if not isinstance(child.tag, str):
                continue
            name = local_name(child.tag)
            here = {**infons, "section": " / ".join(sections)} if sections else dict(infons)
            if name == "p":
                self.parts.append((kind, element_text(child, self._skip), here))
                self.flush_captions(here)
            elif name == "sec":
                self.section(child, kind, sections, infons)
            elif name in ("title", "label", "sec-meta"):
                continue  # a section's title is read by `section`
            elif self.leave_out(child):
                self.flush_captions(here)
            elif len(child):
                self.blocks(child, kind, sections, infons)
            elif (child.text or "").strip():
                self.parts.append((kind, element_text(child, self._skip), here))

    def section(self, sec: ET.Element, kind: str, sections: list[str], infons: dict[str, str]) -> None:
        title = _first(sec, "title")
        text = element_text(title, self._skip) if title is not None else ""
        inner = [*sections, text] if text else sections
        infons = {**infons, "sec_type": sec.get("sec-type", "")} if sec.get("sec-type") else infons
        if text and kind == "paragraph":
            self.parts.append(("section_title", text, {**infons, "section": " / ".join(inner)}))
        self.blocks(sec, kind, inner, infons)


def _article(article: ET.Element, path: Path, report: ReadReport, captions: bool) -> Document | None:
    identifier = article_id(article, path.name.split(".")[0])
    walker = _Walker(report, captions)
    meta = _first(article, "front", "article-meta")
    title = _first(meta, "title-group", "article-title")
    walker.parts.append(("title", element_text(title, walker.leave_out) if title is not None else "", {}))
    walker.floats = []
    if meta is not None:
        for group in _children(meta, "title-group"):
            report.left_out["trans-title-group"] += len(_children(group, "trans-title-group"))
        report.left_out["trans-abstract"] += len(_children(meta, "trans-abstract"))
        for abstract in _children(meta, "abstract"):
            kind = abstract.get("abstract-type")
            walker.blocks(abstract, "abstract", [], {"abstract_type": kind} if kind else {})
    body = _first(article, "body")
    if body is not None:
        walker.blocks(body, "paragraph", [], {})
    for name in ("back", "floats-group"):
        for part in _children(article, name):
            for child in part:
                report.left_out[f"{name}/{local_name(child.tag)}"] += 1
    for name in ("sub-article", "response"):
        report.left_out[name] += len(_children(article, name))
    report.left_out += type(report.left_out)()  # drop the zero counts
    document = assemble(identifier, walker.parts, f"{path} article {identifier}")
    return document if document.text else None
