"""Mention-level scores over whole documents, by character offsets, as the BioCreative V CDR evaluation
defines them, plus the project's relaxed (SemEval partial) and by-length scores.

A predicted mention is correct (strict) when a gold mention of the same document has the same type, start and
end; scores are micro-averaged over all documents. Per type, a prediction counts under its own type and a
gold mention under its own, so a right span with the wrong type is one false positive and one false negative.
The matching itself is the token-level metric's (`metrics.bio_ner.scoring.compute_entity_scores`), run on
character offsets of the documents laid end to end, so every scheme (strict, exact, partial, ent_type), the
per-type scores and the length bins mean what they mean in the token-level report. A mention's length is the
number of words (under ``word_style``, `bioner.data.text.tokenize`) of the gold document's text that it
overlaps.

What the formats allow but the definition does not settle is decided and counted: a mention listed twice (same
document, type, start and end) counts once; a discontinuous mention is scored by its extent (first start, last
end); a composite mention is scored as the one mention it is (its parts are not scored on their own). A gold
document without predictions counts its mentions as missed; a predicted document that gold lacks is an error;
so is a predicted mention whose text is not the gold text at its offsets (never scored as a match).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence

from bioner.corpora.checks import covered_text
from bioner.corpora.model import Document, Mention
from bioner.corpora.problems import Repairs
from bioner.data.text import DEFAULT_WORD_STYLE, tokenize
from metrics.bio_ner.scoring import compute_entity_scores

Entity = tuple[str, int, int]
SHOWN = 5  # unknown documents named in an error


class DocumentScoringError(ValueError):
    """Gold and predicted documents that cannot be paired; the message names the documents and their
    sources."""


def score_documents(
    gold: Sequence[Document],
    predicted: Sequence[Document],
    word_style: str = DEFAULT_WORD_STYLE,
    length_bins: Sequence[int] = (1, 2, 3),
) -> dict:
    """Scores of ``predicted`` against ``gold`` documents (paired by id): the schemes, ``per_type`` and
    ``by_length`` of `compute_entity_scores`, plus ``num_documents``, ``num_gold_mentions`` and
    ``num_predicted_mentions`` (after duplicates are removed) and ``counted`` (duplicates, discontinuous
    mentions, gold documents without predictions; each with examples)."""
    gold_by_id = _by_id(gold, "gold")
    predicted_by_id = _by_id(predicted, "predictions")
    unknown = [document for key, document in predicted_by_id.items() if key not in gold_by_id]
    if unknown:
        shown = ", ".join(f"{d.id!r} ({d.source or 'no source'})" for d in unknown[:SHOWN])
        raise DocumentScoringError(f"{len(unknown)} predicted document(s) are not in the gold: {shown}")
    counted = Repairs()
    references: list[Entity] = []
    predictions: list[Entity] = []
    lengths: dict[Entity, int] = {}
    base = 0
    for key, reference in gold_by_id.items():
        prediction = predicted_by_id.get(key)
        if prediction is None:
            counted.add("gold documents without predictions", key)
        else:
            _check_text(reference, prediction)
        words = tokenize(reference.text, word_style)
        starts, ends = [a for a, _ in words], [b for _, b in words]
        extent = len(reference.text)
        for name, document, entities in (
            ("gold", reference, references),
            ("predicted", prediction, predictions),
        ):
            seen: set[Entity] = set()
            for mention in document.mentions if document is not None else []:
                if reference.text and mention.end > len(reference.text):
                    raise DocumentScoringError(
                        f"{document.source or name}: document {key!r}: {name} mention {mention.text!r} "
                        f"ends at {mention.end}, beyond the gold text ({len(reference.text)} characters)"
                    )
                if name == "predicted" and reference.text:
                    _check_mention_text(reference, mention, document)
                if mention.is_discontinuous:
                    counted.add(
                        f"{name} discontinuous mentions scored by their extent", f"{key} {mention.text!r}"
                    )
                entity = (mention.type, base + mention.start, base + mention.end)
                if entity in seen:
                    counted.add(f"{name} mentions listed twice (counted once)", f"{key} {mention.text!r}")
                    continue
                seen.add(entity)
                entities.append(entity)
                covered = bisect_left(starts, mention.end) - bisect_right(ends, mention.start)
                lengths[entity] = max(covered, 1)
                extent = max(extent, mention.end)
        base += extent + 1
    counted.log("document scoring")
    scores = compute_entity_scores(predictions, references, length_bins, lengths)
    return {
        **scores,
        "num_documents": len(gold_by_id),
        "num_gold_mentions": len(references),
        "num_predicted_mentions": len(predictions),
        "counted": {
            kind: {"count": n, "examples": counted.examples[kind]} for kind, n in counted.counts.items()
        },
    }


def _by_id(documents: Sequence[Document], name: str) -> dict[str, Document]:
    by_id: dict[str, Document] = {}
    for document in documents:
        if document.id in by_id:
            raise DocumentScoringError(
                f"{name}: document {document.id!r} appears twice ({by_id[document.id].source or '?'} and "
                f"{document.source or '?'})"
            )
        by_id[document.id] = document
    return by_id


def _check_mention_text(gold: Document, mention: Mention, predicted: Document) -> None:
    """A predicted mention that carries text must have the gold text at its offsets (whitespace aside): else
    its offsets were made on another text, and a match there would be a false one."""
    if not mention.text:
        return
    covered = covered_text(gold.text, mention)
    if mention.text == covered or mention.text.split() == covered.split():
        return
    spans = ",".join(f"{start}-{end}" for start, end in mention.spans)
    raise DocumentScoringError(
        f"{predicted.source or 'predictions'}: document {gold.id!r}: predicted mention {mention.text!r} at "
        f"{spans} covers {covered!r} in the gold text ({gold.source or 'gold'}); offsets made on another "
        "text would not compare"
    )


def _check_text(gold: Document, predicted: Document) -> None:
    """Offsets only compare over the same text: when both documents carry text, it must be the same."""
    if not gold.text or not predicted.text or gold.text == predicted.text:
        return
    at = next(
        (i for i, (a, b) in enumerate(zip(gold.text, predicted.text, strict=False)) if a != b),
        min(len(gold.text), len(predicted.text)),
    )
    raise DocumentScoringError(
        f"{predicted.source or 'predictions'}: document {gold.id!r}: the predicted text differs from the "
        f"gold text ({gold.source or 'gold'}) at character {at}: gold {gold.text[at : at + 20]!r}, predicted "
        f"{predicted.text[at : at + 20]!r}; offsets would not compare (tag the gold documents themselves)"
    )
