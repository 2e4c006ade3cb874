"""BIO-valid decoding: Viterbi must return the best valid sequence, never an invalid one."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bioner.data.tags import split_tag
from bioner.decoding.viterbi import allowed_transitions, argmax_decode, decode_tags, viterbi_decode

LABELS = ["O", "B-Chemical", "B-Disease", "I-Chemical", "I-Disease"]


def is_valid(tags, previous="O"):
    for tag in tags:
        if tag.startswith("I-") and previous[2:] != tag[2:]:
            return False
        previous = tag
    return True


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 6), st.integers(0, 2**32 - 1))
def test_viterbi_is_the_best_valid_sequence(length, seed):
    log_probs = np.log(np.random.default_rng(seed).dirichlet(np.ones(len(LABELS)), size=length))
    best = viterbi_decode(log_probs, LABELS)
    assert len(best) == length
    assert is_valid([LABELS[i] for i in best])
    valid_scores = [
        sum(log_probs[t, i] for t, i in enumerate(path))
        for path in itertools.product(range(len(LABELS)), repeat=length)
        if is_valid([LABELS[i] for i in path])
    ]
    assert sum(log_probs[t, i] for t, i in enumerate(best)) == pytest.approx(max(valid_scores))


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 5), st.integers(0, 2**32 - 1), st.sampled_from(LABELS))
def test_viterbi_continuing_a_sequence_is_the_best_valid_continuation(length, seed, previous):
    """Speculative decoding re-drafts the rest of a sentence after a verified tag with ``previous``."""
    log_probs = np.log(np.random.default_rng(seed).dirichlet(np.ones(len(LABELS)), size=length))
    best = viterbi_decode(log_probs, LABELS, previous=previous)
    assert is_valid([LABELS[i] for i in best], previous)
    valid_scores = [
        sum(log_probs[t, i] for t, i in enumerate(path))
        for path in itertools.product(range(len(LABELS)), repeat=length)
        if is_valid([LABELS[i] for i in path], previous)
    ]
    assert sum(log_probs[t, i] for t, i in enumerate(best)) == pytest.approx(max(valid_scores))


def test_viterbi_after_an_entity_may_continue_it():
    log_probs = np.log(np.array([[0.1, 0.1, 0.1, 0.6, 0.1]]))  # I-Chemical preferred
    assert viterbi_decode(log_probs, LABELS, previous="B-Chemical") == [3]
    assert viterbi_decode(log_probs, LABELS, previous="O") != [3]
    assert viterbi_decode(log_probs, LABELS, previous="I-Disease") != [3]


def test_viterbi_repairs_what_argmax_gets_wrong():
    # Word 0 slightly prefers O, word 1 strongly prefers I-Chemical: argmax is invalid, Viterbi picks B then
    # I.
    probs = np.array([[0.5, 0.45, 0.0, 0.05, 0.0], [0.05, 0.05, 0.0, 0.9, 0.0]]) + 1e-9
    assert [LABELS[i] for i in argmax_decode(np.log(probs))] == ["O", "I-Chemical"]
    assert decode_tags(np.log(probs), LABELS, "viterbi") == ["B-Chemical", "I-Chemical"]


def test_viterbi_keeps_a_valid_argmax():
    probs = np.full((3, 5), 0.01)
    probs[0, 2], probs[1, 4], probs[2, 0] = 0.96, 0.96, 0.96
    assert decode_tags(np.log(probs), LABELS) == ["B-Disease", "I-Disease", "O"]


def test_transitions_forbid_type_switch_and_orphan_inside():
    start_ok, step_ok = allowed_transitions(LABELS)
    assert start_ok.tolist() == [True, True, True, False, False]
    assert not step_ok[LABELS.index("B-Disease"), LABELS.index("I-Chemical")]
    assert not step_ok[LABELS.index("O"), LABELS.index("I-Disease")]
    assert step_ok[LABELS.index("I-Disease"), LABELS.index("I-Disease")]
    assert step_ok[LABELS.index("I-Disease"), LABELS.index("B-Chemical")]


@pytest.mark.parametrize("bad", ["S-X", "B-", "X", "b-X", ""])
def test_invalid_tag_syntax_is_rejected(bad):
    with pytest.raises(ValueError, match="invalid BIO tag"):
        split_tag(bad)


def test_unknown_decoding_mode():
    with pytest.raises(ValueError, match="unknown BIO decoding"):
        decode_tags(np.zeros((1, 5)), LABELS, "beam")


def test_empty_sentence():
    assert decode_tags(np.zeros((0, 5)), LABELS) == []
