"""Split names: the one table of how train, validation and test are spelled, and the functions that read it.

A dataset's splits are always ``train``, ``validation`` and ``test`` (``SPLITS``). Elsewhere they go by other
names: ``--split dev``, a Hub dataset's ``dev`` split, a folder's ``dev.tsv``, a release's
``CDR_DevelopmentSet.PubTator.txt``. ``SPLIT_NAMES`` lists, for each split, the names accepted for it, the
first being the file stem written (``dev.tsv``); ``SPLIT_MARKERS`` the parts of a file name that mark it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

from bioner.data.files import DataFormatError

SPLITS = ("train", "validation", "test")
"""The canonical split names, in order: the keys of every ``DatasetDict`` the project builds."""

SPLIT_NAMES: dict[str, tuple[str, ...]] = {
    "train": ("train",),
    "validation": ("dev", "devel", "validation", "valid"),
    "test": ("test",),
}
"""Names accepted for each split (``--split``, Hub split names, file stems), the first being the file stem
written; file stems are looked for in this order."""

SPLIT_MARKERS: dict[str, tuple[str, ...]] = {
    "train": ("train", "training"),
    "validation": ("dev", "devel", "develop", "development", "valid", "validation", "val"),
    "test": ("test", "testing"),
}
"""Words of a corpus file (or brat folder) name that mark its split, matched case-insensitively against whole
name tokens (split at non-letters and at camel case, ``CDR_DevelopmentSet`` -> cdr, development, set, or at
every change of case, ``NCBIdevelopset_corpus`` -> ncbi, developset, corpus), alone or followed by ``set``,
``data`` or ``split``; so ``devices_train.txt`` is train, not also validation. Each name of ``SPLIT_NAMES``
is one of them."""
_NAME_TOKENS = (re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+"), re.compile(r"[A-Z]+|[a-z]+|\d+"))
_MARKER_ENDINGS = ("", "set", "data", "split")

SPLIT_ALIASES: dict[str, str] = {name: split for split, names in SPLIT_NAMES.items() for name in names}
"""Every accepted name -> its canonical split (the canonical names included)."""


def canonical_split(name: str) -> str:
    """The canonical name of a split name (``dev`` -> ``validation``); other names are returned unchanged."""
    return SPLIT_ALIASES.get(name, name)


def split_stem(split: str) -> str:
    """The file stem a split is written as (``validation`` -> ``dev``)."""
    return SPLIT_NAMES[canonical_split(split)][0]


def split_of_file(name: str) -> str | None:
    """The split a file name stands for by its markers, or ``None`` (no marker, or markers of several
    splits)."""
    tokens = {token.lower() for pattern in _NAME_TOKENS for token in pattern.findall(name)}
    found = [
        split
        for split, markers in SPLIT_MARKERS.items()
        if any(marker + ending in tokens for marker in markers for ending in _MARKER_ENDINGS)
    ]
    return found[0] if len(found) == 1 else None


def missing_splits(names: Iterable[str]) -> list[str]:
    """The canonical splits that none of ``names`` (split names, any accepted spelling) stands for."""
    present = {canonical_split(name) for name in names}
    return [split for split in SPLITS if split not in present]


def split_file(directory: str | os.PathLike[str], split: str, suffixes: Iterable[str]) -> Path:
    """The file holding ``split`` in ``directory``: the first of its names (``SPLIT_NAMES``) x ``suffixes``
    that exists, else a ``DataFormatError`` listing what was looked for."""
    directory = Path(directory)
    suffixes = tuple(suffixes)
    candidates = [directory / (stem + suffix) for stem in SPLIT_NAMES[split] for suffix in suffixes]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise DataFormatError(
        directory, f"no {split} split file; expected one of: {', '.join(c.name for c in candidates)}"
    )
