"""PMC JATS full texts read as documents: the real Open Access articles, and small articles built for the
cases they lack (an article set, id fallbacks, a figure inside a paragraph, malformed XML)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from bioner.corpora import CorpusFormatError, detect_format, read_documents
from bioner.corpora.jats import article_id, iter_jats, read_jats
from bioner.corpora.xmlfiles import ReadReport
from tests.helpers import PUBMED_DIR

PMC = PUBMED_DIR / "pmc"


def real(name: str):
    path = PMC / name
    if not path.is_file():
        pytest.skip(f"{path} not found (set BIONER_PUBMED_DIR)")
    return path


def check_offsets(document):
    assert document.text == " ".join(p.text for p in document.passages)
    for passage in document.passages:
        assert document.text[passage.offset : passage.end] == passage.text
        assert passage.text and "\n" not in passage.text


def test_tables_figures_and_references_are_left_out_and_counted():
    path = real("pntd.0002065.nxml")
    report = ReadReport()
    (document,) = read_jats(path, report=report)
    assert document.id == "PMC3585041"
    assert report.left_out == {"table-wrap": 5, "fig": 1, "back/ref-list": 1, "back/ack": 1}
    assert report.records == report.documents == 1
    check_offsets(document)
    kinds = [p.type for p in document.passages]
    assert kinds[0] == "title" and document.text.startswith("Serological Evidence of Rift Valley Fever Virus")
    abstracts = [p for p in document.passages if p.type == "abstract"]
    assert [p.infons.get("abstract_type") for p in abstracts] == [None, "summary"]  # the author summary
    titles = [p.text for p in document.passages if p.type == "section_title"]
    assert titles[0] == "Introduction" and "Materials and Methods" in titles
    paragraph = next(p for p in document.passages if p.type == "paragraph")
    assert paragraph.infons["section"] == "Introduction"
    assert (
        "as determined by virus neutralization test and IgG ELISA" not in document.text
    )  # a table's caption
    assert detect_format(path) == "jats" and read_documents(path) == [document]


def test_captions_can_be_kept():
    report = ReadReport()
    (document,) = read_jats(real("pntd.0002065.nxml"), report=report, captions=True)
    captions = [p for p in document.passages if p.type == "table_caption"]
    assert len(captions) == 5 and captions[0].text.startswith("RVF seroprevalence in 2007")
    assert captions[0].infons["float_id"] == "pntd-0002065-t001"
    assert report.left_out["table-wrap"] == 5  # the tables themselves are still left out
    check_offsets(document)


@pytest.mark.parametrize(
    ("name", "pmcid", "left_out"),
    [
        ("pone.0000217.nxml", "PMC1790863", {"disp-formula": 24, "fig": 3, "back/ref-list": 1}),
        ("1471-2180-11-174.nxml", "PMC3166277", {"table-wrap": 3, "fig": 4, "supplementary-material": 1}),
        ("6605965a.nxml", "PMC2994229", {"floats-group/table-wrap": 2, "back/ref-list": 1}),
    ],
)
def test_the_other_real_articles(name, pmcid, left_out):
    report = ReadReport()
    (document,) = iter_jats(real(name), report)
    assert document.id == pmcid
    assert left_out.items() <= report.left_out.items()
    check_offsets(document)
    assert sum(p.type == "paragraph" for p in document.passages) > 10


ARTICLE = """<article xmlns:mml="http://www.w3.org/1998/Math/MathML"><front><article-meta>{ids}
<title-group><article-title>Ca<sup>2+</sup> in <italic>E. coli</italic></article-title></title-group>
<abstract><p>We show <inline-formula><mml:math><mml:mi>x</mml:mi></mml:math></inline-formula> rises.</p>
</abstract>
</article-meta></front><body><sec sec-type="intro"><title>Intro</title><sec><title>Sub</title>
<p>First <xref ref-type="bibr" rid="b1">[1]</xref> part
  <fig id="f1"><caption><p>A figure.</p></caption></fig> second part.</p></sec></sec>
<table-wrap id="t1"><caption><title>A table.</title></caption><table><tr><td>cell</td></tr></table>
</table-wrap>
</body><back><ref-list><ref id="b1"><mixed-citation>Ref.</mixed-citation></ref></ref-list></back></article>"""


def test_a_built_article_markup_sections_and_ids(tmp_path):
    path = tmp_path / "paper.nxml"
    path.write_text(ARTICLE.format(ids='<article-id pub-id-type="pmc">42</article-id>'), encoding="utf-8")
    report = ReadReport()
    (document,) = read_jats(path, report=report)
    assert document.id == "PMC42"
    assert [(p.type, p.text, p.infons) for p in document.passages] == [
        ("title", "Ca2+ in E. coli", {}),
        ("abstract", "We show x rises.", {}),
        ("section_title", "Intro", {"sec_type": "intro", "section": "Intro"}),
        ("section_title", "Sub", {"sec_type": "intro", "section": "Intro / Sub"}),
        ("paragraph", "First [1] part second part.", {"sec_type": "intro", "section": "Intro / Sub"}),
    ]
    check_offsets(document)
    assert report.left_out == {"fig": 1, "table-wrap": 1, "back/ref-list": 1}


def test_article_sets_and_id_fallbacks(tmp_path):
    ids = [
        '<article-id pub-id-type="pmid">7</article-id>',
        '<article-id pub-id-type="doi">10.1/x</article-id>',
        "",
    ]
    articles = "".join(
        ARTICLE.format(ids=i).replace(' xmlns:mml="http://www.w3.org/1998/Math/MathML"', "") for i in ids
    )
    path = tmp_path / "set.xml"
    path.write_text(
        f'<pmc-articleset xmlns:mml="http://www.w3.org/1998/Math/MathML">{articles}</pmc-articleset>'
    )
    assert detect_format(path) == "jats"
    documents = read_documents(path)
    assert [d.id for d in documents] == ["7", "10.1/x", "set"]
    assert article_id(ET.fromstring("<article/>"), "fallback") == "fallback"


def test_malformed_jats_names_file_and_line(tmp_path):
    path = tmp_path / "bad.nxml"
    path.write_text(ARTICLE.format(ids="").replace("</sec></sec>", "</sec>", 1), encoding="utf-8")
    with pytest.raises(CorpusFormatError, match=r"bad\.nxml:\d+: malformed XML: mismatched tag"):
        read_jats(path)
