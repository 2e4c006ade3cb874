"""Ensembles of token classifiers, combined at the word level.

Every member (an encoder or an LLM token classifier, any tokenizer; or another ensemble) scores each word's
tags; the ensemble takes the weighted mean of the members' log-probabilities and renormalises it per word
(a weighted geometric mean of the distributions, a product of experts), then decodes it with Viterbi or
argmax. The renormalisation adds one constant per word, so the decoded tags are those of the plain weighted
mean; it makes :meth:`EnsembleTagger.word_log_probs` a distribution, usable as a distillation teacher or as a
cascade's small model. Members may list the same labels in different orders; the ensemble uses one order.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from bioner.decoding.viterbi import DECODERS, decode_tags
from bioner.models.errors import ModelLoadError
from bioner.tagging.manifests import ENSEMBLE_FILE, Manifest, member_entry, member_reference, write_manifest

KIND = "ensemble"


def log_softmax(scores: np.ndarray) -> np.ndarray:
    """Per-row log-softmax (the last axis)."""
    shifted = scores - scores.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def combine(member_scores: Sequence[np.ndarray], weights: Sequence[float]) -> np.ndarray:
    """The ensemble's ``[words, labels]`` log-probabilities from each member's (same label order)."""
    total = sum(w * np.asarray(s, dtype=np.float64) for w, s in zip(weights, member_scores, strict=True))
    return log_softmax(total) if len(total) else total


def normalized_weights(weights: Sequence[float] | None, count: int, names: Sequence[str]) -> list[float]:
    """``weights`` (default: equal) scaled to sum 1; a wrong count or negative/zero total is an error."""
    if weights is None:
        return [1.0 / count] * count
    weights = [float(w) for w in weights]
    if len(weights) != count:
        raise ModelLoadError(f"ensemble of {', '.join(names)}: {len(weights)} weights for {count} members")
    if any(w < 0 or math.isnan(w) for w in weights) or sum(weights) <= 0:
        raise ModelLoadError(f"ensemble weights must be >= 0 with a positive sum, got {weights}")
    return [w / sum(weights) for w in weights]


def check_members(members: Sequence, names: Sequence[str]) -> list[str]:
    """The members' common label set in the first member's order; a clear error for a member without word
    scores (a generative tagger) or a different label set."""
    for member, name in zip(members, names, strict=True):
        if not callable(getattr(member, "word_log_probs", None)):
            raise ModelLoadError(
                f"ensemble member '{name}' is a generative tagger (or cascade): it has no word scores to"
                " average; ensembles take token classifiers (encoders, LLM token classifiers, ensembles)"
            )
    labels = list(members[0].labels)
    for member, name in zip(members[1:], names[1:], strict=True):
        if sorted(member.labels) != sorted(labels):
            raise ModelLoadError(
                f"ensemble members '{names[0]}' and '{name}' have different label sets ({sorted(labels)} vs"
                f" {sorted(member.labels)}); members must be trained on the same labels"
            )
    return labels


def common_word_style(taggers: Sequence, names: Sequence[str]) -> str | None:
    """The one word style the taggers were trained with (None when none records it); differing ones are an
    error, since their words would not line up."""
    styles = {getattr(t, "word_style", None) for t in taggers} - {None}
    if len(styles) > 1:
        raise ModelLoadError(
            f"{', '.join(names)} were trained with different word styles {sorted(styles)}; combine taggers"
            " that cut words the same way"
        )
    return next(iter(styles), None)


@dataclass
class EnsembleTagger:
    """A weighted word-level ensemble of token classifiers; a tagger like the others."""

    members: list
    names: list[str]
    weights: list[float] | None = None
    decoding: str = "viterbi"
    labels: list[str] = field(default_factory=list)
    kind: str = field(default=KIND, init=False)
    last_seconds: float = field(default=0.0, init=False)
    last_stats: dict = field(default_factory=dict, init=False)
    _last_scores: list = field(default_factory=list, init=False, repr=False)
    _last_tags: list = field(default_factory=list, init=False, repr=False)

    def __post_init__(self):
        if not self.members:
            raise ModelLoadError("an ensemble needs at least one member")
        if self.decoding not in DECODERS:
            raise ModelLoadError(f"ensemble decoding {self.decoding!r}: one of {', '.join(DECODERS)}")
        found = check_members(self.members, self.names)
        if self.labels and sorted(self.labels) != sorted(found):
            raise ModelLoadError(f"ensemble labels {self.labels} differ from its members' {sorted(found)}")
        self.labels = list(self.labels or found)
        self.weights = normalized_weights(self.weights, len(self.members), self.names)
        self._orders = [[list(m.labels).index(label) for label in self.labels] for m in self.members]
        self._word_style = common_word_style(self.members, self.names)

    @property
    def word_style(self) -> str | None:
        return self._word_style

    @property
    def parts(self) -> list:
        """The taggers inside (for tables: their dtypes)."""
        return list(self.members)

    @property
    def batch_size(self) -> int:
        return getattr(self.members[0], "batch_size", 1)

    @batch_size.setter
    def batch_size(self, size: int) -> None:
        for member in self.members:
            member.batch_size = size

    def member_log_probs(self, sentences: Sequence[Sequence[str]], progress: bool = False) -> list[list]:
        """Per member, per sentence, ``[words, labels]`` log-probabilities in the ensemble's label order;
        ``last_stats["member_seconds"]`` times each member."""
        result, seconds = [], []
        for member, order in zip(self.members, self._orders, strict=True):
            start = time.perf_counter()
            scores = member.word_log_probs(sentences, progress=progress)
            seconds.append(round(time.perf_counter() - start, 4))
            result.append([np.asarray(s)[:, order] for s in scores])
        self.last_stats = {"member_seconds": dict(zip(self.names, seconds, strict=True))}
        return result

    def word_log_probs(self, sentences: Sequence[Sequence[str]], progress: bool = False) -> list[np.ndarray]:
        """Per sentence, the ensemble's ``[words, labels]`` log-probabilities (``labels`` order)."""
        per_member = self.member_log_probs(sentences, progress)
        return [combine(scores, self.weights) for scores in zip(*per_member, strict=True)]

    def __call__(self, sentences: Sequence[Sequence[str]], progress: bool = True) -> list[list[str]]:
        """Tags per word; ``last_seconds`` is the inference time of every member plus the combination."""
        start = time.perf_counter()
        self._last_scores = self.word_log_probs(sentences, progress=progress)
        self._last_tags = self.redecode(self.decoding)
        self.last_seconds = time.perf_counter() - start
        return self._last_tags

    def redecode(self, decoding: str) -> list[list[str]]:
        """The last call's ensemble scores decoded another way, without running the members again."""
        return [decode_tags(scores, self.labels, decoding) for scores in self._last_scores]

    @property
    def last_tag_probs(self) -> list[list[float]]:
        """The ensemble probability of each tag the last call chose."""
        index = {label: i for i, label in enumerate(self.labels)}
        return [
            [round(math.exp(float(row[index[tag]])), 4) for row, tag in zip(scores, tags, strict=True)]
            for scores, tags in zip(self._last_scores, self._last_tags, strict=True)
        ]


def load_ensemble(manifest: Manifest, load: Callable[..., object], options: dict) -> EnsembleTagger:
    """The ensemble of a manifest, each member loaded by ``load(reference, **options)`` (``load_tagger``
    with the caller's options: backend, device, batch size ...)."""
    data = manifest.data
    entries = data.get("members")
    if not isinstance(entries, list) or not entries:
        raise ModelLoadError(f"'{manifest.source}': {ENSEMBLE_FILE} lists no members")
    references = [member_reference(entry, manifest) for entry in entries]
    decoding = options.pop("bio_decoding", None) or data.get("decoding", "viterbi")
    members = [load(reference, **dict(options)) for reference in references]
    names = [entry.get("model") or entry.get("path") for entry in entries]
    weights = [entry.get("weight", 1.0) for entry in entries]
    return EnsembleTagger(members, names, weights, decoding=decoding, labels=list(data.get("labels") or []))


def save_ensemble(
    folder, members: Sequence[str], weights: Sequence[float], labels: Sequence[str], **extra
) -> object:
    """Write ``bioner_ensemble.json`` into a new folder; ``members`` are local folders or Hub ids, ``extra``
    what the manifest also records (``decoding``, ``weights_chosen_by``, ``dev``, ``member_dev_f1``)."""
    member_f1 = extra.pop("member_dev_f1", None) or [None] * len(members)
    entries = []
    for reference, weight, f1 in zip(members, weights, member_f1, strict=True):
        entry = {**member_entry(reference, folder), "weight": round(float(weight), 6)}
        if f1 is not None:
            entry["dev_f1"] = round(float(f1), 4)
        entries.append(entry)
    data = {"kind": KIND, "members": entries, "labels": list(labels), "decoding": "viterbi", **extra}
    return write_manifest(folder, ENSEMBLE_FILE, data)
