"""BIO/CoNLL sentences: read from and written to files, checked, and turned into HuggingFace ``DatasetDict``s.

File format accepted by :func:`read_conll`:

* one token per line: ``token TAB tag`` or more columns with the tag LAST (JNLPBA 2004 style,
  ``token TAB ... TAB tag``); the token is always the first column;
* the separator is fixed by the file's first data line: a TAB if that line has one, otherwise a single
  space (CoNLL-2003 style). Every data line must then have the same number of columns, so a line where
  a TAB was typed as a space is an error rather than a silently mis-split token;
* blank lines (any number, whitespace-only included) end a sentence; the final one may be missing;
* ``-DOCSTART-`` lines are skipped and also end a sentence;
* tags are ``O``, ``B-X`` or ``I-X``. IOB1-style or stray ``I-X`` (at sentence start, after ``O`` or
  after another type) is rewritten to ``B-X``, counted and logged once per file; ``strict_bio=True``
  makes it an error instead.

Every problem raises :class:`~bioner.data.files.DataFormatError` naming ``file:line``; no token or tag is
dropped silently. Which dataset a name stands for (registered name, folder, Hub id) is decided in
``bioner.corpora.sources``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import datasets

from bioner.data.files import DataFormatError, read_utf8_lines
from bioner.data.splits import SPLITS, split_file
from bioner.data.tags import repair_iob2, split_tag

logger = logging.getLogger("bioner.data.conll")

Sentence = tuple[list[str], list[str]]

EXTENSIONS = (".tsv", ".txt", ".conll", ".iob2")
_SHOWN_REPAIRS = 5


@dataclass
class ConllFile:
    """Sentences of one file, plus how many IOB1/stray ``I-`` tags were rewritten to ``B-``."""

    sentences: list[Sentence] = field(default_factory=list)
    repairs: int = 0


def _blocks(lines: list[str]) -> Iterator[list[tuple[int, str]]]:
    """Group data lines (with 1-based numbers) into sentences; blank and ``-DOCSTART-`` lines end one."""
    block: list[tuple[int, str]] = []
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.startswith("-DOCSTART-"):
            if block:
                yield block
                block = []
        else:
            block.append((number, line))
    if block:
        yield block


def check_tag(tag: str, where: str | os.PathLike[str], line: int | None = None) -> None:
    """Raise ``DataFormatError`` for anything but ``O``, ``B-X`` or ``I-X``, naming where it was found."""
    try:
        split_tag(tag)
    except ValueError as err:
        raise DataFormatError(where, str(err), line) from None


class _LineParser:
    """Split data lines into (token, tag) with the column layout fixed by the file's first data line."""

    def __init__(self, path: Path, number: int, line: str) -> None:
        self.path = path
        self.first_line = number
        self.sep = "\t" if "\t" in line else " "
        self.columns = len(line.split(self.sep))
        self.valid_tags: set[str] = set()
        if self.columns < 2:
            raise DataFormatError(path, f"expected 'token<TAB>tag', found one column: {line!r}", number)

    def __call__(self, number: int, line: str) -> tuple[str, str]:
        fields = line.split(self.sep)
        if len(fields) != self.columns:
            sep_name = "TAB" if self.sep == "\t" else "space"
            raise DataFormatError(
                self.path,
                f"expected {self.columns} {sep_name}-separated columns (as on line {self.first_line}), "
                f"found {len(fields)}: {line!r}",
                number,
            )
        token, tag = fields[0], fields[-1]
        if not token:
            raise DataFormatError(self.path, f"empty token: {line!r}", number)
        if tag not in self.valid_tags:
            check_tag(tag, self.path, number)
            self.valid_tags.add(tag)
        return token, tag


def read_conll(path: str | os.PathLike[str], *, strict_bio: bool = False) -> ConllFile:
    """Parse one BIO/CoNLL file (format in the module docstring), repairing IOB1 tags unless
    ``strict_bio``."""
    path = Path(path)
    parse: _LineParser | None = None
    result = ConllFile()
    repaired_lines: list[int] = []
    for block in _blocks(read_utf8_lines(path)):
        if parse is None:
            parse = _LineParser(path, *block[0])
        tokens, tags = map(list, zip(*(parse(number, line) for number, line in block), strict=True))
        for i in repair_iob2(tags):
            if strict_bio:
                context = f"after {tags[i - 1]}" if i else "at sentence start"
                raise DataFormatError(
                    path,
                    f"I-{tags[i][2:]} {context} does not continue an entity (IOB1 or stray I-); "
                    "IOB2 needs B- here (strict_bio is on)",
                    block[i][0],
                )
            repaired_lines.append(block[i][0])
        result.sentences.append((tokens, tags))
    if not result.sentences:
        raise DataFormatError(
            path, "no sentences found (the file is empty or has only blank/-DOCSTART- lines)"
        )
    result.repairs = len(repaired_lines)
    if repaired_lines:
        shown = ", ".join(f"{path}:{n}" for n in repaired_lines[:_SHOWN_REPAIRS])
        logger.warning(
            "%s: rewrote %d IOB1/stray I- tag(s) to B- (IOB2); first at %s", path, len(repaired_lines), shown
        )
    return result


def write_conll(sentences: Sequence[Sentence], path: str | os.PathLike[str]) -> None:
    """Write ``token<TAB>tag`` lines with a blank line after each sentence, in the form read_conll reads."""
    lines = []
    for s, (tokens, tags) in enumerate(sentences):
        if len(tokens) != len(tags) or not tokens:
            raise ValueError(f"sentence {s}: {len(tokens)} tokens but {len(tags)} tags")
        for token, tag in zip(tokens, tags, strict=True):
            if not token or any(c.isspace() for c in token):
                raise ValueError(f"sentence {s}: token {token!r} is empty or contains whitespace")
            lines.append(f"{token}\t{tag}\n")
        lines.append("\n")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(lines), encoding="utf-8")


def label_names(ds: datasets.Dataset | datasets.DatasetDict) -> list[str]:
    """Tag names of the ``ner_tags`` ClassLabel, in id order."""
    if isinstance(ds, datasets.DatasetDict):
        ds = next(iter(ds.values()))
    return list(ds.features["ner_tags"].feature.names)


# Extra columns of corpora converted from documents (bioner.corpora): where each sentence and word came from.
DOCUMENT_FEATURES = {
    "document_id": datasets.Value("string"),
    "char_spans": datasets.Sequence(datasets.Sequence(datasets.Value("int32"))),
}


def build_dataset_dict(
    splits: Mapping[str, Sequence[Sentence]], columns: Mapping[str, Mapping[str, list]] | None = None
) -> datasets.DatasetDict:
    """Turn (tokens, tags) lists into the project's features; one label set (``O`` first) for all splits.
    ``columns[split]`` may give the ``id``s and the ``DOCUMENT_FEATURES`` columns (documents converted to
    BIO)."""
    found = {tag for sentences in splits.values() for _, tags in sentences for tag in tags}
    labels = ["O", *sorted(found - {"O"})]
    ids = {label: i for i, label in enumerate(labels)}
    features = datasets.Features(
        {
            "id": datasets.Value("string"),
            "tokens": datasets.Sequence(datasets.Value("string")),
            "ner_tags": datasets.Sequence(datasets.ClassLabel(names=labels)),
        }
    )
    extra = (columns or {}).get(next(iter(splits), ""), {})
    features.update({name: DOCUMENT_FEATURES[name] for name in extra if name in DOCUMENT_FEATURES})
    return datasets.DatasetDict(
        {
            split: datasets.Dataset.from_dict(
                {
                    "id": [f"{split}-{i:06d}" for i in range(len(sentences))],
                    "tokens": [tokens for tokens, _ in sentences],
                    "ner_tags": [[ids[tag] for tag in tags] for _, tags in sentences],
                    **(columns or {}).get(split, {}),
                },
                features=features,
            )
            for split, sentences in splits.items()
        }
    )


def load_conll_dir(directory: str | os.PathLike[str], *, strict_bio: bool = False) -> datasets.DatasetDict:
    """The train/validation/test files of one folder (``train``, ``dev``... x ``EXTENSIONS``) as a dataset."""
    return build_dataset_dict(
        {
            split: read_conll(split_file(directory, split, EXTENSIONS), strict_bio=strict_bio).sentences
            for split in SPLITS
        }
    )
