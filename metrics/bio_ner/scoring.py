"""Entity-level scores for flat BIO tagging, the SemEval-2013 / MUC way: the project's single scoring core.

The four schemes (strict, exact, partial, ent_type), overall and per type, reproduce nervaluate 1.2.1
(``Evaluator(references, predictions, tags=<all types>, loader="list")``) count for count and float for
float: the same lenient reading of invalid IOB2, the same greedy one-to-one matching of predictions (in
order) to reference entities, and the same precision/recall/F1 expressions.  On top of that come strict
scores by entity length, token accuracy, and input checks that name the offending sentence and token.

Why not call nervaluate?  It re-runs every strategy for every type of every sentence on per-entity objects,
which makes it the slowest step of an evaluation (more than 10x slower than this on BC5CDR test).  Here the
sentences predicted exactly only have their entities extracted.  The others are joined into one long
sequence; entities predicted exactly are set aside (they are correct in every scheme and overlap nothing
else, since the entities of one tag sequence never overlap), and only the rest goes through nervaluate's
matching, restricted to the pairs of entities that overlap.

Stdlib only: this file also ships alone beside ``bio_ner.py`` in the metric's HF Space.
"""

from __future__ import annotations

import operator
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import compress, pairwise

SCHEMES = ("strict", "exact", "partial", "ent_type")
# The keys of each scheme's result: the SemEval counts, then the scores.
RESULT_FIELDS = (
    "correct",
    "incorrect",
    "partial",
    "missed",
    "spurious",
    "possible",
    "actual",
    "precision",
    "recall",
    "f1",
)

Entity = tuple[str, int, int]
# A reference entity that a prediction overlaps: (reference index, same type, same span, boundary distance).
_Link = tuple[int, bool, bool, int]

_COR, _INC = "correct", "incorrect"
# The matching behind each scheme.  Partial is the exact matching with its incorrect counted as partial;
# within one type, exact is strict.
_OVERALL = {"strict": "strict", "exact": "exact", "partial": "exact", "ent_type": "ent_type"}
_PER_TYPE = {"strict": "strict", "exact": "strict", "partial": "strict", "ent_type": "ent_type"}
_O = "O"
_TAG_HELP = "expected 'O', 'B-<type>' or 'I-<type>'"


def _is_valid_tag(tag: object) -> bool:
    return tag == _O or (isinstance(tag, str) and len(tag) > 2 and tag[1] == "-" and tag[0] in "BI")


def extract_entities(tags: Sequence[str]) -> list[Entity]:
    """Entities of one tag sequence as ``(type, start, end)`` with ``end`` exclusive, in order.

    Invalid IOB2 is read like nervaluate's list loader (and conlleval): an ``I-X`` after ``O`` or after an
    entity of another type starts a new entity, ``B-X`` always starts a new one, and a type change closes the
    current one.  So ``I-X I-X O`` is one entity ``("X", 0, 2)`` and ``B-X I-Y`` is two.  Any tag other than
    ``O``, ``B-<type>`` or ``I-<type>`` (non-empty type) raises ``ValueError`` naming it and its position.
    """
    for position, tag in enumerate(tags):
        if not _is_valid_tag(tag):
            raise ValueError(f"invalid tag {tag!r} at token {position}: {_TAG_HELP}")
    return _spans(tags)


def _spans(tags: Sequence[str]) -> list[Entity]:
    """Entities of an already validated tag sequence.

    Most tags are ``O``.  CPython keeps a single object per one-character string, so an identity test
    skips them fast; the equality test in the loop still catches an ``O`` that is another object.
    """
    entities: list[Entity] = []
    entity_type = continuation = None
    start = previous = -1
    for position in [index for index, tag in enumerate(tags) if tag is not _O]:
        tag = tags[position]
        if position == previous + 1 and tag == continuation:
            previous = position
            continue
        if tag == _O:
            continue
        if entity_type is not None:
            entities.append((entity_type, start, previous + 1))
        entity_type = tag[2:]
        continuation = "I-" + entity_type
        start = previous = position
    if entity_type is not None:
        entities.append((entity_type, start, previous + 1))
    return entities


def compute_ner_scores(
    predictions: Sequence[Sequence[str]],
    references: Sequence[Sequence[str]],
    length_bins: Sequence[int] = (1, 2, 3),
) -> dict:
    """Score predicted tag sequences against reference ones (one list of tags per sentence).

    Returns ``strict``, ``exact``, ``partial`` and ``ent_type`` (each: precision, recall, f1 and the SemEval
    counts correct/incorrect/partial/missed/spurious/possible/actual), ``per_type`` (the same four per entity
    type, computed on that type's entities alone, as nervaluate does), ``by_length`` (strict precision/recall/
    F1 with gold/predicted/correct counts per entity-length bin), ``token_accuracy``, ``num_sentences`` and
    ``num_tokens``.  ``length_bins`` are the lower edges of the bins, starting at 1: ``(1, 2, 3)`` gives bins
    ``"1"``, ``"2"`` and ``"3+"``; ``(1, 2, 3, 5)`` gives ``"1"``, ``"2"``, ``"3-4"`` and ``"5+"``.
    Raises ``ValueError`` for empty input, mismatched sentence counts or lengths, and malformed tags.
    """
    edges = list(length_bins)
    bin_names = _bin_names(edges)
    lengths = _check_shapes(predictions, references)
    agree = list(map(operator.eq, predictions, references))
    differ = [not same for same in agree]
    _check_tags(references, "references")
    _check_tags(predictions, "predictions", only=compress(predictions, differ))

    # The sentences that differ, scored as one long sequence (aligned in gold and prediction): entities of
    # different sentences never overlap, so nervaluate's per-sentence matching is one matching over it.
    differing_gold = _joined(compress(references, differ))
    differing_pred = _joined(compress(predictions, differ))
    gold, pred = _spans(differing_gold), _spans(differing_pred)
    common = set(gold).intersection(pred)
    agreed = _spans(_joined(compress(references, agree))) + list(common)
    gold = [entity for entity in gold if entity not in common]
    pred = [entity for entity in pred if entity not in common]

    num_tokens = sum(lengths)
    wrong_tokens = sum(map(operator.ne, differing_pred, differing_gold))
    return {
        **_entity_results(agreed, gold, pred, edges, bin_names, _span_length),
        "token_accuracy": (num_tokens - wrong_tokens) / num_tokens if num_tokens else 0.0,
        "num_sentences": len(references),
        "num_tokens": num_tokens,
    }


def compute_entity_scores(
    predictions: Iterable[Entity],
    references: Iterable[Entity],
    length_bins: Sequence[int] = (1, 2, 3),
    lengths: Mapping[Entity, int] | None = None,
) -> dict:
    """Score entities given directly as ``(type, start, end)`` (``end`` exclusive), e.g. character offsets of
    mentions in documents laid end to end: the ``strict``, ``exact``, ``partial``, ``ent_type``, ``per_type``
    and ``by_length`` results of `compute_ner_scores`, with the same matching.

    Unlike tag sequences, either list may hold overlapping (nested) entities; each is scored in order of
    start, then end, then type. Strict is then a set match: a prediction is correct when a reference has the
    same type, start and end. ``lengths`` gives each entity's length for the length bins (default ``end -
    start``). Raises ``ValueError`` for a malformed entity, an entity listed twice, or nothing to score.
    """
    edges = list(length_bins)
    bin_names = _bin_names(edges)
    pred = _sorted_entities(predictions, "predictions")
    gold = _sorted_entities(references, "references")
    if not pred and not gold:
        raise ValueError("nothing to score: no predicted or reference entities")
    common = set(gold).intersection(pred)
    agreed = [entity for entity in gold if entity in common]
    gold = [entity for entity in gold if entity not in common]
    pred = [entity for entity in pred if entity not in common]
    length = _span_length if lengths is None else lengths.__getitem__
    return _entity_results(agreed, gold, pred, edges, bin_names, length)


def _sorted_entities(entities: Iterable[Entity], name: str) -> list[Entity]:
    """``entities`` checked (type, start < end) and free of repeats, by start, end and type."""
    checked = []
    for entity in entities:
        if not (
            isinstance(entity, tuple)
            and len(entity) == 3
            and isinstance(entity[0], str)
            and entity[0]
            and all(isinstance(x, int) and not isinstance(x, bool) for x in entity[1:])
            and 0 <= entity[1] < entity[2]
        ):
            raise ValueError(f"{name}: expected (type, start, end) with 0 <= start < end, got {entity!r}")
        checked.append(entity)
    checked.sort(key=lambda entity: (entity[1], entity[2], entity[0]))
    for previous, entity in pairwise(checked):
        if previous == entity:
            raise ValueError(f"{name}: entity {entity!r} is listed twice")
    return checked


def _span_length(entity: Entity) -> int:
    return entity[2] - entity[1]


def _entity_results(
    agreed: list[Entity],
    gold: list[Entity],
    pred: list[Entity],
    edges: list[int],
    bin_names: list[str],
    length: Callable[[Entity], int],
) -> dict:
    """The schemes, per type and by length, from the entities predicted exactly (``agreed``) and the other
    reference and predicted entities (each sorted by start)."""
    return {
        **_scheme_results(agreed, gold, pred, Counter(_outcome_keys(gold, pred))),
        "by_length": _by_length(agreed, gold, pred, edges, bin_names, length),
    }


def _joined(sentences: Iterable[Sequence[str]]) -> list[str]:
    """All sentences as one tag sequence, each followed by an ``O`` so that no entity spans two of them."""
    joined: list[str] = []
    for sentence in sentences:
        joined += sentence
        joined.append(_O)
    return joined


def _bin_names(edges: list[int]) -> list[str]:
    """Names of the length bins whose lower edges are ``edges`` (validated: ints, increasing, from 1)."""
    if (
        not edges
        or any(isinstance(edge, bool) or not isinstance(edge, int) for edge in edges)
        or edges[0] != 1
        or any(low >= high for low, high in pairwise(edges))
    ):
        raise ValueError(f"length_bins must be strictly increasing integers starting at 1, got {edges!r}")
    names = [str(low) if high == low + 1 else f"{low}-{high - 1}" for low, high in pairwise(edges)]
    return [*names, f"{edges[-1]}+"]


def _check_shapes(predictions: Sequence[Sequence[str]], references: Sequence[Sequence[str]]) -> list[int]:
    """Sentence lengths, once predictions and references are known to pair up."""
    for name, corpus in (("predictions", predictions), ("references", references)):
        if isinstance(corpus, str):
            raise ValueError(
                f"{name} must be a list of tag sequences (one list of tags per sentence), not a string"
            )
        if any(issubclass(kind, str) for kind in set(map(type, corpus))):
            index = next(index for index, sentence in enumerate(corpus) if isinstance(sentence, str))
            raise ValueError(f"{name}[{index}] is a string; each sentence must be a list of tags")
    if len(predictions) != len(references):
        raise ValueError(
            f"got {len(predictions)} predicted sentences but {len(references)} reference sentences"
        )
    if not references:
        raise ValueError("nothing to score: predictions and references are empty")
    lengths = list(map(len, references))
    predicted_lengths = list(map(len, predictions))
    if predicted_lengths != lengths:
        index = next(i for i, (p, g) in enumerate(zip(predicted_lengths, lengths, strict=True)) if p != g)
        raise ValueError(
            f"sentence {index}: prediction has {predicted_lengths[index]} tags but reference has"
            f" {lengths[index]}"
        )
    return lengths


def _check_tags(
    sentences: Sequence[Sequence[str]], name: str, only: Iterable[Sequence[str]] | None = None
) -> None:
    """Validate each distinct tag of ``only`` (default: all sentences) once; on failure, locate the first
    bad tag of ``sentences``, so ``only`` must hold every sentence that can contain one."""
    try:
        distinct = set().union(*(sentences if only is None else only))
    except TypeError:  # an unhashable "tag"
        distinct = None
    if distinct is not None and all(map(_is_valid_tag, distinct)):
        return
    for index, sentence in enumerate(sentences):
        for position, tag in enumerate(sentence):
            if not _is_valid_tag(tag):
                raise ValueError(
                    f"invalid tag {tag!r} in {name}, sentence {index}, token {position}: {_TAG_HELP}"
                )


def _links(gold: list[Entity], pred: list[Entity]) -> list[list[_Link]]:
    """For each prediction, the reference entities it overlaps in nervaluate's sense, in reference order.

    Both lists are sorted by start, so one forward sweep finds every overlap (references that overlap each
    other, as nested mentions do, are all visited: the sweep stops only at a reference starting after the
    prediction ends, and skips only those that end before every later prediction starts).
    nervaluate (min_overlap_percentage=1) wants the overlap to cover at least 1% of the reference span, so a
    one-token overlap with a reference longer than 100 tokens does not count; the float test is its own.
    """
    links = []
    first = 0  # the first reference that does not end before the current prediction
    for pred_type, pred_start, pred_end in pred:
        while first < len(gold) and gold[first][2] <= pred_start:
            first += 1
        overlapping = []
        for index in range(first, len(gold)):
            gold_type, gold_start, gold_end = gold[index]
            if gold_start >= pred_end:
                break
            overlap = min(pred_end, gold_end) - max(pred_start, gold_start)
            if overlap / (gold_end - gold_start) * 100.0 < 1.0:
                continue
            same_span = gold_start == pred_start and gold_end == pred_end
            distance = abs(pred_start - gold_start) + abs(pred_end - gold_end)
            overlapping.append((index, gold_type == pred_type, same_span, distance))
        links.append(overlapping)
    return links


def _first_match(links: list[list[_Link]], need_type: bool, same_type_only: bool) -> list[tuple[int, str]]:
    """nervaluate's strict / exact / partial matching: ``(prediction index, outcome)`` per matched prediction.

    Each prediction, in order, takes an unclaimed reference with the same span (and type if ``need_type``);
    failing that, the first unclaimed overlapping reference, as incorrect (partial in the partial scheme).
    ``same_type_only`` replays the per-type runs, which never see entities of another type.
    """
    claimed: set[int] = set()
    outcomes = []
    for pred_index, overlapping in enumerate(links):
        found = None
        for gold_index, same_type, same_span, _ in overlapping:
            if gold_index in claimed or (same_type_only and not same_type):
                continue
            if same_span and (same_type or not need_type):
                found = (gold_index, _COR)
                break
            if found is None:
                found = (gold_index, _INC)
        if found is not None:
            claimed.add(found[0])
            outcomes.append((pred_index, found[1]))
    return outcomes


def _closest_match(links: list[list[_Link]], same_type_only: bool) -> list[tuple[int, str]]:
    """nervaluate's ent_type matching: the unclaimed same-type reference with the closest boundaries makes
    the prediction correct; failing that, the first unclaimed one of another type makes it incorrect."""
    claimed: set[int] = set()
    outcomes = []
    for pred_index, overlapping in enumerate(links):
        best = best_distance = wrong_type = None
        for gold_index, same_type, _, distance in overlapping:
            if gold_index in claimed:
                continue
            if same_type:
                if best_distance is None or distance < best_distance:
                    best, best_distance = gold_index, distance
            elif wrong_type is None and not same_type_only:
                wrong_type = gold_index
        if best is not None:
            claimed.add(best)
            outcomes.append((pred_index, _COR))
        elif wrong_type is not None:
            claimed.add(wrong_type)
            outcomes.append((pred_index, _INC))
    return outcomes


def _outcome_keys(gold: list[Entity], pred: list[Entity]) -> list[tuple[str, ...]]:
    """One key per matched prediction and matching: ``(scheme, outcome)`` overall and
    ``(scheme, outcome, type)`` for the per-type runs (whose exact and partial replay strict)."""
    links = _links(gold, pred)
    keys: list[tuple[str, ...]] = [("strict", outcome) for _, outcome in _first_match(links, True, False)]
    keys += [("exact", outcome) for _, outcome in _first_match(links, False, False)]
    keys += [("ent_type", outcome) for _, outcome in _closest_match(links, False)]
    keys += [("strict", outcome, pred[index][0]) for index, outcome in _first_match(links, True, True)]
    keys += [("ent_type", outcome, pred[index][0]) for index, outcome in _closest_match(links, True)]
    return keys


def _scores(correct: int, incorrect: int, partial: int, missed: int, spurious: int) -> dict:
    """SemEval counts plus P/R/F1 with nervaluate's float expressions (zero denominators give 0.0).

    Partial matches earn half credit; only the partial scheme has any, and with none the credit is exactly
    ``correct``, so one formula serves all four schemes.
    """
    actual = correct + incorrect + partial + spurious
    possible = correct + incorrect + partial + missed
    credit = correct + 0.5 * partial
    precision = credit / actual if actual > 0 else 0.0
    recall = credit / possible if possible > 0 else 0.0
    f1 = 2 * (precision * recall) / (precision + recall) if (precision + recall) > 0 else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "correct": correct,
        "incorrect": incorrect,
        "partial": partial,
        "missed": missed,
        "spurious": spurious,
        "possible": possible,
        "actual": actual,
    }


def _four_schemes(
    outcomes: Counter, matchings: dict[str, str], agreed: int, gold: int, pred: int, *entity_type: str
) -> dict:
    """The four schemes, overall or for one type, from the entities predicted exactly (``agreed``: correct in
    every scheme), the numbers of other reference and predicted entities, and the matching outcomes."""
    results = {}
    possible, actual = agreed + gold, agreed + pred
    for scheme, matching in matchings.items():
        correct = agreed + outcomes[(matching, _COR, *entity_type)]
        inexact = outcomes[(matching, _INC, *entity_type)]
        missed, spurious = possible - correct - inexact, actual - correct - inexact
        if scheme == "partial":
            results[scheme] = _scores(correct, 0, inexact, missed, spurious)
        else:
            results[scheme] = _scores(correct, inexact, 0, missed, spurious)
    return results


def _scheme_results(agreed: list[Entity], gold: list[Entity], pred: list[Entity], outcomes: Counter) -> dict:
    """The four schemes overall, plus ``per_type``."""
    agreed_types, gold_types, pred_types = (
        Counter(entity[0] for entity in group) for group in (agreed, gold, pred)
    )
    results = _four_schemes(outcomes, _OVERALL, len(agreed), len(gold), len(pred))
    results["per_type"] = {
        entity_type: _four_schemes(
            outcomes,
            _PER_TYPE,
            agreed_types[entity_type],
            gold_types[entity_type],
            pred_types[entity_type],
            entity_type,
        )
        for entity_type in sorted(agreed_types | gold_types | pred_types)
    }
    return results


def _by_length(
    agreed: list[Entity],
    gold: list[Entity],
    pred: list[Entity],
    edges: list[int],
    bin_names: list[str],
    length: Callable[[Entity], int] = _span_length,
) -> dict:
    """Strict scores per length bin: recall over the reference entities of that length, precision over the
    predicted ones; only entities predicted exactly (``agreed``) are correct."""

    def per_bin(entities: list[Entity]) -> Counter[int]:
        binned: Counter[int] = Counter()
        for size, count in Counter(map(length, entities)).items():
            binned[bisect_right(edges, size) - 1] += count
        return binned

    correct = per_bin(agreed)
    gold_counts, pred_counts = correct + per_bin(gold), correct + per_bin(pred)
    results = {}
    for index, name in enumerate(bin_names):
        precision = correct[index] / pred_counts[index] if pred_counts[index] else 0.0
        recall = correct[index] / gold_counts[index] if gold_counts[index] else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
        results[name] = {
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "gold": gold_counts[index],
            "predicted": pred_counts[index],
            "correct": correct[index],
        }
    return results
