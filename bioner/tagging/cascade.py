"""A confidence cascade: a small token classifier tags every sentence, and the sentences it is least sure of
are tagged again by a large tagger (any kind: an LLM token classifier, an ensemble, a generative LLM).

A sentence's confidence comes from the small model's word marginals (its ``word_log_probs``, optionally
divided by a temperature fitted on dev):

- ``min_prob`` (default): the lowest, over the sentence's words, of the best tag's probability;
- ``margin``: the lowest, over words, of best minus second-best probability.

Routing is by ``threshold`` (confidence below it goes to the large tagger: the same decision whatever the
batch) or by ``fraction`` (the lowest-confidence ``round(fraction * n)`` sentences of each call; with small
batches prefer a threshold, e.g. the dev quantile that ``python -m bioner.evaluation.ensembles cascade
--fraction`` stores).

**Span routing** (``span_radius`` set; ``min_prob`` and a threshold only): instead of whole sentences, the
large tagger sees only windows around the words whose best-tag probability is under the threshold. Each such
word gets a *core* of ``span_radius`` words either side, widened so it does not cut an entity of the small
model's; the large tagger reads the core with ``span_context`` more words either side (overlapping windows
merge), and its tags replace the small model's on the core, widened within the window so the large tagger's
own entities are not cut either; an ``I-`` left without its ``B-`` at a core's edge becomes ``B-``. In a long
sentence with one doubtful word the large tagger then reads a dozen words, not fifty.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from bioner.decoding.viterbi import decode_tags
from bioner.models.errors import ModelLoadError
from bioner.tagging.ensemble import common_word_style, log_softmax
from bioner.tagging.manifests import CASCADE_FILE, Manifest, member_entry, member_reference, write_manifest

KIND = "cascade"
MIN_PROB = "min_prob"
MARGIN = "margin"
CONFIDENCES = (MIN_PROB, MARGIN)


def sentence_confidence(
    word_scores: np.ndarray, confidence: str = MIN_PROB, temperature: float = 1.0
) -> float:
    """A sentence's confidence from its ``[words, labels]`` log-probabilities (1.0 for an empty sentence)."""
    scores = np.asarray(word_scores, dtype=np.float64)
    if len(scores) == 0:
        return 1.0
    probs = np.exp(log_softmax(scores / temperature))
    if confidence == MIN_PROB:
        return float(probs.max(axis=-1).min())
    if confidence == MARGIN:
        top = np.sort(probs, axis=-1)
        second = top[:, -2] if top.shape[1] > 1 else 0.0
        return float((top[:, -1] - second).min())
    raise ValueError(f"unknown confidence {confidence!r}; one of {', '.join(CONFIDENCES)}")


def routed_indices(
    confidences: Sequence[float], threshold: float | None, fraction: float | None
) -> list[int]:
    """The sentences to send to the large tagger: confidence under ``threshold``, or the lowest
    ``round(fraction * n)`` (ties by position), in sentence order."""
    if threshold is not None:
        return [i for i, c in enumerate(confidences) if c < threshold]
    count = round(float(fraction) * len(confidences))
    order = sorted(range(len(confidences)), key=lambda i: (confidences[i], i))
    return sorted(order[:count])


def span_problem(radius: int | None, context: int, threshold: float | None, confidence: str) -> str | None:
    """Why these span-routing settings cannot work (None when they can, or when span routing is off)."""
    if radius is None:
        return None
    if threshold is None or confidence != MIN_PROB:
        return (
            "cascade span routing (span_radius) routes words by min_prob under a threshold: give"
            " a threshold, not a fraction, and confidence min_prob"
        )
    if radius < 0 or context < 0:
        return f"cascade span_radius and span_context must be >= 0, got {radius}, {context}"
    return None


def span_windows(
    small_tags: Sequence[str], uncertain: Sequence[int], radius: int, context: int
) -> list[tuple[int, int, list[tuple[int, int]]]]:
    """``(start, end, cores)`` windows (word offsets, end exclusive) the large tagger reads for one sentence:
    a core of ``radius`` words around each uncertain word, widened to whole entities of ``small_tags``, read
    with ``context`` words either side; windows that overlap or touch are merged (keeping each core)."""
    n = len(small_tags)
    cores: list[list[int]] = []
    for word in sorted(uncertain):
        start, end = max(0, word - radius), min(n, word + radius + 1)
        while start > 0 and small_tags[start].startswith("I-"):
            start -= 1
        while end < n and small_tags[end].startswith("I-"):
            end += 1
        if cores and start <= cores[-1][1]:
            cores[-1][1] = max(cores[-1][1], end)
        else:
            cores.append([start, end])
    windows: list[tuple[int, int, list[tuple[int, int]]]] = []
    for start, end in cores:
        low, high = max(0, start - context), min(n, end + context)
        if windows and low <= windows[-1][1]:
            previous = windows.pop()
            windows.append((previous[0], max(previous[1], high), [*previous[2], (start, end)]))
        else:
            windows.append((low, high, [(start, end)]))
    return windows


def merge_span_tags(
    small_tags: Sequence[str], windows: Sequence[tuple[int, int, list]], window_tags: Sequence[Sequence[str]]
) -> list[str]:
    """The small model's tags with each core replaced by the large tagger's tags of its window (a core widened
    within its window so the large tagger's entities are not cut), then ``I-`` without a ``B-`` repaired."""
    tags = list(small_tags)
    for (low, high, cores), large in zip(windows, window_tags, strict=True):
        for start, end in cores:
            while start > low and large[start - low].startswith("I-"):
                start -= 1
            while end < high and large[end - low].startswith("I-"):
                end += 1
            tags[start:end] = large[start - low : end - low]
    for i, tag in enumerate(tags):
        if tag.startswith("I-") and (i == 0 or tags[i - 1][2:] != tag[2:] or tags[i - 1] == "O"):
            tags[i] = "B-" + tag[2:]
    return tags


def fit_temperature(
    word_scores: Sequence[np.ndarray], gold: Sequence[Sequence[str]], labels: Sequence[str]
) -> float:
    """The temperature T minimising the negative log-likelihood of the gold tags under softmax(scores / T)
    (words whose gold tag the model lacks are left out)."""
    index = {label: i for i, label in enumerate(labels)}
    rows, targets = [], []
    for scores, tags in zip(word_scores, gold, strict=True):
        for row, tag in zip(np.asarray(scores), tags, strict=True):
            if tag in index:
                rows.append(row)
                targets.append(index[tag])
    if not rows:
        raise ValueError("no gold tags to fit a temperature on")
    scores, targets = np.asarray(rows, dtype=np.float64), np.asarray(targets)

    def nll(temperature: float) -> float:
        return float(-log_softmax(scores / temperature)[np.arange(len(targets)), targets].mean())

    grid = np.geomspace(0.05, 20.0, 121)
    best = float(grid[int(np.argmin([nll(t) for t in grid]))])
    low, high = best / 1.06, best * 1.06  # refine by golden section within one grid step
    for _ in range(40):
        a, b = high - 0.618 * (high - low), low + 0.618 * (high - low)
        low, high = (low, b) if nll(a) < nll(b) else (a, high)
    return round((low + high) / 2, 4)


@dataclass
class CascadeTagger:
    """``small`` tags everything; sentences under the confidence bar are re-tagged by ``large``."""

    small: object
    large: object
    threshold: float | None = None
    fraction: float | None = None
    confidence: str = MIN_PROB
    temperature: float = 1.0
    span_radius: int | None = None
    span_context: int = 8
    names: tuple[str, str] = ("small", "large")
    kind: str = field(default=KIND, init=False)
    last_seconds: float = field(default=0.0, init=False)
    last_stats: dict = field(default_factory=dict, init=False)
    last_confidences: list = field(default_factory=list, init=False)

    def __post_init__(self):
        small_name, large_name = self.names
        if not callable(getattr(self.small, "word_log_probs", None)):
            raise ModelLoadError(
                f"cascade small model '{small_name}' has no word scores (a generative tagger?): the small"
                " model must be a token classifier or an ensemble"
            )
        if sorted(self.small.labels) != sorted(self.large.labels):
            raise ModelLoadError(
                f"cascade models '{small_name}' and '{large_name}' have different label sets"
                f" ({sorted(self.small.labels)} vs {sorted(self.large.labels)})"
            )
        if (self.threshold is None) == (self.fraction is None):
            raise ModelLoadError("a cascade routes by exactly one of threshold or fraction")
        if self.fraction is not None and not 0 <= self.fraction <= 1:
            raise ModelLoadError(f"cascade fraction must be in [0, 1], got {self.fraction}")
        if self.confidence not in CONFIDENCES:
            raise ModelLoadError(f"cascade confidence {self.confidence!r}: one of {', '.join(CONFIDENCES)}")
        if not self.temperature > 0:
            raise ModelLoadError(f"cascade temperature must be > 0, got {self.temperature}")
        problem = span_problem(self.span_radius, self.span_context, self.threshold, self.confidence)
        if problem:
            raise ModelLoadError(problem)
        self._word_style = common_word_style([self.small, self.large], list(self.names))

    @property
    def labels(self) -> list[str]:
        return list(self.small.labels)

    @property
    def word_style(self) -> str | None:
        return self._word_style

    @property
    def decoding(self) -> str:
        """How the cascade decides, as latency tables name a run's mode."""
        rule = f"<{self.threshold}" if self.threshold is not None else f"lowest {self.fraction}"
        spans = "" if self.span_radius is None else f" spans r{self.span_radius}+c{self.span_context}"
        return f"{self.confidence}{rule}{spans}"

    @property
    def parts(self) -> list:
        return [self.small, self.large]

    @property
    def batch_size(self) -> int:
        return getattr(self.small, "batch_size", 1)

    @batch_size.setter
    def batch_size(self, size: int) -> None:
        self.small.batch_size = size
        self.large.batch_size = size

    def __call__(self, sentences: Sequence[Sequence[str]], progress: bool = True) -> list[list[str]]:
        """Tags per word; ``last_seconds`` covers both models, ``last_stats`` the routing and each
        model's time."""
        start = time.perf_counter()
        scores = self.small.word_log_probs(sentences, progress=progress)
        tags = [decode_tags(s, self.small.labels, self.small.decoding) for s in scores]
        self.last_confidences = [sentence_confidence(s, self.confidence, self.temperature) for s in scores]
        routed = routed_indices(self.last_confidences, self.threshold, self.fraction)
        small_seconds = time.perf_counter() - start
        if self.span_radius is not None:
            return self._route_spans(sentences, scores, tags, routed, start, small_seconds, progress)
        large_seconds = 0.0
        if routed:
            large_start = time.perf_counter()
            large_tags = self.large([sentences[i] for i in routed], progress=progress)
            large_seconds = time.perf_counter() - large_start
            for i, sentence_tags in zip(routed, large_tags, strict=True):
                tags[i] = list(sentence_tags)
        self.last_seconds = time.perf_counter() - start
        self.last_stats = {
            "cascade_routed": len(routed),
            "cascade_routed_fraction": round(len(routed) / max(len(sentences), 1), 4),
            "cascade_small_seconds": round(small_seconds, 4),
            "cascade_large_seconds": round(large_seconds, 4),
            "routed_indices": routed,
        }
        return tags

    def _route_spans(self, sentences, scores, tags, routed, start, small_seconds, progress):
        """Span routing: the large tagger reads windows around the routed sentences' doubtful words."""
        jobs = []  # (sentence, windows)
        for i in routed:
            probs = np.exp(log_softmax(np.asarray(scores[i], dtype=np.float64) / self.temperature))
            uncertain = np.flatnonzero(probs.max(axis=-1) < self.threshold).tolist()
            jobs.append((i, span_windows(tags[i], uncertain, self.span_radius, self.span_context)))
        pieces = [list(sentences[i][low:high]) for i, windows in jobs for low, high, _ in windows]
        large_seconds = 0.0
        if pieces:
            large_start = time.perf_counter()
            piece_tags = iter(self.large(pieces, progress=progress))
            large_seconds = time.perf_counter() - large_start
            for i, windows in jobs:
                tags[i] = merge_span_tags(tags[i], windows, [next(piece_tags) for _ in windows])
        self.last_seconds = time.perf_counter() - start
        words = sum(len(s) for s in sentences)
        self.last_stats = {
            "cascade_routed": len(routed),
            "cascade_routed_fraction": round(len(routed) / max(len(sentences), 1), 4),
            "cascade_large_words_fraction": round(sum(len(p) for p in pieces) / max(words, 1), 4),
            "cascade_windows": len(pieces),
            "cascade_small_seconds": round(small_seconds, 4),
            "cascade_large_seconds": round(large_seconds, 4),
            "routed_indices": routed,
        }
        return tags


def load_cascade(manifest: Manifest, load: Callable[..., object], options: dict) -> CascadeTagger:
    """The cascade of a manifest; both models loaded by ``load(reference, **options)``."""
    data = manifest.data
    for key in ("small", "large"):
        if not isinstance(data.get(key), dict):
            raise ModelLoadError(f"'{manifest.source}': {CASCADE_FILE} needs '{key}' (a path or model)")
    small_ref, large_ref = (member_reference(data[key], manifest) for key in ("small", "large"))
    return CascadeTagger(
        load(small_ref, **dict(options)),
        load(large_ref, **dict(options)),
        threshold=data.get("threshold"),
        fraction=data.get("fraction"),
        confidence=data.get("confidence", MIN_PROB),
        temperature=float(data.get("temperature", 1.0)),
        span_radius=data.get("span_radius"),
        span_context=int(data.get("span_context", 8)),
        names=(small_ref, large_ref),
    )


def save_cascade(folder, small: str, large: str, **settings) -> object:
    """Write ``bioner_cascade.json`` into a new folder; ``settings``: ``threshold`` or ``fraction``,
    ``confidence``, ``temperature`` and what else the manifest records (``dev``)."""
    data = {
        "kind": KIND,
        "small": member_entry(small, folder),
        "large": member_entry(large, folder),
        "confidence": settings.pop("confidence", MIN_PROB),
        "temperature": settings.pop("temperature", 1.0),
        **{key: value for key, value in settings.items() if value is not None},
    }
    if ("threshold" in data) == ("fraction" in data):
        raise ValueError("a cascade routes by exactly one of threshold or fraction")
    return write_manifest(folder, CASCADE_FILE, data)
