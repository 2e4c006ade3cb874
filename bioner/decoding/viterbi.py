"""BIO-valid decoding of per-word label scores.

A token classifier scores every word independently, so its argmax can emit an ``I-X`` after ``O`` or after
another type -- a sequence no IOB2 annotator would write. ``viterbi_decode`` instead returns the best-scoring
sequence among the valid ones (``I-X`` only after ``B-X`` or ``I-X``), using the model's own log-probabilities
and no learned transition weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from bioner.data.tags import split_tag


def allowed_transitions(labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Masks of valid IOB2 starts and transitions.

    Returns ``(start_ok[L], step_ok[L, L])`` where ``step_ok[i, j]`` says label ``j`` may follow label ``i``.
    """
    return _allowed_transitions(tuple(labels))


@lru_cache(maxsize=32)
def _allowed_transitions(labels: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    parsed = [split_tag(label) for label in labels]
    start_ok = np.array([prefix != "I" for prefix, _ in parsed])
    step_ok = np.ones((len(labels), len(labels)), dtype=bool)
    for j, (prefix_j, type_j) in enumerate(parsed):
        if prefix_j != "I":
            continue
        for i, (prefix_i, type_i) in enumerate(parsed):
            step_ok[i, j] = prefix_i in ("B", "I") and type_i == type_j
    return start_ok, step_ok


def viterbi_decode(log_probs: np.ndarray, labels: Sequence[str], previous: str | None = None) -> list[int]:
    """Label indices of the highest-scoring valid IOB2 sequence under per-word ``log_probs[T, L]``.

    ``previous`` is the tag before the first word when the sequence continues one (speculative decoding
    re-drafts the rest of a sentence after a verified tag); ``None`` means the sentence starts here.
    """
    num_words = log_probs.shape[0]
    if num_words == 0:
        return []
    start_ok, step_ok = allowed_transitions(labels)
    if previous is not None:
        start_ok = step_ok[list(labels).index(previous)]
    greedy = log_probs.argmax(axis=-1)
    if start_ok[greedy[0]] and step_ok[greedy[:-1], greedy[1:]].all():
        return greedy.tolist()  # the unconstrained best path is valid, hence also the best valid path
    penalty = np.where(step_ok, 0.0, -np.inf)
    score = np.where(start_ok, log_probs[0], -np.inf)
    backpointers = np.zeros((num_words, len(labels)), dtype=np.int64)
    for t in range(1, num_words):
        candidates = score[:, None] + penalty  # [previous, current]
        backpointers[t] = candidates.argmax(axis=0)
        score = candidates.max(axis=0) + log_probs[t]
    best = [int(score.argmax())]
    for t in range(num_words - 1, 0, -1):
        best.append(int(backpointers[t, best[-1]]))
    return best[::-1]


def argmax_decode(log_probs: np.ndarray) -> list[int]:
    """Independent per-word argmax (may produce invalid IOB2)."""
    return [int(i) for i in log_probs.argmax(axis=-1)] if len(log_probs) else []


DECODERS = ("viterbi", "argmax")


def decode_tags(log_probs: np.ndarray, labels: Sequence[str], mode: str = "viterbi") -> list[str]:
    """Tags for one sentence from per-word label log-probabilities."""
    if mode == "viterbi":
        indices = viterbi_decode(log_probs, labels)
    elif mode == "argmax":
        indices = argmax_decode(log_probs)
    else:
        raise ValueError(f"unknown BIO decoding {mode!r}; choose one of {DECODERS}")
    return [labels[i] for i in indices]
