"""PubMed/MEDLINE XML (baseline and update files, ``.xml`` or ``.xml.gz``), read as documents, streamed.

    for document in iter_pubmed("pubmed24n0001.xml.gz", report):   # bounded memory: one citation at a time
        ...
    documents = read_pubmed("pubmed24n1300.xml")                     # or bioner.corpora.read_documents

One document per citation (``PubmedArticle``'s ``MedlineCitation``, or ``PubmedBookArticle``'s
``BookDocument``): its id is the PMID, its passages the ``ArticleTitle`` (type ``title``) and each
``AbstractText`` (type ``abstract``; a structured abstract's ``Label`` and ``NlmCategory`` are the
passage's ``label`` and ``nlm_category`` infons, not text). Passage texts include their inline markup's text
in order and are joined by single spaces (`bioner.corpora.xmlfiles`), so ``text[p.offset:p.end] == p.text``.

Every citation is accounted for in a :class:`~bioner.corpora.xmlfiles.ReadReport`: read, or skipped with a
reason (``no PMID``, ``duplicate PMID`` after its first copy in the file, ``no title or abstract``, and
``no abstract`` when ``without_abstract="skip"``; by default a citation without an abstract is a title-only
document). ``OtherAbstract`` (an abstract in another language or from another source) and ``VernacularTitle``
(the title in its original language) are left out and counted: the documents are the English title and
abstract that PubMed shows. ``<DeleteCitation>`` PMIDs (update files) are listed in ``report.deleted``
(`write_deleted_pmids` writes them for a user to apply); they are not documents.
"""

from __future__ import annotations

import logging
import os
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from pathlib import Path

from bioner.corpora.model import Document
from bioner.corpora.problems import CorpusFormatError, Repairs
from bioner.corpora.xmlfiles import (
    ReadReport,
    assemble,
    clean,
    element_text,
    expect_root,
    open_xml,
    parse_error,
)

logger = logging.getLogger("bioner.corpora")

ROOTS = ("PubmedArticleSet", "MedlineCitationSet")
WITHOUT_ABSTRACT = ("keep", "skip")
_CITATIONS = ("MedlineCitation", "BookDocument")
_CONTAINERS = ("PubmedArticle", "PubmedBookArticle", "DeleteCitation")


def iter_pubmed(
    path: str | os.PathLike[str], report: ReadReport | None = None, *, without_abstract: str = "keep"
) -> Iterator[Document]:
    """The documents of a PubMed XML file in file order, one citation in memory at a time. ``report`` (when
    given) counts what was read, skipped and left out, and gets the ``<DeleteCitation>`` PMIDs."""
    if without_abstract not in WITHOUT_ABSTRACT:
        raise ValueError(f"without_abstract must be one of {WITHOUT_ABSTRACT}, not {without_abstract!r}")
    path = Path(path)
    report = report if report is not None else ReadReport()
    expect_root(path, ROOTS, "PubMed XML")
    seen: set[str] = set()
    with open_xml(path) as handle:
        events = ET.iterparse(handle, events=("start", "end"))
        try:
            _, root = next(events)
            for event, element in events:
                if event == "start":
                    continue
                tag = element.tag
                if tag in _CITATIONS:
                    report.records += 1
                    document = _citation(element, path, report, seen, without_abstract == "keep")
                    root.clear()  # the citation is detached and freed once its container ends
                    if document is not None:
                        report.documents += 1
                        yield document
                elif tag in _CONTAINERS:
                    if tag == "DeleteCitation":
                        report.deleted += [clean(p.text or "") for p in element.iter("PMID")]
                    root.clear()
        except ET.ParseError as error:
            raise parse_error(path, error) from None
        except EOFError:  # a gzip stream cut short
            raise CorpusFormatError(path, "the gzip stream ends early (file cut short?)") from None


def _citation(
    citation: ET.Element, path: Path, report: ReadReport, seen: set[str], keep_title_only: bool
) -> Document | None:
    pmid = clean(citation.findtext("PMID") or "")
    if not pmid:
        report.skipped["no PMID"] += 1
        return None
    if pmid in seen:
        report.skipped["duplicate PMID"] += 1
        return None
    seen.add(pmid)
    article = citation.find("Article")
    if article is None:  # BookDocument: the title and abstract are its own children
        article = citation
    title = article.find("ArticleTitle")
    if title is None:
        title = citation.find("Book/BookTitle")
    left_out = report.left_out
    vernacular = len(article.findall("VernacularTitle")) + len(citation.findall("Book/VernacularTitle"))
    if vernacular:
        left_out["VernacularTitle"] += vernacular
    others = citation.findall("OtherAbstract")
    if others:
        left_out["OtherAbstract"] += len(others)
    parts = [("title", element_text(title) if title is not None else "", {})]
    abstract = article.find("Abstract")
    for section in abstract.iterfind("AbstractText") if abstract is not None else ():
        text = element_text(section)
        if not text:
            left_out["empty AbstractText"] += 1
            continue
        infons = {}
        if "Label" in section.attrib:
            infons["label"] = section.attrib["Label"]
        if "NlmCategory" in section.attrib:
            infons["nlm_category"] = section.attrib["NlmCategory"]
        parts.append(("abstract", text, infons))
    if len(parts) == 1:
        if not parts[0][1]:
            report.skipped["no title or abstract"] += 1
            return None
        if not keep_title_only:
            report.skipped["no abstract"] += 1
            return None
        report.kinds["title only"] += 1
    else:
        report.kinds["title and abstract" if parts[0][1] else "abstract only"] += 1
    return assemble(pmid, parts, f"{path} PMID {pmid}")


def read_pubmed(
    path: str | os.PathLike[str],
    repairs: Repairs | None = None,
    *,
    report: ReadReport | None = None,
    without_abstract: str = "keep",
) -> list[Document]:
    """All the documents of a PubMed XML file (see `iter_pubmed`); what was skipped and left out is logged,
    and ``<DeleteCitation>`` PMIDs are a warning (they are in ``report.deleted``). ``repairs`` is not used
    (the reader repairs nothing); it is the corpus readers' common signature."""
    found = ReadReport()
    documents = list(iter_pubmed(path, found, without_abstract=without_abstract))
    found.check(path)
    found.log(path)
    if found.deleted:
        logger.warning(
            "%s: %d PMID(s) listed for deletion (<DeleteCitation>); remove them from earlier outputs "
            "(tag.py --output_dir writes them to <output>.deleted_pmids.txt)",
            path,
            len(found.deleted),
        )
    if report is not None:
        report.merge(found)
    return documents


def write_deleted_pmids(pmids: Sequence[str], path: str | os.PathLike[str]) -> None:
    """One PMID a line, in file order (e.g. for ``grep -v -x -F -f`` or a database delete)."""
    Path(path).write_text("".join(f"{pmid}\n" for pmid in pmids), encoding="utf-8")
