"""Tag documents: words and sentences with character offsets in, entities with character offsets out.

A document's sentences are tagged together with those of the other documents of a batch (the tagger batches
and windows them: nothing is truncated), then each sentence's BIO tags become entities whose ``start``/``end``
index the original text, so ``text[start:end] == entity["text"]`` always holds.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

from bioner.corpora.model import Document
from bioner.data.text import Span, split_sentences, tokenize
from metrics.bio_ner.scoring import extract_entities


@dataclass
class Segmented:
    """A document cut into words (character spans) and sentences (word-index ranges)."""

    document: Document
    words: list[Span]
    sentences: list[Span]

    def sentence_words(self) -> list[list[str]]:
        text = self.document.text
        return [[text[a:b] for a, b in self.words[first:last]] for first, last in self.sentences]


def segment(document: Document, style: str) -> Segmented:
    """Words and sentences of ``document``: pre-tokenized words are one sentence; raw text follows ``style``,
    and a sentence never runs from one passage (a title, an abstract) into the next, as in the corpora
    converted for training (`bioner.corpora.convert`)."""
    if document.words is None:
        words = tokenize(document.text, style)
        return Segmented(document, words, _sentences(document, words))
    spans, start = [], 0
    for word in document.words:
        spans.append((start, start + len(word)))
        start += len(word) + 1
    return Segmented(document, spans, [(0, len(spans))] if spans else [])


def _sentences(document: Document, words: list[Span]) -> list[Span]:
    """Sentences (word-index ranges) split within each passage; a document without passages is one."""
    breaks = sorted({passage.offset for passage in document.passages if passage.offset > 0})
    groups: list[list[Span]] = [[] for _ in range(len(breaks) + 1)]
    for word in words:
        groups[bisect_right(breaks, word[0])].append(word)
    sentences, first = [], 0
    for group in groups:
        sentences += [(first + a, first + b) for a, b in split_sentences(document.text, group)]
        first += len(group)
    return sentences


def tag_documents(
    tagger, documents: Sequence[Document], style: str, *, with_tags: bool = False
) -> list[dict]:
    """One output record per document: ``id``, ``text``, ``entities`` (``start``, ``end``, ``text``, ``type``
    and, for encoders, ``score``: the mean probability of the entity's tags) and, with ``with_tags``, every
    word's span and tag (``tokens``) and the sentences' character spans."""
    segmented = [segment(document, style) for document in documents]
    sentences = [words for item in segmented for words in item.sentence_words()]
    tags, probs = [], []
    if sentences:
        tags = tagger(sentences, progress=False)
        probs = getattr(tagger, "last_tag_probs", None) or [None] * len(tags)  # encoders only
    records, cursor = [], 0
    for item in segmented:
        count = len(item.sentences)
        records.append(
            _record(item, tags[cursor : cursor + count], probs[cursor : cursor + count], with_tags)
        )
        cursor += count
    return records


def _record(item: Segmented, sentence_tags: list, sentence_probs: list, with_tags: bool) -> dict:
    text = item.document.text
    entities = []
    for (first, _), tags, probs in zip(item.sentences, sentence_tags, sentence_probs, strict=True):
        for entity_type, start, end in extract_entities(tags):
            begin, finish = item.words[first + start][0], item.words[first + end - 1][1]
            entity = {"start": begin, "end": finish, "text": text[begin:finish], "type": entity_type}
            if probs is not None:
                entity["score"] = round(sum(probs[start:end]) / (end - start), 4)
            entities.append(entity)
    record = {"id": item.document.id, "text": text, "entities": entities}
    if with_tags:
        all_tags = [tag for tags in sentence_tags for tag in tags]
        record["tokens"] = [
            {"start": a, "end": b, "text": text[a:b], "tag": tag}
            for (a, b), tag in zip(item.words, all_tags, strict=True)
        ]
        record["sentences"] = [
            {"start": item.words[first][0], "end": item.words[last - 1][1]} for first, last in item.sentences
        ]
    return record
