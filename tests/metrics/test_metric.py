"""The scoring core against its oracles (nervaluate 1.2.1, seqeval), hand-made cases, and the evaluate
module."""

from __future__ import annotations

import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nervaluate import Evaluator
from nervaluate.loaders import ListLoader
from seqeval.metrics import f1_score, precision_score, recall_score
from seqeval.scheme import IOB2

from metrics.bio_ner.scoring import RESULT_FIELDS as FIELDS
from metrics.bio_ner.scoring import SCHEMES, compute_ner_scores, extract_entities
from tests.helpers import ROOT

METRIC_DIR = ROOT / "metrics" / "bio_ner"
TYPE_NAMES = ("Chemical", "Disease", "Gene")


# ---------------------------------------------------------------------------------------------- strategies


def to_iob2(tags: list[str]) -> list[str]:
    """Valid IOB2 from any BIO sequence: an I- that does not continue an entity of its type becomes B-."""
    valid = []
    for tag in tags:
        if tag.startswith("I-") and (not valid or valid[-1] == "O" or valid[-1][2:] != tag[2:]):
            tag = "B-" + tag[2:]
        valid.append(tag)
    return valid


@st.composite
def corpora(draw, valid: bool = False) -> tuple[list[list[str]], list[list[str]]]:
    """(predictions, references): 1-4 sentences of 0-15 tokens over 1-3 types; each predicted tag is the gold
    one or a random tag, so exact matches, overlaps, type errors, orphan I- and type switches all occur."""
    types = TYPE_NAMES[: draw(st.integers(1, 3))]
    tags = st.sampled_from(["O", *(f"{prefix}-{name}" for name in types for prefix in "BI")])
    predictions, references = [], []
    for _ in range(draw(st.integers(1, 4))):
        gold = draw(st.lists(tags, max_size=15))
        pred = [draw(tags) if draw(st.booleans()) else tag for tag in gold]
        if valid:
            gold, pred = to_iob2(gold), to_iob2(pred)
        predictions.append(pred)
        references.append(gold)
    return predictions, references


def nervaluate(predictions: list[list[str]], references: list[list[str]]) -> dict:
    types = sorted({tag[2:] for sentence in [*predictions, *references] for tag in sentence if tag != "O"})
    return Evaluator(references, predictions, tags=types, loader="list").evaluate()


def assert_same_as_nervaluate(ours: dict, oracle: dict) -> None:
    for scheme in SCHEMES:
        for field in FIELDS:
            assert ours[scheme][field] == getattr(oracle["overall"][scheme], field), (scheme, field)
    assert set(ours["per_type"]) == set(oracle["entities"])
    for entity_type, schemes in oracle["entities"].items():
        for scheme in SCHEMES:
            for field in FIELDS:
                assert ours["per_type"][entity_type][scheme][field] == getattr(schemes[scheme], field), (
                    entity_type,
                    scheme,
                    field,
                )


# ------------------------------------------------------------------------------------------ oracle tests


@settings(max_examples=300, deadline=None)
@given(corpora())
def test_every_scheme_count_and_score_equals_nervaluate(corpus):
    predictions, references = corpus
    ours = compute_ner_scores(predictions, references)
    assert_same_as_nervaluate(ours, nervaluate(predictions, references))
    # Tuples never compare equal to lists, so this sends every sentence through the matching path.
    assert compute_ner_scores([tuple(sentence) for sentence in predictions], references) == ours


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["O", "B-X", "I-X", "B-Y", "I-Y"]), max_size=20))
def test_extract_entities_reads_like_nervaluate_list_loader(tags):
    expected = [(entity.label, entity.start, entity.end + 1) for entity in ListLoader().load([tags])[0]]
    assert extract_entities(tags) == expected


def assert_strict_matches_seqeval(corpus, **seqeval_mode) -> None:
    predictions, references = corpus
    strict = compute_ner_scores(predictions, references)["strict"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for key, score in (("precision", precision_score), ("recall", recall_score), ("f1", f1_score)):
            expected = score(references, predictions, zero_division=0, **seqeval_mode)
            assert strict[key] == pytest.approx(expected, abs=1e-12), key


@settings(max_examples=200, deadline=None)
@given(corpora(valid=True))
def test_strict_scores_equal_seqeval_strict_iob2_on_valid_sequences(corpus):
    assert_strict_matches_seqeval(corpus, mode="strict", scheme=IOB2)


@settings(max_examples=200, deadline=None)
@given(corpora())
def test_strict_scores_equal_seqeval_default_lenient_mode_on_any_bio(corpus):
    assert_strict_matches_seqeval(corpus)


def test_one_token_overlap_needs_one_percent_of_the_gold_span_like_nervaluate():
    for length in (100, 101):
        references = [["B-X"] + ["I-X"] * (length - 1)]
        predictions = [["O"] * (length - 1) + ["B-Y"]]
        ours = compute_ner_scores(predictions, references)
        assert_same_as_nervaluate(ours, nervaluate(predictions, references))
        assert ours["strict"]["incorrect"] == (1 if length == 100 else 0)


def test_an_o_that_is_not_the_interned_string_is_still_outside():
    class Tag(str):
        pass

    references = [["B-X", "I-X", "O", "B-Y"]]
    predictions = [["B-X", Tag("O"), Tag("O"), "I-Y"]]
    assert compute_ner_scores(predictions, references) == compute_ner_scores(
        [["B-X", "O", "O", "I-Y"]], references
    )
    assert extract_entities([Tag("O"), "I-X", Tag("O")]) == [("X", 1, 2)]


# ----------------------------------------------------------------------------------- hand-made SemEval cases


@pytest.mark.parametrize(
    ("gold", "pred", "strict", "partial", "partial_p_r"),
    [
        # single-token prediction inside a 3-token gold entity
        (["B-X", "I-X", "I-X"], ["O", "B-X", "O"], {"incorrect": 1}, {"partial": 1}, (0.5, 0.5)),
        # two predictions overlapping one gold entity: one claims it, the other is spurious
        (
            ["B-X", "I-X", "I-X", "O"],
            ["B-X", "O", "B-X", "O"],
            {"incorrect": 1, "spurious": 1},
            {"partial": 1, "spurious": 1},
            (0.25, 0.5),
        ),
        # one prediction spanning two gold entities: it claims the first, the second is missed
        (
            ["B-X", "O", "B-X"],
            ["B-X", "I-X", "I-X"],
            {"incorrect": 1, "missed": 1},
            {"partial": 1, "missed": 1},
            (0.5, 0.25),
        ),
        # exact span, wrong type
        (["B-X", "I-X"], ["B-Y", "I-Y"], {"incorrect": 1}, {"correct": 1}, (1.0, 1.0)),
    ],
)
def test_anchor_cases(gold, pred, strict, partial, partial_p_r):
    results = compute_ner_scores([pred], [gold])
    counts = ("correct", "incorrect", "partial", "missed", "spurious")
    assert {key: results["strict"][key] for key in counts} == {key: strict.get(key, 0) for key in counts}
    assert {key: results["partial"][key] for key in counts} == {key: partial.get(key, 0) for key in counts}
    assert results["strict"]["f1"] == 0.0
    assert (results["partial"]["precision"], results["partial"]["recall"]) == partial_p_r


def test_per_type_reruns_each_type_alone_so_counts_do_not_add_up():
    results = compute_ner_scores([["B-Y", "I-Y"]], [["B-X", "I-X"]])
    assert results["strict"]["incorrect"] == 1
    assert results["per_type"]["X"]["strict"]["missed"] == 1
    assert results["per_type"]["Y"]["strict"]["spurious"] == 1
    assert (
        results["per_type"]["X"]["strict"]["incorrect"]
        == results["per_type"]["Y"]["strict"]["incorrect"]
        == 0
    )


def test_ent_type_breaks_ties_in_boundary_distance_by_reference_order():
    # The first prediction is 3 boundary tokens away from both X entities and claims the first one, which
    # leaves the second for the next prediction.
    references = [["B-X", "I-X", "O", "B-X", "I-X"]]
    predictions = [["O", "B-X", "I-X", "I-X", "B-X"]]
    ours = compute_ner_scores(predictions, references)
    assert_same_as_nervaluate(ours, nervaluate(predictions, references))
    assert (ours["ent_type"]["correct"], ours["ent_type"]["missed"], ours["ent_type"]["spurious"]) == (
        2,
        0,
        0,
    )


def test_partial_gives_half_credit_across_sentences():
    # nervaluate 1.0-1.1 dropped the half credit with more than one document (MantisAI/nervaluate#108)
    results = compute_ner_scores([["B-X", "O"], ["O", "B-X"]], [["B-X", "I-X"], ["B-X", "I-X"]])
    assert results["partial"]["partial"] == 2
    assert results["partial"]["precision"] == results["partial"]["recall"] == 0.5


@pytest.mark.parametrize(
    ("tags", "entities"),
    [
        (["I-X", "I-X", "O"], [("X", 0, 2)]),
        (["B-X", "I-Y"], [("X", 0, 1), ("Y", 1, 2)]),
        (["O", "I-X", "B-X"], [("X", 1, 2), ("X", 2, 3)]),
        (["B-X", "B-X", "I-X"], [("X", 0, 1), ("X", 1, 3)]),
        (["B-X", "I-X", "I-Y", "I-Y", "O", "B-Z"], [("X", 0, 2), ("Y", 2, 4), ("Z", 5, 6)]),
        ([], []),
        (["O", "O"], []),
    ],
)
def test_extract_entities_lenient_reading(tags, entities):
    assert extract_entities(tags) == entities


# ------------------------------------------------------------------------------------------------ by length


def test_by_length_uses_whole_sentence_strict_matching():
    by_length = compute_ner_scores([["B-X", "I-X", "I-X", "O"]], [["O", "B-X", "I-X", "O"]])["by_length"]
    assert list(by_length) == ["1", "2", "3+"]
    assert by_length["1"] == {
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "gold": 0,
        "predicted": 0,
        "correct": 0,
    }
    assert by_length["2"] == {
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "gold": 1,
        "predicted": 0,
        "correct": 0,
    }
    assert by_length["3+"] == {
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "gold": 0,
        "predicted": 1,
        "correct": 0,
    }


def test_by_length_precision_and_recall_per_bin():
    references = [["B-X", "O", "B-Y", "I-Y", "O", "B-X", "I-X", "I-X", "I-X"]]
    predictions = [["B-X", "O", "B-Y", "I-Y", "O", "B-X", "O", "B-X", "B-X"]]
    by_length = compute_ner_scores(predictions, references)["by_length"]
    assert by_length["1"] == {
        "precision": 0.25,
        "recall": 1.0,
        "f1": 0.4,
        "gold": 1,
        "predicted": 4,
        "correct": 1,
    }
    assert by_length["2"] == {
        "precision": 1.0,
        "recall": 1.0,
        "f1": 1.0,
        "gold": 1,
        "predicted": 1,
        "correct": 1,
    }
    assert by_length["3+"] == {
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "gold": 1,
        "predicted": 0,
        "correct": 0,
    }


def test_custom_length_bins():
    gold = ["B-X", "O"] + ["B-X", "I-X", "O"] + ["B-X", "I-X", "I-X", "I-X", "O"] + ["B-X"] + ["I-X"] * 4
    by_length = compute_ner_scores([gold], [gold], length_bins=(1, 2, 3, 5))["by_length"]
    assert list(by_length) == ["1", "2", "3-4", "5+"]
    assert [by_length[name]["gold"] for name in by_length] == [1, 1, 1, 1]
    assert all(scores["f1"] == 1.0 for scores in by_length.values())
    assert list(compute_ner_scores([gold], [gold], length_bins=[1, 3])["by_length"]) == ["1-2", "3+"]
    assert compute_ner_scores([gold], [gold], length_bins=(1,))["by_length"]["1+"]["gold"] == 4


@settings(max_examples=150, deadline=None)
@given(corpora())
def test_by_length_counts_partition_the_strict_counts(corpus):
    predictions, references = corpus
    results = compute_ner_scores(predictions, references, length_bins=(1, 2, 4))
    bins = results["by_length"].values()
    gold_entities = [entity for sentence in references for entity in extract_entities(sentence)]
    assert sum(scores["gold"] for scores in bins) == results["strict"]["possible"] == len(gold_entities)
    assert sum(scores["predicted"] for scores in bins) == results["strict"]["actual"]
    assert sum(scores["correct"] for scores in bins) == results["strict"]["correct"]
    long_gold = sum(1 for _, start, end in gold_entities if end - start >= 4)
    assert results["by_length"]["4+"]["gold"] == long_gold


@pytest.mark.parametrize("bins", [(), (0, 1), (2, 3), (1, 1), (1, 3, 2), (1.0, 2), (True, 2)])
def test_invalid_length_bins_raise(bins):
    with pytest.raises(ValueError, match="length_bins"):
        compute_ner_scores([["O"]], [["O"]], length_bins=bins)


# --------------------------------------------------------------------------------- token accuracy, sizes


def test_token_accuracy_and_sizes():
    results = compute_ner_scores([["O", "B-X", "O", "O"], []], [["O", "B-X", "I-X", "O"], []])
    assert results["token_accuracy"] == 0.75
    assert (results["num_sentences"], results["num_tokens"]) == (2, 4)


def test_empty_sentences_score_zero_without_error():
    results = compute_ner_scores([[], []], [[], []])
    assert results["token_accuracy"] == 0.0
    assert results["strict"] == {field: 0 for field in FIELDS}
    assert results["per_type"] == {}


# ---------------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("predictions", "references", "message"),
    [
        ([["O"]], [["O"], ["O"]], r"1 predicted sentences but 2 reference sentences"),
        ([], [], r"empty"),
        ([["O"], ["O", "B-X"]], [["O"], ["O"]], r"sentence 1: prediction has 2 tags but reference has 1"),
        ([["O", "S-X"]], [["O", "O"]], r"'S-X' in predictions, sentence 0, token 1"),
        ([["O"], ["O", "O"]], [["O"], ["B-", "O"]], r"'B-' in references, sentence 1, token 0"),
        ([["X"]], [["O"]], r"'X' in predictions, sentence 0, token 0"),
        ([["b-X"]], [["O"]], r"'b-X'"),
        ([["O", None]], [["O", "O"]], r"None in predictions, sentence 0, token 1"),
        ([["O", ["B-X"]]], [["O", "O"]], r"\['B-X'\] in predictions, sentence 0, token 1"),
        (["O B-X"], [["O", "B-X"]], r"predictions\[0\] is a string"),
        ("O", ["O"], r"not a string"),
    ],
)
def test_invalid_input_raises_clear_value_error(predictions, references, message):
    with pytest.raises(ValueError, match=message):
        compute_ner_scores(predictions, references)


def test_extract_entities_names_the_bad_tag_and_token():
    with pytest.raises(ValueError, match=r"'E-X' at token 2"):
        extract_entities(["B-X", "I-X", "E-X"])


# ------------------------------------------------------------------------------------- evaluate module


@pytest.fixture(scope="module")
def load_metric():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        import evaluate

        yield lambda: evaluate.load(str(METRIC_DIR))


PREDICTIONS = [["B-Chemical", "O", "B-Disease", "I-Disease", "I-Disease"], ["O", "I-Disease"], []]
REFERENCES = [["B-Chemical", "O", "B-Disease", "I-Disease", "O"], ["O", "B-Disease"], []]


def test_evaluate_module_compute_equals_scoring_core(load_metric):
    metric = load_metric()
    assert type(metric).__name__ == "BioNer"
    assert metric.compute(predictions=PREDICTIONS, references=REFERENCES) == compute_ner_scores(
        PREDICTIONS, REFERENCES
    )
    assert metric.compute(
        predictions=PREDICTIONS, references=REFERENCES, length_bins=(1, 3)
    ) == compute_ner_scores(PREDICTIONS, REFERENCES, length_bins=(1, 3))


def test_evaluate_module_add_batch_then_compute(load_metric):
    metric = load_metric()
    metric.add_batch(predictions=PREDICTIONS[:1], references=REFERENCES[:1])
    metric.add_batch(predictions=PREDICTIONS[1:], references=REFERENCES[1:])
    assert metric.compute() == compute_ner_scores(PREDICTIONS, REFERENCES)


@pytest.mark.parametrize(
    ("predictions", "references", "message"),
    [
        ([["O", "B-X"]], [["O"]], r"sentence 0: prediction has 2 tags but reference has 1"),
        ([], [["O"]], r"0 predicted sentences but 1 reference sentences"),
        ([], [], r"empty"),
        ([["S-X"]], [["O"]], r"'S-X' in predictions"),
    ],
)
def test_evaluate_module_raises_clear_value_error(load_metric, predictions, references, message):
    with pytest.raises(ValueError, match=message):
        load_metric().compute(predictions=predictions, references=references)
