"""Document-level scoring (bioner.corpora.scoring, evaluate_ner.py --gold): mentions by document, type and
character offsets, as the BioCreative V CDR evaluation defines them, with the token-level metric's matching.

The test on the real BC5CDR test set reads ``BIONER_CORPORA_DIR`` (default ``../shared/corpora``) and is
skipped only when that folder does not exist.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import evaluate_ner
from bioner.corpora import Document, Mention, write_documents
from bioner.corpora.records import RecordFormatError, read_any_documents, read_entity_records
from bioner.corpora.scoring import DocumentScoringError, score_documents
from metrics.bio_ner.scoring import compute_entity_scores, compute_ner_scores, extract_entities
from tests.helpers import CORPORA_DIR

CORPORA = CORPORA_DIR
needs_corpora = pytest.mark.skipif(not CORPORA.is_dir(), reason=f"no corpora folder at {CORPORA}")

TEXT = "Cisplatin induced nephrotoxicity and renal failure in rats ."


def mention(text: str, start: int, end: int, kind: str) -> Mention:
    return Mention([(start, end)], kind, text[start:end])


def hand_worked() -> tuple[list[Document], list[Document]]:
    """Gold: 4 mentions in 2 documents. Predicted: one right, one right span with the wrong type, one
    overlapping a gold mention, one listed twice; no predictions at all for the second document."""
    gold = [
        Document(
            "d1",
            TEXT,
            mentions=[
                mention(TEXT, 0, 9, "Chemical"),  # Cisplatin
                mention(TEXT, 18, 32, "Disease"),  # nephrotoxicity
                mention(TEXT, 37, 50, "Disease"),  # renal failure
            ],
        ),
        Document("d2", "High fever .", mentions=[mention("High fever .", 5, 10, "Disease")]),
    ]
    predicted = [
        Document(
            "d1",
            TEXT,
            mentions=[
                mention(TEXT, 0, 9, "Chemical"),  # right
                mention(TEXT, 0, 9, "Chemical"),  # the same again: counted once
                mention(TEXT, 18, 32, "Chemical"),  # right span, wrong type: 1 FP (Chemical) + 1 FN (Disease)
                mention(TEXT, 37, 42, "Disease"),  # "renal": overlaps "renal failure"
            ],
        )
    ]
    return gold, predicted


def test_hand_worked_example():
    gold, predicted = hand_worked()
    scores = score_documents(gold, predicted)
    strict = scores["strict"]
    assert (strict["correct"], strict["actual"], strict["possible"]) == (1, 3, 4)
    assert strict["precision"] == pytest.approx(1 / 3) and strict["recall"] == pytest.approx(1 / 4)
    assert strict["f1"] == pytest.approx(2 / 7)
    chemical, disease = scores["per_type"]["Chemical"]["strict"], scores["per_type"]["Disease"]["strict"]
    assert (chemical["correct"], chemical["actual"], chemical["possible"]) == (1, 2, 1)  # wrong type: FP here
    assert (disease["correct"], disease["actual"], disease["possible"]) == (0, 1, 3)  # ... and FN here
    # Relaxed (SemEval partial): the right span counts whatever its type, "renal" earns half credit.
    partial = scores["partial"]
    assert (partial["correct"], partial["partial"], partial["missed"], partial["spurious"]) == (2, 1, 1, 0)
    assert partial["precision"] == pytest.approx(2.5 / 3) and partial["recall"] == pytest.approx(2.5 / 4)
    assert scores["per_type"]["Disease"]["partial"]["recall"] == pytest.approx(0.5 / 3)
    # Lengths in words: "renal failure" is the only 2-word mention.
    assert scores["by_length"]["1"] | {"precision": 0, "recall": 0, "f1": 0} == {
        "precision": 0, "recall": 0, "f1": 0, "gold": 3, "predicted": 3, "correct": 1,
    }  # fmt: skip
    assert (scores["by_length"]["2"]["gold"], scores["by_length"]["2"]["predicted"]) == (1, 0)
    assert (scores["num_documents"], scores["num_gold_mentions"], scores["num_predicted_mentions"]) == (
        2,
        4,
        3,
    )
    assert scores["counted"] == {
        "gold documents without predictions": {"count": 1, "examples": ["d2"]},
        "predicted mentions listed twice (counted once)": {"count": 1, "examples": ["d1 'Cisplatin'"]},
    }


def test_pairing_errors_name_the_documents():
    gold, predicted = hand_worked()
    stray = Document("d9", "x", source="pred.txt:7")
    with pytest.raises(
        DocumentScoringError, match=r"1 predicted document\(s\) are not in the gold: 'd9' \(pred.txt:7\)"
    ):
        score_documents(gold, [*predicted, stray])
    other = Document("d1", TEXT.replace("renal", "Renal"), source="pred.txt:1")
    with pytest.raises(
        DocumentScoringError, match=r"pred.txt:1: document 'd1': the predicted text differs .* character 37"
    ):
        score_documents(gold, [other])
    with pytest.raises(DocumentScoringError, match=r"predictions: document 'd1' appears twice \(a and b\)"):
        score_documents(gold, [Document("d1", "", source="a"), Document("d1", "", source="b")])
    beyond = Document("d2", "", mentions=[Mention([(5, 40)], "Disease")], source="p:2")
    with pytest.raises(
        DocumentScoringError, match=r"p:2: document 'd2': predicted mention .* ends at 40, beyond"
    ):
        score_documents(gold, [beyond])


# --- the token-level metric on the same predictions --------------------------------------------------------

WORDS = st.text(alphabet="abcXYZ019éß", min_size=1, max_size=6) | st.sampled_from([".", ",", "(", ")"])
TAGS = st.sampled_from(["O", "O", "O", "B-Chemical", "I-Chemical", "B-Disease", "I-Disease"])


@st.composite
def tagged_documents(draw) -> list[list[tuple[list[str], list[str], list[str]]]]:
    """Documents of sentences of (words, gold tags, predicted tags), tags possibly invalid IOB2."""
    documents = []
    for _ in range(draw(st.integers(1, 4))):
        sentences = []
        for _ in range(draw(st.integers(1, 3))):
            length = draw(st.integers(1, 12))
            words = draw(st.lists(WORDS, min_size=length, max_size=length))
            gold = draw(st.lists(TAGS, min_size=length, max_size=length))
            pred = draw(st.lists(TAGS, min_size=length, max_size=length))
            sentences.append((words, gold, pred))
        documents.append(sentences)
    return documents


def as_documents(tagged, column: int, separator: str) -> list[Document]:
    """One `Document` per tagged document: words joined by spaces, sentences by ``separator``; the entities
    of the tag column (read like the token-level metric reads them) as mentions at the words' offsets."""
    documents = []
    for number, sentences in enumerate(tagged):
        text, mentions = "", []
        for index, sentence in enumerate(sentences):
            if index:
                text += separator
            spans = []
            for word in sentence[0]:
                text += " " if spans else ""
                spans.append((len(text), len(text) + len(word)))
                text += word
            for kind, first, last in extract_entities(sentence[column]):
                mentions.append(mention(text, spans[first][0], spans[last - 1][1], kind))
        documents.append(Document(f"doc{number}", text, mentions=mentions))
    return documents


@settings(max_examples=150, deadline=None)
@given(tagged_documents(), st.sampled_from([" ", "\n", "  "]))
def test_word_aligned_mentions_score_as_the_token_level_metric(tagged, separator):
    """When every boundary falls on a word boundary, document-level scores are the token-level metric's:
    strict (the CDR definition), exact and relaxed, overall, per type, and by length (in words)."""
    sentences = [sentence for sentences in tagged for sentence in sentences]
    tokens = compute_ner_scores([s[2] for s in sentences], [s[1] for s in sentences])
    gold, predicted = as_documents(tagged, 1, separator), as_documents(tagged, 2, separator)
    assume(any(d.mentions for d in gold + predicted))
    # A document without any predicted mention may be missing from the predictions altogether.
    predicted = [d for d in predicted if d.mentions or int(d.id[3:]) % 2]
    documents = score_documents(gold, predicted)
    assert set(documents["per_type"]) == set(tokens["per_type"])
    for scheme in ("strict", "exact", "partial"):
        assert documents[scheme] == tokens[scheme], scheme
        for kind in tokens["per_type"]:
            assert documents["per_type"][kind][scheme] == tokens["per_type"][kind][scheme], (kind, scheme)
    assert documents["by_length"] == tokens["by_length"]


# --- strict is the CDR set definition, whatever the overlaps ---------------------------------------------


@st.composite
def overlapping_documents(draw) -> tuple[list[Document], list[Document]]:
    """Gold and predicted documents whose mentions may nest, overlap, repeat, or have the wrong type."""
    gold, predicted = [], []
    for number in range(draw(st.integers(1, 3))):
        text = "w " * 15
        span = st.tuples(st.integers(0, 14), st.integers(1, 6)).map(
            lambda s: (2 * s[0], 2 * s[0] + 2 * s[1] - 1)
        )
        kinds = st.sampled_from(["A", "B"])
        for documents in (gold, predicted):
            found = draw(st.lists(st.tuples(span, kinds), max_size=8))
            mentions = [mention(text, a, min(b, len(text) - 1), kind) for (a, b), kind in found]
            documents.append(Document(f"d{number}", text, mentions=mentions))
    return gold, predicted


def cdr_oracle(gold: list[Document], predicted: list[Document]) -> dict[str | None, tuple[int, int, int]]:
    """(TP, predicted, gold) overall (key None) and per type, from sets of (document, type, start, end)."""
    keys = [{(d.id, m.type, m.start, m.end) for d in docs for m in d.mentions} for docs in (gold, predicted)]
    counts = {}
    for kind in [None, *sorted({k[1] for k in keys[0] | keys[1]})]:
        g, p = ({k for k in group if kind in (None, k[1])} for group in keys)
        counts[kind] = (len(g & p), len(p), len(g))
    return counts


@settings(max_examples=150, deadline=None)
@given(overlapping_documents())
def test_strict_is_the_cdr_set_match_with_nested_and_repeated_mentions(documents):
    gold, predicted = documents
    assume(any(d.mentions for d in gold + predicted))
    scores = score_documents(gold, predicted)
    for kind, (tp, npred, ngold) in cdr_oracle(gold, predicted).items():
        strict = scores["strict"] if kind is None else scores["per_type"][kind]["strict"]
        assert (strict["correct"], strict["actual"], strict["possible"]) == (tp, npred, ngold), kind
        assert strict["precision"] == pytest.approx(tp / npred if npred else 0.0)
        assert strict["recall"] == pytest.approx(tp / ngold if ngold else 0.0)
    # Relaxed credit is never below strict, and partial counts add up to every mention.
    partial = scores["partial"]
    assert partial["f1"] >= scores["strict"]["f1"] - 1e-12
    assert partial["correct"] + partial["partial"] + partial["missed"] == scores["num_gold_mentions"]


def test_entity_scores_refuse_repeats_and_malformed_entities():
    with pytest.raises(ValueError, match=r"predictions: entity \('X', 0, 2\) is listed twice"):
        compute_entity_scores([("X", 0, 2), ("X", 0, 2)], [("X", 0, 2)])
    with pytest.raises(ValueError, match="references: expected \\(type, start, end\\)"):
        compute_entity_scores([], [("X", 3, 3)])
    with pytest.raises(ValueError, match="nothing to score"):
        compute_entity_scores([], [])


# --- files: tag.py's JSONL and the corpus formats ----------------------------------------------------------


def write_records(path: Path, documents: list[Document]) -> Path:
    lines = [
        {
            "id": d.id,
            "text": d.text,
            "entities": [
                {"start": m.start, "end": m.end, "text": m.text, "type": m.type} for m in d.mentions
            ],
        }
        for d in documents
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


@pytest.mark.parametrize("gold_format", ["pubtator", "bioc_xml", "bioc_json", "brat"])
def test_evaluate_ner_scores_documents_in_any_format(tmp_path, gold_format):
    gold, predicted = hand_worked()
    gold_path = tmp_path / f"gold.{gold_format}"
    write_documents(gold, gold_path, gold_format)
    predictions = write_records(tmp_path / "tagged.jsonl", predicted)
    result = evaluate_ner.main(
        ["--gold", str(gold_path), "--predictions", str(predictions), "--output_dir", str(tmp_path / "out")]
    )
    assert result["scores"]["strict"]["f1"] == pytest.approx(2 / 7)
    assert result["meta"]["predicted mentions listed twice (counted once)"] == 1
    report = (tmp_path / "out" / "report.md").read_text()
    assert "2 documents, 4 gold and 3 predicted mentions" in report and "| Disease | 3 | 1 |" in report
    assert (tmp_path / "out" / "f1_by_length.png").stat().st_size > 0
    assert str(tmp_path) not in (tmp_path / "out" / "results.json").read_text()
    # Predictions in a corpus format score the same as the JSONL.
    write_documents(predicted, tmp_path / "tagged.xml", "bioc_xml")
    again = evaluate_ner.main(
        [
            "--gold",
            str(gold_path),
            "--predictions",
            str(tmp_path / "tagged.xml"),
            "--output_dir",
            str(tmp_path),
        ]
    )
    assert again["scores"]["strict"] == result["scores"]["strict"]


def test_jsonl_records_checked_line_by_line(tmp_path):
    path = tmp_path / "p.jsonl"
    good = {
        "id": "d1",
        "text": "ab cd",
        "entities": [{"start": 3, "end": 5, "text": "cd", "type": "X", "score": 0.5}],
    }
    cases = [
        (
            {"id": "d1", "text": "ab", "entities": [{"start": 0, "end": 3, "type": "X"}]},
            r"p.jsonl:2: entity 0: end 3 is beyond",
        ),
        (
            {"id": "d1", "text": "ab", "entities": [{"start": 0, "end": 1, "text": "b", "type": "X"}]},
            r"p.jsonl:2: entity 0: 'text' 'b' is not text\[0:1\] = 'a'",
        ),
        (
            {"id": "d2", "entities": [{"start": 1, "end": 1, "type": "X"}]},
            r"p.jsonl:2: entity 0: 'start' and 'end'",
        ),
        ({"id": "d2", "entities": [{"start": 0, "end": 1, "type": ""}]}, r"p.jsonl:2: entity 0: 'type'"),
        ({"id": "d2", "text": "ab"}, r"p.jsonl:2: expected a list field 'entities'"),
        ({"text": "ab", "entities": []}, r"p.jsonl:2: expected a non-empty string or integer 'id'"),
        (
            {"id": "d1", "text": "ab cd", "entities": []},
            r"p.jsonl:2: id 'd1' repeats the record at .*p.jsonl:1",
        ),
    ]
    for bad, message in cases:
        path.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n", encoding="utf-8")
        with pytest.raises(RecordFormatError, match=message):
            read_entity_records(path)
    path.write_text(json.dumps(good) + "\n", encoding="utf-8")
    (document,) = read_any_documents(path)
    assert (document.id, document.mentions[0].spans, document.mentions[0].infons) == (
        "d1",
        [(3, 5)],
        {"score": "0.5"},
    )
    with pytest.raises(
        SystemExit, match=r"error: 1 predicted document\(s\) are not in the gold: 'd1' \(.*p.jsonl:1\)"
    ):
        gold = write_records(tmp_path / "g.jsonl", [Document("other", "x")])
        evaluate_ner.main(["--gold", str(gold), "--predictions", str(path), "--output_dir", str(tmp_path)])
    with pytest.raises(SystemExit, match="--gold scores documents: pass them with --predictions"):
        evaluate_ner.main(["--gold", str(path), "--model", "x"])
    with pytest.raises(SystemExit, match="cannot tell its format"):
        (tmp_path / "notes.txt").write_text("hello\n")
        evaluate_ner.main(["--gold", str(tmp_path / "notes.txt"), "--predictions", str(path)])


@needs_corpora
def test_bc5cdr_test_set_scored_against_itself(tmp_path):
    gold = CORPORA / "bc5cdr" / "CDR_TestSet.PubTator.txt"
    result = evaluate_ner.main(
        ["--gold", str(gold), "--predictions", str(gold), "--output_dir", str(tmp_path)]
    )
    scores = result["scores"]
    assert scores["strict"]["f1"] == scores["partial"]["f1"] == 1.0
    assert (scores["num_documents"], scores["num_gold_mentions"]) == (500, 9809)
    assert Counter({k: v["strict"]["possible"] for k, v in scores["per_type"].items()}) == {
        "Chemical": 5385,
        "Disease": 4424,
    }
