"""Documents -> BIO sentences (and back), with the project's word styles and sentence splitter
(bioner.data.text).

Each document's text is cut into words (``tokenize``) and, passage by passage, into sentences
(``split_sentences``); a passage boundary always ends a sentence. A row is ``id`` (``<document id>-<n>``,
``n`` from 0 within the document), ``tokens``, ``ner_tags`` (IOB2 strings), ``document_id`` and
``char_spans`` (each word's ``[start, end)`` in the document text).

What BIO cannot hold is decided here, never dropped silently: every mention is counted, per type, in a
:class:`ConversionReport` as kept exactly, adjusted (how) or left out (why), with the first examples.

* ``entity_types``: ``{source type: BIO type}``; when given, other types are left out ("type not selected").
* ``composite="parent"`` (default) keeps a composite mention as annotated, one span (as PubTator does);
  ``"parts"`` puts its individual mentions in its place (parts without offsets are left out).
* ``discontinuous="cover"`` (default) tags the span from the first to the last fragment (adjusted);
  ``"drop"`` leaves it out.
* Overlapping or nested mentions: the longest is kept (then the earlier), the others are left out; an exact
  duplicate (same span and BIO type) is left out as such.
* Whitespace at the ends of a mention's span is trimmed (adjusted). A mention boundary inside a word splits
  the word there (the mention is counted as adjusted: "word split at its boundary"). A sentence end inside a
  mention is removed (the sentences are merged, counted).
"""

from __future__ import annotations

import bisect
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bioner.corpora.model import Document, Mention, Passage
from bioner.corpora.problems import SHOWN_EXAMPLES, Repairs
from bioner.data.text import DEFAULT_WORD_STYLE, split_sentences, tokenize

COMPOSITE_CHOICES = ("parent", "parts")
DISCONTINUOUS_CHOICES = ("cover", "drop")
EXACT = "kept exactly"


@dataclass
class ConversionReport:
    """Per source type, how many mentions were kept exactly, adjusted (how) or left out (why)."""

    outcomes: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    examples: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    renamed: dict[str, str] = field(default_factory=dict)
    documents: int = 0
    sentences: int = 0
    words_split: int = 0
    sentences_merged: int = 0
    repairs: Repairs = field(default_factory=Repairs)

    def count(self, type: str, outcome: str, example: str) -> None:
        self.outcomes[type][outcome] += 1
        if outcome != EXACT:
            shown = self.examples.setdefault((type, outcome), [])
            if len(shown) < SHOWN_EXAMPLES:
                shown.append(example)

    def total(self, kind: str = "") -> int:
        """Mentions counted (all, or those whose outcome starts with ``kind``: kept/adjusted/left out)."""
        return sum(n for c in self.outcomes.values() for o, n in c.items() if o.startswith(kind))

    def merge(self, other: ConversionReport) -> None:
        for type, counts in other.outcomes.items():
            self.outcomes[type].update(counts)
        for key, shown in other.examples.items():
            mine = self.examples.setdefault(key, [])
            mine += shown[: SHOWN_EXAMPLES - len(mine)]
        self.renamed.update(other.renamed)
        self.documents += other.documents
        self.sentences += other.sentences
        self.words_split += other.words_split
        self.sentences_merged += other.sentences_merged
        self.repairs.merge(other.repairs)

    def as_dict(self) -> dict[str, Any]:
        return {
            "documents": self.documents,
            "sentences": self.sentences,
            "mentions": self.total(),
            "kept_exactly": self.total(EXACT),
            "adjusted": self.total("adjusted"),
            "left_out": self.total("left out"),
            "words_split": self.words_split,
            "sentences_merged": self.sentences_merged,
            "by_type": {t: dict(sorted(c.items())) for t, c in sorted(self.outcomes.items())},
            "examples": {f"{t}: {o}": e for (t, o), e in sorted(self.examples.items())},
            "renamed": dict(self.renamed),
            "read_repairs": self.repairs.as_dict(),
        }

    def to_markdown(self) -> str:
        """A table per type (mentions, kept exactly, adjusted, left out) and the reasons with examples."""
        rows = []
        for type, counts in sorted(self.outcomes.items()):
            adjusted = sum(n for o, n in counts.items() if o.startswith("adjusted"))
            left = sum(n for o, n in counts.items() if o.startswith("left out"))
            bio = self.renamed.get(type, type)
            rows.append(
                f"| {type} | {bio} | {sum(counts.values()):,} | {counts[EXACT]:,} | {adjusted:,} | {left:,} |"
            )
        lines = [
            f"{self.documents:,} documents, {self.sentences:,} sentences, {self.total():,} mentions "
            f"({self.words_split:,} words split at a mention boundary, "
            f"{self.sentences_merged:,} sentence ends inside a mention removed).",
            "",
            "| type | BIO type | mentions | kept exactly | adjusted | left out |",
            "|---|---|---|---|---|---|",
            *rows,
        ]
        details = [
            f"- {type}, {outcome}: {self.outcomes[type][outcome]:,} (e.g. {'; '.join(shown)})"
            for (type, outcome), shown in sorted(self.examples.items())
        ]
        details += [
            f"- read repair, {kind}: {n:,} (e.g. {'; '.join(self.repairs.examples[kind])})"
            for kind, n in sorted(self.repairs.counts.items())
        ]
        if details:
            lines += ["", *details]
        return "\n".join(lines) + "\n"


@dataclass
class _Candidate:
    start: int
    end: int
    type: str  # BIO type
    source_type: str
    label: str  # for examples: document id, offsets and text
    adjustments: list[str]


def _check_choice(name: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, not {value!r}")


def documents_to_sentences(
    documents: Iterable[Document],
    *,
    word_style: str = DEFAULT_WORD_STYLE,
    composite: str = "parent",
    discontinuous: str = "cover",
    entity_types: Mapping[str, str] | None = None,
    report: ConversionReport | None = None,
) -> list[dict[str, Any]]:
    """BIO rows (``id``, ``tokens``, ``ner_tags``, ``document_id``, ``char_spans``) of ``documents``; every
    mention is counted in ``report`` (see the module docstring for the choices)."""
    _check_choice("composite", composite, COMPOSITE_CHOICES)
    _check_choice("discontinuous", discontinuous, DISCONTINUOUS_CHOICES)
    report = report if report is not None else ConversionReport()
    if entity_types:
        report.renamed.update({k: v for k, v in entity_types.items() if k != v})
    rows: list[dict[str, Any]] = []
    for document in documents:
        candidates = _candidates(document, composite, discontinuous, entity_types, report)
        kept = _resolve_overlaps(candidates, report)
        rows += _document_rows(document, kept, word_style, report)
        report.documents += 1
    report.sentences += len(rows)
    return rows


def _candidates(
    document: Document,
    composite: str,
    discontinuous: str,
    entity_types: Mapping[str, str] | None,
    report: ConversionReport,
) -> list[_Candidate]:
    candidates = []
    for mention in document.mentions:
        label = f"{document.id} {mention.start}-{mention.end} {mention.text!r}"
        if entity_types and mention.type not in entity_types:
            report.count(mention.type, "left out: type not selected", label)
            continue
        bio_type = entity_types[mention.type] if entity_types else mention.type
        units: list[tuple[Mention, list[str]]] = [(mention, [])]
        if mention.parts and composite == "parts":
            units = []
            for part in mention.parts:
                if not part.spans:
                    report.count(
                        mention.type, "left out: composite part without offsets", f"{label} {part.text!r}"
                    )
                else:
                    units.append((part, ["composite replaced by its parts"]))
        for unit, adjustments in units:
            unit_label = f"{document.id} {unit.start}-{unit.end} {unit.text!r}"
            if unit.is_discontinuous:
                if discontinuous == "drop":
                    report.count(mention.type, "left out: discontinuous", unit_label)
                    continue
                adjustments = [*adjustments, "discontinuous -> covering span"]
            start, end = _trim(document.text, unit.start, unit.end)
            if start >= end:
                report.count(mention.type, "left out: only whitespace", unit_label)
                continue
            if (start, end) != (unit.start, unit.end):
                adjustments = [*adjustments, "whitespace at its ends trimmed"]
            candidates.append(_Candidate(start, end, bio_type, mention.type, unit_label, adjustments))
    return candidates


def _is_separator(char: str) -> bool:
    """Whitespace, control or format characters: never part of a word (``bioner.data.text``'s rule)."""
    return not char.isalnum() and not tokenize(char)


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and _is_separator(text[start]):
        start += 1
    while end > start and _is_separator(text[end - 1]):
        end -= 1
    return start, end


def _resolve_overlaps(candidates: list[_Candidate], report: ConversionReport) -> list[_Candidate]:
    """The longest mentions first (then the earlier); one overlapping a kept mention is left out."""
    kept: list[_Candidate] = []
    for candidate in sorted(candidates, key=lambda c: (c.start - c.end, c.start)):
        clash = next((k for k in kept if k.start < candidate.end and candidate.start < k.end), None)
        if clash is None:
            kept.append(candidate)
        elif (clash.start, clash.end, clash.type) == (candidate.start, candidate.end, candidate.type):
            report.count(
                candidate.source_type, "left out: duplicate of an identical mention", candidate.label
            )
        else:
            report.count(candidate.source_type, f"left out: overlaps {clash.label}", candidate.label)
    return sorted(kept, key=lambda c: c.start)


def _split_words(
    words: list[tuple[int, int]], kept: list[_Candidate], report: ConversionReport
) -> list[tuple[int, int]]:
    """Cut words at mention boundaries that fall inside them; mark the mentions so cut."""
    cuts = sorted({c.start for c in kept} | {c.end for c in kept})
    out: list[tuple[int, int]] = []
    cut_points: set[int] = set()
    for start, end in words:
        first = bisect.bisect_right(cuts, start)
        inner = cuts[first : bisect.bisect_left(cuts, end)]
        if not inner:
            out.append((start, end))
            continue
        report.words_split += 1
        cut_points.update(inner)
        edges = [start, *inner, end]
        out += list(zip(edges, edges[1:], strict=False))
    for candidate in kept:
        if candidate.start in cut_points or candidate.end in cut_points:
            candidate.adjustments.append("word split at its boundary")
    return out


def _regions(document: Document) -> list[int]:
    """Start offsets of the passages after the first: sentence breaks forced by the document's layout."""
    return sorted({p.offset for p in document.passages if p.offset > 0})


def _document_rows(
    document: Document, kept: list[_Candidate], word_style: str, report: ConversionReport
) -> list[dict[str, Any]]:
    text = document.text
    words = _split_words(tokenize(text, word_style), kept, report)
    tags = ["O"] * len(words)
    starts = [start for start, _ in words]
    for candidate in kept:
        first = bisect.bisect_left(starts, candidate.start)
        last = bisect.bisect_left(starts, candidate.end)
        tags[first] = f"B-{candidate.type}"
        for index in range(first + 1, last):
            tags[index] = f"I-{candidate.type}"
        outcome = "adjusted: " + ", ".join(candidate.adjustments) if candidate.adjustments else EXACT
        report.count(candidate.source_type, outcome, candidate.label)
    breaks = _regions(document)
    groups: dict[int, list[int]] = defaultdict(list)
    for index, (start, _) in enumerate(words):
        groups[bisect.bisect_right(breaks, start)].append(index)
    sentences: list[tuple[int, int]] = []
    for indices in groups.values():
        offset = indices[0]
        sentences += [(offset + a, offset + b) for a, b in split_sentences(text, [words[i] for i in indices])]
    merged: list[tuple[int, int]] = []
    for first, last in sentences:
        if merged and tags[first].startswith("I-"):
            report.sentences_merged += 1
            merged[-1] = (merged[-1][0], last)
        else:
            merged.append((first, last))
    return [
        {
            "id": f"{document.id}-{number}",
            "tokens": [text[a:b] for a, b in words[first:last]],
            "ner_tags": tags[first:last],
            "document_id": document.id,
            "char_spans": [[a, b] for a, b in words[first:last]],
        }
        for number, (first, last) in enumerate(merged)
    ]


def _decode(tags: Sequence[str]) -> list[tuple[int, int, str]]:
    """Entities ``(first word, last word + 1, type)`` of IOB2 tags; a stray ``I-X`` starts one."""
    entities: list[tuple[int, int, str]] = []
    for index, tag in enumerate(tags):
        if tag == "O":
            continue
        prefix, type = tag.split("-", 1)
        if prefix == "I" and entities and entities[-1][1] == index and entities[-1][2] == type:
            entities[-1] = (entities[-1][0], index + 1, type)
        else:
            entities.append((index, index + 1, type))
    return entities


def sentences_to_documents(
    rows: Iterable[Mapping[str, Any]], documents: Iterable[Document] | None = None
) -> list[Document]:
    """Documents holding the entities of BIO rows (``tokens``, ``ner_tags`` as strings, optional
    ``char_spans`` and ``document_id``; rows without a ``document_id`` are one document each, named by their
    ``id``).

    With ``documents`` (the originals, matched by id), their text, passages and relations are kept and their
    mentions replaced by the rows' entities. Otherwise the text is rebuilt: words at their ``char_spans``
    (gaps filled with spaces) or joined by single spaces, and each sentence becomes a passage, so that
    converting the result again gives the same sentences."""
    originals = {d.id: d for d in documents or []}
    grouped: dict[str, list[Mapping[str, Any]]] = {}
    for index, row in enumerate(rows):
        key = str(row.get("document_id") or row.get("id") or f"row{index}")
        grouped.setdefault(key, []).append(row)
    out = []
    for identifier, group in grouped.items():
        original = originals.get(identifier)
        spans = _word_spans(group, original)
        if original is not None:
            text, passages, relations = original.text, original.passages, original.relations
        else:
            text, passages, relations = _rebuild(group, spans), [], []
            for sentence in spans:
                if sentence:
                    start, end = sentence[0][0], sentence[-1][1]
                    passages.append(Passage(start, text[start:end], "sentence"))
        mentions = []
        for row, sentence in zip(group, spans, strict=True):
            for first, last, type in _decode(list(row["ner_tags"])):
                start, end = sentence[first][0], sentence[last - 1][1]
                mentions.append(Mention(spans=[(start, end)], type=type, text=text[start:end]))
        out.append(Document(identifier, text, list(passages), mentions, [list(r) for r in relations]))
    return out


def _word_spans(group: list[Mapping[str, Any]], original: Document | None) -> list[list[tuple[int, int]]]:
    spans, position = [], 0
    for row in group:
        tokens = list(row["tokens"])
        if len(row["ner_tags"]) != len(tokens):
            raise ValueError(f"row {row.get('id')!r}: {len(tokens)} tokens but {len(row['ner_tags'])} tags")
        given = row.get("char_spans")
        if given is not None:
            sentence = [(int(a), int(b)) for a, b in given]
            if len(sentence) != len(tokens):
                raise ValueError(
                    f"row {row.get('id')!r}: {len(tokens)} tokens but {len(sentence)} char_spans"
                )
            if original is not None:
                for token, (a, b) in zip(tokens, sentence, strict=True):
                    if original.text[a:b] != token:
                        raise ValueError(
                            f"row {row.get('id')!r}: token {token!r} is not the text at {a}-{b} of document "
                            f"{original.id} ({original.text[a:b]!r})"
                        )
        else:
            if original is not None:
                raise ValueError(f"row {row.get('id')!r}: char_spans are needed to map words onto a document")
            sentence = []
            for token in tokens:
                sentence.append((position, position + len(token)))
                position += len(token) + 1
        spans.append(sentence)
        position = max([position, *(b + 1 for _, b in sentence)])
    return spans


def _rebuild(group: list[Mapping[str, Any]], spans: list[list[tuple[int, int]]]) -> str:
    chars: list[str] = []
    for row, sentence in zip(group, spans, strict=True):
        for token, (a, b) in zip(row["tokens"], sentence, strict=True):
            if len(chars) > a:
                raise ValueError(f"row {row.get('id')!r}: char_spans overlap or go backwards at {a}-{b}")
            chars += [" "] * (a - len(chars))
            chars += list(token)
    return "".join(chars)
