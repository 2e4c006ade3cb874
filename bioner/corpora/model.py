"""The document model every corpus format reads into and writes from.

Offsets are character offsets into ``Document.text`` (end exclusive), as in PubTator and BioC. A passage keeps
its own offset into the document (BioC), so a document's text is its passages' texts placed at their offsets,
with single spaces between them where PubTator puts them (title + " " + abstract).

The same ``Document`` is what ``tag.py`` tags (``bioner.tagging.inputs``): raw text, or pre-tokenized
``words``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class Passage:
    """A titled part of a document (``title``, ``abstract``, ``paragraph`` ...) starting at ``offset``."""

    offset: int
    text: str
    type: str = ""
    infons: dict[str, str] = field(default_factory=dict)

    @property
    def end(self) -> int:
        return self.offset + len(self.text)


@dataclass
class Mention:
    """An annotated entity mention: one span, or several for a discontinuous one (BioC, brat)."""

    spans: list[tuple[int, int]]
    type: str
    text: str = ""
    ids: list[str] = field(default_factory=list)
    id: str = ""
    parts: list[Mention] = field(default_factory=list)  # a composite mention's individual mentions
    infons: dict[str, str] = field(default_factory=dict)

    @property
    def start(self) -> int:
        return min(start for start, _ in self.spans)

    @property
    def end(self) -> int:
        return max(end for _, end in self.spans)

    @property
    def is_discontinuous(self) -> bool:
        return len(self.spans) > 1


@dataclass
class Document:
    """One document: its id, whole text, passages and mentions (sorted by start).

    ``words`` are set for pre-tokenized input to tag (`from_words`): they are kept as they are, as one
    sentence, and ``text`` is then the words joined by single spaces; raw text (``words`` is ``None``) is cut
    into words and sentences by ``bioner.data.text``."""

    id: str
    text: str
    passages: list[Passage] = field(default_factory=list)
    mentions: list[Mention] = field(default_factory=list)
    relations: list[list[str]] = field(default_factory=list)  # kept as read (PubTator relation lines)
    source: str = ""  # "file:line" where the document began, for messages
    words: list[str] | None = None

    @classmethod
    def from_words(cls, id: str, words: Sequence[str]) -> Document:
        """A pre-tokenized document: ``text`` is the words joined by single spaces."""
        return cls(id=id, text=" ".join(words), words=list(words))
