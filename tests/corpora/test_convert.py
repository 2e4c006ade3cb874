"""Documents -> BIO (bioner.corpora.convert) and back, the folder loader and prepare_datasets --from.

Round trips are property tests on random documents (Unicode words, several kinds of whitespace); the checks on
the releases read ``BIONER_CORPORA_DIR`` and ``BIONER_DATA_DIR`` and are skipped only when those are missing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import prepare_datasets
from bioner.corpora import FORMATS, Document, Mention, Passage, read_documents, write_documents
from bioner.corpora.convert import ConversionReport, documents_to_sentences, sentences_to_documents
from bioner.corpora.dataset import find_split_files, parse_entity_types
from bioner.corpora.problems import CorpusFormatError
from bioner.corpora.sources import load_ner_dataset
from bioner.data.conll import label_names, read_conll
from bioner.data.text import tokenize
from tests.helpers import CORPORA_DIR, DATA_DIR

CORPORA = CORPORA_DIR
DATA = DATA_DIR
needs_corpora = pytest.mark.skipif(
    not (CORPORA.is_dir() and DATA.is_dir()), reason=f"no corpora at {CORPORA} or data at {DATA}"
)


def doc(text: str, *mentions: tuple[int, int, str], passages: list[Passage] | None = None) -> Document:
    return Document("d", text, passages or [], [Mention([(a, b)], t, text[a:b]) for a, b, t in mentions])


def rows_of(document: Document, **options) -> tuple[list[dict], ConversionReport]:
    report = ConversionReport()
    return documents_to_sentences([document], report=report, **options), report


def test_rows_hold_ids_words_tags_and_char_spans() -> None:
    rows, report = rows_of(doc("IL-2 raised Ca2+. Aspirin helps.", (0, 4, "Gene"), (12, 15, "Chem")))
    assert rows == [
        {
            "id": "d-0",
            "tokens": ["IL", "-", "2", "raised", "Ca2", "+", "."],
            "ner_tags": ["B-Gene", "I-Gene", "I-Gene", "O", "B-Chem", "O", "O"],
            "document_id": "d",
            "char_spans": [[0, 2], [2, 3], [3, 4], [5, 11], [12, 15], [15, 16], [16, 17]],
        },
        {
            "id": "d-1",
            "tokens": ["Aspirin", "helps", "."],
            "ner_tags": ["O", "O", "O"],
            "document_id": "d",
            "char_spans": [[18, 25], [26, 31], [31, 32]],
        },
    ]
    assert report.as_dict()["by_type"] == {"Chem": {"kept exactly": 1}, "Gene": {"kept exactly": 1}}


def test_boundary_inside_a_word_splits_it_and_is_counted() -> None:
    rows, report = rows_of(doc("famotidineassociated delirium", (0, 10, "Chemical")))
    assert rows[0]["tokens"][:2] == ["famotidine", "associated"]
    assert rows[0]["ner_tags"][:2] == ["B-Chemical", "O"]
    assert report.words_split == 1
    assert report.outcomes["Chemical"] == {"adjusted: word split at its boundary": 1}


def test_overlaps_keep_the_longest_and_count_the_rest() -> None:
    text = "breast cancer cells and breast cancer"
    document = doc(text, (0, 13, "Disease"), (0, 6, "Organ"), (24, 37, "Disease"), (24, 37, "Disease"))
    rows, report = rows_of(document)
    assert rows[0]["ner_tags"] == ["B-Disease", "I-Disease", "O", "O", "B-Disease", "I-Disease"]
    assert report.outcomes["Organ"] == {"left out: overlaps d 0-13 'breast cancer'": 1}
    assert report.outcomes["Disease"]["left out: duplicate of an identical mention"] == 1
    assert report.total() == 4 and report.total("left out") == 2
    assert "left out" in report.to_markdown() and "d 0-6 'breast'" in report.to_markdown()


def test_discontinuous_and_composite_choices() -> None:
    text = "Ocular and auditory toxicity"
    composite = Mention([(0, 28)], "Disease", text)
    composite.parts = [
        Mention([(0, 6), (20, 28)], "Disease", "Ocular toxicity"),
        Mention([(11, 28)], "Disease"),
    ]
    document = Document("d", text, [], [composite])
    rows, report = rows_of(document)
    assert rows[0]["ner_tags"] == ["B-Disease", "I-Disease", "I-Disease", "I-Disease"]
    assert report.outcomes["Disease"] == {"kept exactly": 1}
    rows, report = rows_of(document, composite="parts")
    assert rows[0]["ner_tags"] == [
        "B-Disease",
        "I-Disease",
        "I-Disease",
        "I-Disease",
    ]  # the covering part wins
    assert report.outcomes["Disease"] == {
        "adjusted: composite replaced by its parts, discontinuous -> covering span": 1,
        "left out: overlaps d 0-28 'Ocular toxicity'": 1,
    }
    only = Document("d", text, [], [composite.parts[0]])
    rows, report = rows_of(only, discontinuous="drop")
    assert rows[0]["ner_tags"] == ["O"] * 4 and report.outcomes["Disease"] == {"left out: discontinuous": 1}
    with pytest.raises(ValueError, match="composite must be one of parent, parts"):
        rows_of(document, composite="children")


def test_entity_types_select_and_rename() -> None:
    document = doc(
        "Aspirin cures cancer in rats", (0, 7, "Chemical"), (14, 20, "SpecificDisease"), (24, 28, "Rat")
    )
    mapping = parse_entity_types("SpecificDisease=Disease, Chemical")
    rows, report = rows_of(document, entity_types=mapping)
    assert rows[0]["ner_tags"] == ["B-Chemical", "O", "B-Disease", "O", "O"]
    assert report.outcomes["Rat"] == {"left out: type not selected": 1}
    assert "| SpecificDisease | Disease | 1 | 1 | 0 | 0 |" in report.to_markdown()
    with pytest.raises(ValueError, match="bad item 'X='"):
        parse_entity_types("X=")


def test_passages_end_sentences_and_mentions_keep_sentences_whole() -> None:
    text = "A title without stop An abstract. It has e. Coli B. Subtilis here."
    passages = [Passage(0, text[:20], "title"), Passage(21, text[21:], "abstract")]
    document = doc(text, (41, 50, "Species"), passages=passages)
    rows, report = rows_of(document)
    assert [" ".join(r["tokens"]) for r in rows] == [
        "A title without stop",
        "An abstract .",
        "It has e . Coli B . Subtilis here .",
    ]
    assert report.sentences_merged == 0  # "e." is an initial: no break inside the mention
    document = doc("It grew. Aspirin acid helps.", (3, 21, "Chemical"))
    rows, report = rows_of(document)
    assert len(rows) == 1 and report.sentences_merged == 1


def test_whitespace_at_mention_ends_is_trimmed_and_counted() -> None:
    rows, report = rows_of(doc("take  aspirin  now", (4, 15, "Chemical")))
    assert rows[0]["ner_tags"] == ["O", "B-Chemical", "O"]
    assert report.outcomes["Chemical"] == {"adjusted: whitespace at its ends trimmed": 1}


# --- round trips -----------------------------------------------------------------------------------------

WORDS = [
    "Aspirin",
    "IL",
    "2",
    "β",
    "catenin",
    "中文",
    "naïve",
    "e\u0301",
    "Ca2",
    "-",
    "+",
    "(",
    ")",
    ",",
    "%",
    "🙂",
]
GAPS = ["", " ", "  ", "\u00a0", "\t", "\u2009", "\u200b", "\n"]
TYPES = ["Chemical", "Disease", "Gene_or_protein"]


@st.composite
def documents(draw, newlines: bool = True) -> list[Document]:
    gaps = GAPS if newlines else GAPS[:-1]
    out = []
    for number in range(draw(st.integers(1, 3))):
        parts = []
        for _ in range(2):  # title and abstract; each ends a sentence, the next starts upper-case
            pieces = ["Start"]
            for _ in range(draw(st.integers(0, 12))):
                pieces += [draw(st.sampled_from(gaps)), draw(st.sampled_from(WORDS))]
            if draw(st.booleans()):
                pieces += [" ", "Mid", "."]  # a sentence end inside a passage
            parts.append("".join([*pieces, " end."]))  # not "β." (an initial does not end a sentence)
        title, abstract = parts
        text = f"{title} {abstract}"
        words = tokenize(text)
        mentions, index = [], 0
        while index < len(words):
            index += draw(st.integers(0, 3))
            length = draw(st.integers(1, 3))
            if index + length <= len(words):
                start, end = words[index][0], words[index + length - 1][1]
                mentions.append(Mention([(start, end)], draw(st.sampled_from(TYPES)), text[start:end]))
            index += length
        passages = [Passage(0, title, "title"), Passage(len(title) + 1, abstract, "abstract")]
        out.append(Document(f"doc{number}", text, passages, mentions))
    return out


def convert(documents: list[Document]) -> list[dict]:
    return sorted(
        documents_to_sentences(documents),
        key=lambda row: (row["document_id"], int(row["id"][-3:].split("-")[-1])),
    )


def through(documents: list[Document], format: str, folder: Path) -> list[Document]:
    target = folder / ("out" if format == "brat" else f"out.{format}")
    write_documents(documents, target, format)
    return read_documents(target, format)


def mention_set(documents: list[Document]) -> list[tuple]:
    return sorted((d.id, m.start, m.end, m.type) for d in documents for m in d.mentions)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(documents(newlines=False))
def test_bio_documents_formats_bio_is_the_identity(tmp_path_factory, corpus: list[Document]) -> None:
    """BIO -> documents (text rebuilt from the words' spans) -> each format -> BIO gives the same rows."""
    bio = convert(corpus)
    rebuilt = sentences_to_documents(bio)
    assert mention_set(rebuilt) == mention_set(corpus)  # boundaries on words: the documents' mentions
    folder = tmp_path_factory.mktemp("rt")
    for format in FORMATS:
        assert convert(through(rebuilt, format, folder / format)) == bio, format


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(documents())
def test_documents_through_formats_convert_the_same(tmp_path_factory, corpus: list[Document]) -> None:
    """Documents with line breaks and Unicode whitespace -> BioC XML/JSON, brat -> the same BIO and text; and
    documents -> BIO -> documents (onto the originals) keeps every mention."""
    bio = convert(corpus)
    folder = tmp_path_factory.mktemp("rt")
    for format in ("bioc_xml", "bioc_json", "brat"):
        back = through(corpus, format, folder / format)
        assert [d.text for d in back] == [d.text for d in corpus], format
        assert convert(back) == bio, format
    mapped = sentences_to_documents(bio, corpus)
    assert mention_set(mapped) == mention_set(corpus)
    assert [d.passages for d in mapped] == [d.passages for d in corpus]


def test_rows_without_char_spans_become_documents() -> None:
    rows = [{"id": "s1", "tokens": ["Aspirin", "helps", "."], "ner_tags": ["B-Chemical", "O", "O"]}]
    [document] = sentences_to_documents(rows)
    assert (document.id, document.text) == ("s1", "Aspirin helps .")
    assert [(m.spans, m.type, m.text) for m in document.mentions] == [([(0, 7)], "Chemical", "Aspirin")]
    original = Document("s1", "Aspirin helped.")
    bad = [{**rows[0], "document_id": "s1", "char_spans": [[0, 7], [8, 13], [14, 15]]}]
    with pytest.raises(ValueError, match="token 'helps' is not the text at 8-13 of document s1"):
        sentences_to_documents(bad, [original])


# --- the folder loader and prepare_datasets ---------------------------------------------------------------


def make_corpus(folder: Path) -> Path:
    folder.mkdir()
    for name, word in (("Train.PubTator", "Aspirin"), ("devel.PubTator", "Heparin"), ("test.txt", "Codeine")):
        (folder / name).write_text(
            f"1|t|{word} cures pain.\n1\t0\t{len(word)}\t{word}\tChemical\tD1\n"
            f"1\t{len(word) + 7}\t{len(word) + 11}\tpain\tDisease\tD2\n\n"
        )
    (folder / "notes.md").write_text("not a split")
    return folder


def test_dataset_folder_of_pubtator_files_is_converted(tmp_path: Path) -> None:
    folder = make_corpus(tmp_path / "corpus")
    dataset = load_ner_dataset(str(folder))
    assert list(dataset) == ["train", "validation", "test"]
    assert dataset["test"][0] == {
        "id": "1-0",
        "tokens": ["Codeine", "cures", "pain", "."],
        "ner_tags": [1, 0, 2, 0],
        "document_id": "1",
        "char_spans": [[0, 7], [8, 13], [14, 18], [18, 19]],
    }
    assert label_names(dataset) == ["O", "B-Chemical", "B-Disease"]
    (folder / "test.xml").write_text("<collection/>")
    assert find_split_files(folder)["test"].name == "test.txt"  # PubTator has all three splits, BioC not
    (folder / "devel.PubTator").rename(folder / "other.PubTator")
    with pytest.raises(CorpusFormatError, match="no format has all of train, dev and test"):
        load_ner_dataset(str(folder))


def test_bio_folders_still_load_as_conll(tmp_path: Path) -> None:
    for split in ("train", "dev", "test"):
        (tmp_path / f"{split}.tsv").write_text("Aspirin\tB-Chemical\n")
    assert find_split_files(tmp_path) is None
    assert load_ner_dataset(str(tmp_path))["train"].column_names == ["id", "tokens", "ner_tags"]


def test_prepare_datasets_from_pubtator_writes_card_report_and_bio(tmp_path: Path) -> None:
    folder = make_corpus(tmp_path / "corpus")
    out = tmp_path / "out"
    argv = [str(folder), "--from", "pubtator", "--entity_types", "Chemical=Drug", "--output_dir", str(out)]
    assert prepare_datasets.main(argv) == 0
    card = (out / "corpus" / "README.md").read_text()
    assert "## Conversion from documents" in card and "| Disease | Disease | 1 | 0 | 0 | 1 |" in card
    assert "left out: type not selected" in card and "name: char_spans" in card
    report = json.loads((out / "corpus" / "conversion.json").read_text())
    assert report["test"]["mentions"] == 2 and report["test"]["left_out"] == 1
    assert read_conll(out / "corpus" / "test.tsv").sentences == [
        (["Codeine", "cures", "pain", "."], ["B-Drug", "O", "O", "O"])
    ]
    assert load_ner_dataset(str(out / "corpus"))["test"]["tokens"] == [["Codeine", "cures", "pain", "."]]
    assert prepare_datasets.main([str(folder), "--from", "brat", "--output_dir", str(out)]) == 2


# --- the releases ------------------------------------------------------------------------------------------

# shared/data sentence counts (one sentence per line group; BioRED: its one-sentence-per-instance variant,
# shared/data/README.md, "--biored-max-tokens 0").
SENTENCES = {
    ("bc5cdr", "CDR_TrainingSet.PubTator.txt"): (4560, 9385),
    ("bc5cdr", "CDR_DevelopmentSet.PubTator.txt"): (4581, 9591),
    ("bc5cdr", "CDR_TestSet.PubTator.txt"): (4797, 9809),
    ("ncbi_disease", "NCBIdevelopset_corpus.txt"): (923, 787),
    ("ncbi_disease", "NCBItestset_corpus.txt"): (940, 960),
    ("biored", "Dev.PubTator"): (1118, 3533),
    ("biored", "Test.PubTator"): (1089, 3535),
}


@needs_corpora
@pytest.mark.parametrize(("corpus", "name"), SENTENCES)
def test_release_to_bio_keeps_every_mention_and_sentence_counts(corpus: str, name: str) -> None:
    report = ConversionReport()
    rows = documents_to_sentences(read_documents(CORPORA / corpus / name), report=report)
    sentences, mentions = SENTENCES[(corpus, name)]
    assert report.total() == mentions and report.total("left out") == 0
    assert sum(tag.startswith("B-") for row in rows for tag in row["ner_tags"]) == mentions
    assert abs(len(rows) - sentences) / sentences < (0.025 if corpus == "ncbi_disease" else 0.02)
