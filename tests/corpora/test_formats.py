"""Corpus readers and writers (bioner.corpora): PubTator, BioC XML/JSON, brat; the quirks of the real
releases, the errors and the counted repairs.

The tests on the releases read ``BIONER_CORPORA_DIR`` (default ``../shared/corpora``) and are skipped only
when that folder does not exist.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from bioner.corpora import (
    CorpusFormatError,
    Document,
    Mention,
    Passage,
    Repairs,
    detect_format,
    read_documents,
    write_documents,
)
from bioner.corpora.checks import PART_MISMATCH, TEXT_TRIMMED
from bioner.corpora.pubtator import DUPLICATE, locate_words
from bioner.data.files import DataFormatError
from tests.helpers import CORPORA_DIR

CORPORA = CORPORA_DIR
needs_corpora = pytest.mark.skipif(not CORPORA.is_dir(), reason=f"no corpora folder at {CORPORA}")

TITLE = "Famotidine-associated delirium."
ABSTRACT = "Famotidine is a histamine H2-receptor antagonist."
PUBTATOR = f"""8701013|t|{TITLE}
8701013|a|{ABSTRACT}
8701013\t0\t10\tFamotidine\tChemical\tD015738
8701013\t22\t30\tdelirium\tDisease\tD003693
8701013\t32\t42\tFamotidine\tChemical\t-1\t
8701013\tCID\tD015738\tD003693

"""


def write(tmp_path: Path, text: str | bytes, name: str = "c.PubTator") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


def spans(documents: list[Document]) -> list[tuple]:
    return [(d.id, m.spans, m.type, m.text, m.ids) for d in documents for m in d.mentions]


# --- PubTator ------------------------------------------------------------------------------------------


def test_pubtator_reads_text_passages_mentions_relations(tmp_path: Path) -> None:
    [document] = read_documents(write(tmp_path, PUBTATOR))
    assert document.text == f"{TITLE} {ABSTRACT}"
    assert [(p.offset, p.type) for p in document.passages] == [(0, "title"), (len(TITLE) + 1, "abstract")]
    assert spans([document]) == [
        ("8701013", [(0, 10)], "Chemical", "Famotidine", ["D015738"]),
        ("8701013", [(22, 30)], "Disease", "delirium", ["D003693"]),
        ("8701013", [(32, 42)], "Chemical", "Famotidine", ["-1"]),  # empty 7th field: no parts
    ]
    assert document.mentions[2].parts == []
    assert document.relations == [["CID", "D015738", "D003693"]]
    assert document.source.endswith("c.PubTator:1")


def test_pubtator_crlf_and_missing_final_newline_read_the_same(tmp_path: Path) -> None:
    plain = read_documents(write(tmp_path, PUBTATOR))
    crlf = read_documents(write(tmp_path, PUBTATOR.replace("\n", "\r\n").rstrip(), "crlf.PubTator"))
    assert spans(crlf) == spans(plain) and crlf[0].text == plain[0].text


def test_composite_parts_located_in_their_mention(tmp_path: Path) -> None:
    text = "1|t|Cerebellar and oculomotor dysfunction; end-stage or malignant liver disease.\n"
    text += "1\t0\t37\tCerebellar and oculomotor dysfunction\tDisease\tD002526|D005128\t"
    text += "Cerebellar dysfunction|oculomotor dysfunction\n"
    text += "1\t39\t75\tend-stage or malignant liver disease\tDisease\tD058625|D017114\t"
    text += "end-stage liver disease|malignant liver disease\n"
    first, second = read_documents(write(tmp_path, text))[0].mentions
    assert [(p.text, p.spans, p.ids) for p in first.parts] == [
        ("Cerebellar dysfunction", [(0, 10), (26, 37)], ["D002526"]),
        ("oculomotor dysfunction", [(15, 37)], ["D005128"]),
    ]
    assert [p.spans for p in second.parts] == [[(39, 48), (62, 75)], [(52, 75)]]
    assert first.ids == ["D002526|D005128"]  # the ids field is kept as written


def test_locate_words_needs_whole_words() -> None:
    text = "adrenal and renal failure"
    assert locate_words(text, "renal failure", 0, len(text)) == [(12, 25)]
    assert locate_words(text, "cardiac failure", 0, len(text)) is None


def test_part_not_found_is_kept_without_offsets_and_counted(tmp_path: Path) -> None:
    text = (
        "1|t|renal and liver failure\n"
        "1\t0\t23\trenal and liver failure\tDisease\tD1\trenal failure|heart failure\n"
    )
    repairs = Repairs()
    [document] = read_documents(write(tmp_path, text), repairs=repairs)
    assert [p.spans for p in document.mentions[0].parts] == [[(0, 5), (16, 23)], []]
    assert sum(repairs.counts.values()) == 1


def test_ncbi_quirks_duplicate_document_and_trailing_spaces(tmp_path: Path, caplog) -> None:
    doc = (
        "8528200|t|Epilepsy and febrile seizures.\n"
        "8528200\t0\t8\tEpilepsy  \tSpecificDisease\tOMIM:604233|D004827+x\n"
    )
    path = write(tmp_path, doc + "\n" + doc)
    repairs = Repairs()
    with caplog.at_level(logging.WARNING, "bioner.corpora"):
        documents = read_documents(path, "pubtator", repairs)
    assert len(documents) == 1
    assert documents[0].mentions[0].text == "Epilepsy"
    assert documents[0].mentions[0].ids == ["OMIM:604233|D004827+x"]
    assert repairs.counts == {DUPLICATE: 1, TEXT_TRIMMED: 2}  # in both copies
    assert "c.PubTator:4" in repairs.examples[DUPLICATE][0]  # where the second copy starts
    assert "duplicate document" in caplog.text and "trimmed" in caplog.text


def test_biored_quirks_variant_ids_and_five_field_relations(tmp_path: Path) -> None:
    text = (
        "1|t|E333D in TP53\n1\t0\t5\tE333D\tSequenceVariant\tp|SUB|E|333|D\n1\t9\t13\tTP53\tGene\t7157,7158\n"
    )
    text += "1\tAssociation\tp|SUB|E|333|D\t7157\tNovel\n"
    [document] = read_documents(write(tmp_path, text))
    assert [m.ids for m in document.mentions] == [["p|SUB|E|333|D"], ["7157,7158"]]
    assert document.relations == [["Association", "p|SUB|E|333|D", "7157", "Novel"]]


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (
            "1|t|Aspirin.\n1\t0\t7\tAspiri\tChemical\tD1\n",
            2,
            "mention text 'Aspiri' differs from the document text",
        ),
        ("1|t|Aspirin.\n1\t0\t70\tAspirin\tChemical\tD1\n", 2, "offsets 0-70 outside the document text"),
        ("1\t0\t7\tAspirin\tChemical\tD1\n1|t|Aspirin.\n", 1, "before its title line \\(line 2\\)"),
        ("1|t|Aspirin.\n2\t0\t7\tAspirin\tChemical\tD1\n", 2, "unknown document id '2'"),
        ("1|t|Aspirin.\n\n1\t0\t7\tAspirin\tChemical\tD1\n", 3, "its title is on line 1"),
        ("1|a|Aspirin.\n", 1, "abstract line of 1 without its title line"),
        ("1|t|Aspirin.\nAspirin is\n", 2, "not a title"),
        ("1|t|Aspirin.\n1\t0\t7\tAspirin\n", 2, "5 to 7 tab-separated fields"),
        ("1|t|A.\n\n1|t|B.\n", 3, "appears twice with different text"),
    ],
)
def test_pubtator_errors_name_file_and_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(CorpusFormatError, match=rf"c\.PubTator:{line}: .*{message}"):
        read_documents(path, "pubtator")


def test_non_utf8_bytes_name_their_line(tmp_path: Path) -> None:
    path = write(tmp_path, b"1|t|Aspirin.\n1|a|caf\xe9\n")
    with pytest.raises(CorpusFormatError, match=r"c\.PubTator:2: not valid UTF-8: byte 0xe9"):
        read_documents(path, "pubtator")
    (tmp_path / "d.txt").write_bytes(b"ok\ncaf\xe9")
    (tmp_path / "d.ann").write_text("")
    with pytest.raises(CorpusFormatError, match=r"d\.txt:2: not valid UTF-8"):
        read_documents(tmp_path / "d.ann")
    with pytest.raises(CorpusFormatError, match=r"c\.xml:1: malformed XML"):
        read_documents(
            write(tmp_path, b"<collection><document><id>caf\xe9</id></document></collection>", "c.xml")
        )


def test_errors_are_data_format_errors() -> None:
    assert issubclass(
        CorpusFormatError, DataFormatError
    )  # the training scripts report them without traceback


def test_pubtator_writer_refuses_what_it_cannot_hold(tmp_path: Path) -> None:
    document = Document("d1", "two\nlines", [Passage(0, "two\nlines")])
    with pytest.raises(CorpusFormatError, match="document d1: PubTator cannot hold a line break"):
        write_documents([document], tmp_path / "out.txt", "pubtator")


def test_pubtator_writes_discontinuous_as_covering_span(tmp_path: Path, caplog) -> None:
    document = Document("d1", "Ocular and auditory toxicity", [], [Mention([(0, 6), (20, 28)], "Disease")])
    with caplog.at_level(logging.WARNING, "bioner.corpora"):
        write_documents([document], tmp_path / "out.txt", "pubtator")
    [back] = read_documents(tmp_path / "out.txt")
    assert spans([back]) == [("d1", [(0, 28)], "Disease", "Ocular and auditory toxicity", [])]
    assert "covering span" in caplog.text


# --- BioC ----------------------------------------------------------------------------------------------

BIOC = """<?xml version='1.0' encoding='UTF-8'?><!DOCTYPE collection SYSTEM 'BioC.dtd'>
<collection><source>PubTator</source><date/><key/>
<document><id>2234245</id>
<passage><infon key="type">title</infon><offset>0</offset>
<text>Ocular and auditory toxicity.</text>
<annotation id='0'><infon key="type">Disease</infon><infon key="CompositeRole">CompositeMention</infon>
<infon key="MESH">D014786|D006311</infon><location offset='0' length='28' />
<text>Ocular and auditory toxicity</text></annotation>
<annotation id='1'><infon key="type">Disease</infon><infon key="CompositeRole">IndividualMention</infon>
<infon key="MESH">D014786</infon><location offset='0' length='6' /><location offset='20' length='8' />
<text>Ocular toxicity</text></annotation>
<annotation id='2'><infon key="type">Disease</infon><infon key="CompositeRole">IndividualMention</infon>
<infon key="MESH">D006311</infon><location offset='10' length='17' />
<text>auditory toxicity</text></annotation>
</passage>
<passage><infon key="type">abstract</infon><offset>40</offset><text>Desferrioxamine helps.</text>
<annotation id='3'><infon key="type">Chemical</infon><infon key="MESH">D003676</infon>
<location offset='40' length='15' /><text>Desferrioxamine</text></annotation></passage>
<relation id='R0'><infon key="relation">CID</infon><infon key="Chemical">D003676</infon>
<infon key="Disease">D014786</infon></relation>
</document></collection>
"""


def test_bioc_xml_composites_discontinuous_parts_passage_offsets(tmp_path: Path) -> None:
    repairs = Repairs()
    [document] = read_documents(write(tmp_path, BIOC, "c.xml"), repairs=repairs)
    assert document.text == "Ocular and auditory toxicity." + " " * 11 + "Desferrioxamine helps."
    assert [(p.offset, p.type) for p in document.passages] == [(0, "title"), (40, "abstract")]
    composite, chemical = document.mentions
    assert (composite.spans, composite.ids, chemical.spans) == ([(0, 28)], ["D014786|D006311"], [(40, 55)])
    assert [(p.spans, p.text, p.ids) for p in composite.parts] == [
        ([(0, 6), (20, 28)], "Ocular toxicity", ["D014786"]),
        ([(10, 27)], "auditory toxicity", ["D006311"]),  # BC5CDR quirk: 10-27 is "auditory toxicit"
    ]
    assert repairs.counts == {PART_MISMATCH: 1}
    assert document.relations == [["CID", "D003676", "D014786"]]


def test_bioc_json_reads_like_xml(tmp_path: Path) -> None:
    documents = read_documents(write(tmp_path, BIOC, "c.xml"))
    write_documents(documents, tmp_path / "c.json", "bioc_json")
    back = read_documents(tmp_path / "c.json")
    assert spans(back) == spans(documents) and back[0].text == documents[0].text
    assert [[p.spans for p in m.parts] for m in back[0].mentions] == [
        [[(0, 6), (20, 28)], [(10, 27)]],
        [],
    ]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (
            "c.xml",
            "<collection><document><id>1</id>\n<passage></document>",
            r"c\.xml:2: malformed XML: mismatched tag",
        ),
        ("c.json", '{"documents": [\n{"id": 1,}]}', r"c\.json:2: malformed JSON"),
        ("c.json", '{"source": "x"}', "expected a BioC collection with a 'documents' list"),
        (
            "c.xml",
            "<collection><document><id>7</id><passage><offset>0</offset><text>Aspirin</text>"
            "<annotation id='a'><infon key='type'>Chemical</infon><location offset='0' length='9'/>"
            "<text>Aspirin</text></annotation></passage></document></collection>",
            r"document '7' annotation 'a': mention 'Aspirin' has offsets 0-9 outside the document text",
        ),
        (
            "c.xml",
            "<collection><document><id>7</id><passage><offset>0</offset><text>Aspirin</text>"
            "<annotation id='a'><location offset='0' length='7'/><text>Aspirin</text></annotation>"
            "</passage></document></collection>",
            r"document '7': annotation 'a' has no 'type' infon",
        ),
        (
            "c.xml",
            "<collection><document><id>7</id><passage><offset>x</offset><text>A</text></passage></document>"
            "</collection>",
            r"document '7': a passage <offset> must be an integer",
        ),
    ],
)
def test_bioc_errors(tmp_path: Path, name: str, text: str, message: str) -> None:
    with pytest.raises(CorpusFormatError, match=message):
        read_documents(write(tmp_path, text, name))


# --- brat ----------------------------------------------------------------------------------------------


def test_brat_discontinuous_references_and_other_lines(tmp_path: Path) -> None:
    (tmp_path / "doc1.txt").write_text("Ocular and auditory toxicity\r\nin rats.\n", newline="")
    (tmp_path / "doc1.ann").write_text(
        "T1\tDisease 0 6;20 28\tOcular toxicity\n"
        "T2\tSpecies 33 37\trats\n"
        "N1\tReference T2 Taxonomy:10116\trats\n"
        "R1\tAffects Arg1:T1 Arg2:T2\n"
        "#1\tAnnotatorNotes T1\tcomposite\n"
    )
    [document] = read_documents(tmp_path)
    assert document.id == "doc1" and document.text[28:30] == "\r\n"  # offsets count the CR
    assert spans([document]) == [
        ("doc1", [(0, 6), (20, 28)], "Disease", "Ocular toxicity", []),
        ("doc1", [(33, 37)], "Species", "rats", ["Taxonomy:10116"]),
    ]
    assert document.relations == [["R1", "Affects Arg1:T1 Arg2:T2"], ["#1", "AnnotatorNotes T1", "composite"]]
    write_documents([document], tmp_path / "out", "brat")
    assert (tmp_path / "out" / "doc1.txt").read_bytes() == (tmp_path / "doc1.txt").read_bytes()
    [back] = read_documents(tmp_path / "out")
    assert spans([back]) == spans([document]) and back.relations == document.relations


def test_brat_ann_without_txt_and_bad_lines(tmp_path: Path) -> None:
    (tmp_path / "a.ann").write_text("T1\tX 0 1\ta\n")
    with pytest.raises(CorpusFormatError, match=r"a\.ann: a\.txt, the text this \.ann annotates, is missing"):
        read_documents(tmp_path)
    (tmp_path / "a.txt").write_text("a b")
    (tmp_path / "a.ann").write_text("T1\tX 0 1\ta\nT2\tX 0-1\ta\n")
    with pytest.raises(CorpusFormatError, match=r"a\.ann:2: bad offsets '0-1'"):
        read_documents(tmp_path)
    (tmp_path / "a.ann").write_text("T1\tX 0 1\ta\nQ1\tsomething\n")
    with pytest.raises(CorpusFormatError, match=r"a\.ann:2: not a brat annotation line"):
        read_documents(tmp_path)


def test_brat_txt_without_ann_is_counted(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "a.ann").write_text("")
    (tmp_path / "b.txt").write_text("b")
    repairs = Repairs()
    assert [d.id for d in read_documents(tmp_path, repairs=repairs)] == ["a"]
    assert list(repairs.counts.values()) == [1]


# --- formats -------------------------------------------------------------------------------------------


def test_detect_format(tmp_path: Path) -> None:
    assert detect_format(write(tmp_path, PUBTATOR, "NCBItestset_corpus.txt")) == "pubtator"
    assert detect_format(write(tmp_path, BIOC, "x.XML")) == "bioc_xml"
    assert detect_format(write(tmp_path, '{"documents": []}', "x.json")) == "bioc_json"
    assert detect_format(write(tmp_path, "token\tO\n", "train.tsv")) is None
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "1.ann").write_text("")
    assert detect_format(tmp_path / "b") == "brat"
    with pytest.raises(CorpusFormatError, match="cannot tell the corpus format"):
        read_documents(tmp_path / "train.tsv")
    with pytest.raises(CorpusFormatError, match="unknown corpus format 'conll'"):
        read_documents(tmp_path / "train.tsv", "conll")


# --- the releases in ../shared/corpora -----------------------------------------------------------------

RELEASES = {
    "bc5cdr/CDR_TrainingSet.PubTator.txt": (500, 9385),
    "bc5cdr/CDR_DevelopmentSet.PubTator.txt": (500, 9591),
    "bc5cdr/CDR_TestSet.PubTator.txt": (500, 9809),
    "bc5cdr/CDR_TrainingSet.BioC.xml": (500, 9385),  # 9,570 annotations = 9,385 + 185 composite parts
    "ncbi_disease/NCBItrainset_corpus.txt": (592, 5134),  # 593 with the duplicate (11 mentions)
    "ncbi_disease/NCBIdevelopset_corpus.txt": (100, 787),
    "ncbi_disease/NCBItestset_corpus.txt": (100, 960),  # no final newline
    "biored/Train.PubTator": (400, 13351),
    "biored/Dev.PubTator": (100, 3533),
    "biored/Test.PubTator": (100, 3535),
    "biored/Train.BioC.XML": (400, 13351),
    "biored/Dev.BioC.XML": (100, 3533),
}


@needs_corpora
@pytest.mark.parametrize("name", RELEASES)
def test_every_release_file_reads(name: str) -> None:
    repairs = Repairs()
    documents = read_documents(CORPORA / name, repairs=repairs)
    assert (len(documents), sum(len(d.mentions) for d in documents)) == RELEASES[name]
    expected = {
        "ncbi_disease/NCBItrainset_corpus.txt": {DUPLICATE: 1, TEXT_TRIMMED: 1},
        "bc5cdr/CDR_TrainingSet.BioC.xml": {PART_MISMATCH: 3},
    }
    assert dict(repairs.counts) == expected.get(name, {})


@needs_corpora
def test_bc5cdr_bioc_and_pubtator_agree() -> None:
    """The BioC training set holds the PubTator mentions and, as parts, the composites' individual mentions;
    the parts located from PubTator's 7th field match BioC's except its three off-by-one quirks."""
    pubtator = read_documents(CORPORA / "bc5cdr/CDR_TrainingSet.PubTator.txt")
    bioc = {d.id: d for d in read_documents(CORPORA / "bc5cdr/CDR_TrainingSet.BioC.xml")}
    part_differences = 0
    for document in pubtator:
        other = bioc[document.id]
        assert other.text == document.text
        assert [(m.spans, m.type, m.ids) for m in other.mentions] == [
            (m.spans, m.type, m.ids) for m in document.mentions
        ]
        for mine, theirs in zip(document.mentions, other.mentions, strict=True):
            assert [p.text for p in mine.parts] == [p.text for p in theirs.parts]
            part_differences += [p.spans for p in mine.parts] != [p.spans for p in theirs.parts]
    assert sum(len(m.parts) for d in pubtator for m in d.mentions) == 185
    assert part_differences == 3


@needs_corpora
def test_pubtator_to_bioc_to_pubtator_keeps_every_mention(tmp_path: Path) -> None:
    source = CORPORA / "bc5cdr/CDR_TestSet.PubTator.txt"
    documents = read_documents(source)
    write_documents(documents, tmp_path / "test.xml", "bioc_xml")
    write_documents(read_documents(tmp_path / "test.xml"), tmp_path / "test.json", "bioc_json")
    write_documents(read_documents(tmp_path / "test.json"), tmp_path / "test.PubTator", "pubtator")
    assert (tmp_path / "test.PubTator").read_text() == source.read_text()  # byte for byte, 9,809 mentions
    assert json.loads((tmp_path / "test.json").read_text())["documents"][0]["id"] == "8701013"
