"""Errors and counted repairs shared by the corpus readers.

A reader either refuses an input with a :class:`CorpusFormatError` that names the file and line (or the
document id), or repairs it when the repair is unambiguous and records it in a :class:`Repairs` tally, which
also logs each kind of repair once with its first examples. Nothing is changed or left out without a count.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from dataclasses import dataclass, field

from bioner.data.files import DataFormatError

logger = logging.getLogger("bioner.corpora")

SHOWN_EXAMPLES = 3


class CorpusFormatError(DataFormatError):
    """A corpus file that cannot be read; the message starts with ``file:line``, or ``file`` and a document
    id."""

    def __init__(self, where: str | os.PathLike[str], message: str, line: int | None = None) -> None:
        super().__init__(where, message, line)

    @classmethod
    def from_error(cls, error: DataFormatError) -> CorpusFormatError:
        """The same message (``file:line: problem``) as a corpus error."""
        new = cls.__new__(cls)
        ValueError.__init__(new, str(error))
        return new


@dataclass
class Repairs:
    """How many times each kind of repair was made while reading, with the first few examples."""

    counts: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def add(self, kind: str, example: str) -> None:
        """Count one repair of ``kind``; ``example`` says where (``file:line``) and what."""
        self.counts[kind] += 1
        shown = self.examples.setdefault(kind, [])
        if len(shown) < SHOWN_EXAMPLES:
            shown.append(example)

    def log(self, source: str | os.PathLike[str]) -> None:
        """One warning per kind of repair made in ``source``."""
        for kind, count in sorted(self.counts.items()):
            logger.warning("%s: %s: %d time(s); e.g. %s", source, kind, count, "; ".join(self.examples[kind]))

    def merge(self, other: Repairs) -> None:
        for kind, count in other.counts.items():
            self.counts[kind] += count
            shown = self.examples.setdefault(kind, [])
            shown += other.examples[kind][: SHOWN_EXAMPLES - len(shown)]

    def as_dict(self) -> dict[str, dict]:
        return {
            kind: {"count": n, "examples": self.examples[kind]} for kind, n in sorted(self.counts.items())
        }
