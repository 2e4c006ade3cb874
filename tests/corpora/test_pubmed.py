"""PubMed/MEDLINE XML read as documents: slices of a real baseline file, and small update files built from its
records (structured abstracts, inline markup, DeleteCitation, malformed and truncated files)."""

from __future__ import annotations

import gzip
import re
import xml.etree.ElementTree as ET

import pytest

from benchmarks.read_pubmed import measure
from bioner.corpora import CorpusFormatError, detect_format, read_documents
from bioner.corpora.dataset import load_document_corpus
from bioner.corpora.pubmed import iter_pubmed, read_pubmed, write_deleted_pmids
from bioner.corpora.xmlfiles import ReadReport, element_text, xml_root
from tests.helpers import pubmed_slice

MML = 'xmlns:mml="http://www.w3.org/1998/Math/MathML"'


def write(tmp_path, data: bytes, name="slice.xml", zipped=False):
    path = tmp_path / name
    path.write_bytes(gzip.compress(data) if zipped else data)
    return path


def check_offsets(document):
    assert document.text == " ".join(p.text for p in document.passages)
    for passage in document.passages:
        assert document.text[passage.offset : passage.end] == passage.text
        assert passage.text == passage.text.strip() and "\n" not in passage.text


@pytest.mark.parametrize("zipped", [False, True])
def test_a_real_slice_reads_every_citation_with_exact_offsets(tmp_path, zipped):
    data = pubmed_slice(60)
    path = write(tmp_path, data, "slice.xml.gz" if zipped else "slice.xml", zipped)
    report = ReadReport()
    documents = list(iter_pubmed(path, report))
    pmids = re.findall(rb"<MedlineCitation[^>]*>\s*<PMID[^>]*>(\d+)</PMID>", data)
    assert [d.id for d in documents] == [p.decode() for p in pmids]
    assert report.records == report.documents == 60 and not report.skipped
    with_abstract = data.count(b"<Abstract>")
    assert report.kinds == {"title and abstract": with_abstract, "title only": 60 - with_abstract}
    for document in documents:
        check_offsets(document)
        assert document.passages[0].type == "title"
        assert all(p.type == "abstract" for p in document.passages[1:])
    first = documents[0]  # the file's first citation, as PubTator would join it
    assert first.id == "399296"
    assert first.text.startswith("Monitoring of bacteriological contamination and assessment of carcase")
    assert first.passages[1].text.startswith("Two hundred and sixty nine beef, 230 sheep")
    assert first.passages[1].offset == len(first.passages[0].text) + 1
    assert report.left_out["VernacularTitle"] == data.count(b"<VernacularTitle>") > 0
    assert read_documents(path) == documents  # detected as pubmed, plain or gzipped
    assert detect_format(path) == "pubmed"


def test_structured_abstracts_keep_their_labels_as_infons(tmp_path):
    data = pubmed_slice(2, where=lambda xml: 'Label="' in xml)
    (path) = write(tmp_path, data)
    documents = read_pubmed(path)
    sections = re.findall(rb'<AbstractText Label="([^"]*)"(?: NlmCategory="([^"]*)")?>', data)
    passages = [p for d in documents for p in d.passages if p.type == "abstract"]
    assert [(p.infons.get("label", ""), p.infons.get("nlm_category", "")) for p in passages] == [
        (label.decode(), category.decode()) for label, category in sections
    ]
    assert ("ABBREVIATIONS", "BACKGROUND") in [
        (p.infons["label"], p.infons.get("nlm_category")) for p in passages
    ]
    for document in documents:
        check_offsets(document)
        assert "UNLABELLED" not in document.text and "ABBREVIATIONS" not in document.text  # labels: not text


def test_inline_markup_stays_in_its_sentence_in_order(tmp_path):
    """A real citation whose title and abstract get the markup of recent files: i, sup, sub, b, u, MathML."""
    data = pubmed_slice(1).decode()
    title = re.search(r"<ArticleTitle>(.*?)</ArticleTitle>", data).group(1)
    marked_title = "Effect of <i>Escherichia coli</i> on Ca<sup>2+</sup> and H<sub>2</sub>O: " + title
    abstract = (
        "Levels of <b>IL</b>-6 rose\n          (<u>p</u> &lt; 0.05) when "
        f"<mml:math {MML}><mml:msup><mml:mi>x</mml:mi><mml:mn>2</mml:mn></mml:msup>"
        "<mml:annotation>x^2</mml:annotation></mml:math> grew."
    )
    data = re.sub(r"<ArticleTitle>.*?</ArticleTitle>", f"<ArticleTitle>{marked_title}</ArticleTitle>", data)
    data = re.sub(
        r"<AbstractText>.*?</AbstractText>", f"<AbstractText>{abstract}</AbstractText>", data, flags=re.S
    )
    (document,) = read_pubmed(write(tmp_path, data.encode()))
    expected_title = "Effect of Escherichia coli on Ca2+ and H2O: " + title
    assert document.passages[0].text == expected_title
    assert document.passages[1].text == "Levels of IL-6 rose (p < 0.05) when x2 grew."
    assert document.text == expected_title + " Levels of IL-6 rose (p < 0.05) when x2 grew."
    check_offsets(document)
    start = document.text.index("Ca2+")
    assert document.text[start : start + 4] == "Ca2+" and document.passages[0].offset == 0


def test_citations_without_abstract_other_abstracts_and_duplicates_are_counted(tmp_path):
    data = pubmed_slice(20).decode()
    first = re.search(r"<PubmedArticle>.*?</PubmedArticle>", data, re.S).group(0)
    other_abstract = '<OtherAbstract Type="Publisher" Language="fre"><AbstractText>Résumé.</AbstractText>'
    other = first.replace("</MedlineCitation>", other_abstract + "</OtherAbstract></MedlineCitation>")
    empty = re.sub(r"<PMID Version=\"1\">\d+</PMID>", '<PMID Version="1">1</PMID>', first, count=1)
    empty = re.sub(r"<ArticleTitle>.*?</ArticleTitle>", "<ArticleTitle/>", empty)
    empty = re.sub(r"<Abstract>.*?</Abstract>", "", empty, flags=re.S)
    data = data.replace("</PubmedArticleSet>", other + empty + "</PubmedArticleSet>")
    path = write(tmp_path, data.encode())
    report = ReadReport()
    documents = list(iter_pubmed(path, report))
    assert len(documents) == 20
    assert report.records == 22
    assert report.skipped == {"duplicate PMID": 1, "no title or abstract": 1}
    assert report.left_out["OtherAbstract"] == 1  # counted even on the duplicate that is skipped
    assert "Résumé" not in " ".join(d.text for d in documents)
    title_only = report.kinds["title only"]
    assert title_only > 0
    skipping = ReadReport()
    assert len(list(iter_pubmed(path, skipping, without_abstract="skip"))) == 20 - title_only
    assert skipping.skipped["no abstract"] == title_only
    skipping.check(path)


def test_an_update_file_lists_its_deleted_citations(tmp_path, caplog):
    data = (
        pubmed_slice(3)
        .decode()
        .replace(
            "</PubmedArticleSet>",
            '<DeleteCitation><PMID Version="1">12345</PMID><PMID Version="1">67890</PMID></DeleteCitation>\n'
            "</PubmedArticleSet>",
        )
    )
    path = write(tmp_path, data.encode(), "pubmed24n1300.xml.gz", zipped=True)
    report = ReadReport()
    documents = read_pubmed(path, report=report)
    assert len(documents) == 3 and report.deleted == ["12345", "67890"]
    assert "2 PMID(s) listed for deletion" in caplog.text
    write_deleted_pmids(report.deleted, tmp_path / "deleted.txt")
    assert (tmp_path / "deleted.txt").read_text() == "12345\n67890\n"


def test_formats_are_told_by_the_xml_root(tmp_path):
    assert detect_format(write(tmp_path, b"<?xml version='1.0'?><PubmedArticleSet/>", "a.xml")) == "pubmed"
    assert detect_format(write(tmp_path, b"<article><front/></article>", "b.nxml")) == "jats"
    assert detect_format(write(tmp_path, b"<collection><source/></collection>", "c.xml")) == "bioc_xml"
    other = write(tmp_path, b"<?xml version='1.0'?>\n<!-- x -->\n<rss><channel/></rss>", "feed.xml")
    with pytest.raises(
        CorpusFormatError, match=r"feed\.xml: XML whose root element <rss> is no corpus format"
    ):
        detect_format(other)
    with pytest.raises(CorpusFormatError, match="<rss>"):
        read_documents(other)
    pubmed = write(tmp_path, pubmed_slice(2), "d.xml")
    with pytest.raises(
        CorpusFormatError, match=r"not a BioC XML file: its root element is <PubmedArticleSet>"
    ):
        read_documents(pubmed, "bioc_xml")  # never zero documents
    with pytest.raises(CorpusFormatError, match=r"not a PubMed XML file: its root element is <rss>"):
        read_pubmed(other)
    assert xml_root(tmp_path / "missing.xml") is None


def test_malformed_and_truncated_files_name_the_file_and_line(tmp_path):
    data = pubmed_slice(3)
    cut = data[: len(data) // 2]
    path = write(tmp_path, cut, "cut.xml")
    line = cut.count(b"\n") + 1
    with pytest.raises(CorpusFormatError, match=rf"cut\.xml:{line}: malformed XML: unclosed token"):
        read_pubmed(path)
    broken = data.replace(b"</ArticleTitle>", b"</ArticleTitel>", 1)
    line = broken[: broken.index(b"</ArticleTitel>")].count(b"\n") + 1
    with pytest.raises(CorpusFormatError, match=rf"broken\.xml:{line}: malformed XML: mismatched tag"):
        read_documents(write(tmp_path, broken, "broken.xml"))
    zipped = gzip.compress(data)
    path = write(tmp_path, zipped[: len(zipped) // 2], "cut.xml.gz")
    with pytest.raises(CorpusFormatError, match=r"cut\.xml\.gz"):
        read_pubmed(path)


def test_element_text_skips_and_alternatives():
    element = ET.fromstring(
        f"<p {MML}>A <alternatives><tex-math>x^2</tex-math>"
        "<mml:math><mml:mi>x</mml:mi></mml:math></alternatives>"
        " B<fig><caption>left out</caption></fig>\n C</p>"
    )
    assert element_text(element, lambda e: e.tag == "fig") == "A x B C"


def test_unlabelled_pubmed_files_convert_to_bio_sentences(tmp_path):
    """prepare_datasets.py's path: PubMed files as the splits give sentences with no entity (all O)."""
    path = write(tmp_path, pubmed_slice(5), "train.xml")
    dataset, reports = load_document_corpus(files={"train": path, "dev": path, "test": path})
    assert reports["train"].documents == 5 and len(dataset["train"]) >= 5
    assert {tag for tags in dataset["train"]["ner_tags"] for tag in tags} == {0}
    assert dataset["train"]["document_id"][0] == "399296"


def test_the_reading_benchmark_counts_every_citation(tmp_path):
    result = measure([write(tmp_path, pubmed_slice(30), "b.xml.gz", zipped=True)])
    assert result["records"] == 30 and result["documents"] == 30 and result["citations_per_second"] > 0
