"""Read BIO/CoNLL NER corpora into HuggingFace ``DatasetDict``s, failing loudly on malformed input.

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

Every problem raises :class:`DataFormatError` naming ``file:line``; no token or tag is dropped silently.
"""

from __future__ import annotations

import codecs
import logging
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import datasets

from bioner.data.tags import split_tag

logger = logging.getLogger("bioner.data.conll")

Sentence = tuple[list[str], list[str]]

REGISTERED_DATASETS = (
    "bc5cdr",
    "jnlpba",
    "biored",
    "chemprot",
    "reddit_impacts",
    "ncbi_disease",
    "bc2gm",
    "demo",
)
SPLIT_STEMS = {"train": ("train",), "validation": ("dev", "devel", "validation"), "test": ("test",)}
EXTENSIONS = (".tsv", ".txt", ".conll", ".iob2")
HUB_ID_RE = re.compile(r"[\w.-]+/[\w.-]+")
_SHOWN_REPAIRS = 5


class DataFormatError(ValueError):
    """Bad or missing NER data; the message names ``file:line`` when a line is at fault."""

    def __init__(self, where: str | os.PathLike[str], message: str, line: int | None = None) -> None:
        prefix = f"{where}:{line}" if line is not None else str(where)
        super().__init__(f"{prefix}: {message}")


@dataclass
class ConllFile:
    """Sentences of one file, plus how many IOB1/stray ``I-`` tags were rewritten to ``B-``."""

    sentences: list[Sentence] = field(default_factory=list)
    repairs: int = 0


def read_utf8_lines(path: Path) -> list[str]:
    """Read UTF-8 text, reporting the line of the first undecodable byte."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataFormatError(path, "file not found") from None
    except OSError as err:
        raise DataFormatError(path, f"cannot read file ({err.strerror})") from None
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        column = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
        raise DataFormatError(
            path, f"not valid UTF-8: byte 0x{data[err.start]:02x} at column {column}", line
        ) from None
    return text.replace("\r\n", "\n").split("\n")


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


def _check_tag(tag: str, where: str | os.PathLike[str], line: int | None = None) -> None:
    """Reject anything that is not ``O``, ``B-X`` or ``I-X``, pointing at where it was found."""
    try:
        split_tag(tag)
    except ValueError as err:
        raise DataFormatError(where, str(err), line) from None


def _repair_iob2(tags: list[str]) -> list[int]:
    """Rewrite, in place, each ``I-X`` that does not continue an ``X`` entity to ``B-X``; return positions.

    This is the IOB1 -> IOB2 conversion; it keeps every entity a lenient (conlleval) reader would see.
    """
    changed = []
    previous_type = ""
    for i, tag in enumerate(tags):
        if tag.startswith("I-") and tag[2:] != previous_type:
            tags[i] = "B-" + tag[2:]
            changed.append(i)
        previous_type = "" if tags[i] == "O" else tags[i][2:]
    return changed


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
            _check_tag(tag, self.path, number)
            self.valid_tags.add(tag)
        return token, tag


def read_conll(path: str | os.PathLike[str], *, strict_bio: bool = False) -> ConllFile:
    """Parse one BIO/CoNLL file (format in the module docstring), repairing IOB1 tags unless ``strict_bio``."""
    path = Path(path)
    parse: _LineParser | None = None
    result = ConllFile()
    repaired_lines: list[int] = []
    for block in _blocks(read_utf8_lines(path)):
        if parse is None:
            parse = _LineParser(path, *block[0])
        tokens, tags = map(list, zip(*(parse(number, line) for number, line in block), strict=True))
        for i in _repair_iob2(tags):
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


def resolve_data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The data folder: the argument, else ``$BIONER_DATA_DIR``, else ``./data``."""
    return Path(data_dir or os.environ.get("BIONER_DATA_DIR") or "data")


def _split_file(directory: Path, split: str) -> Path:
    """The file holding ``split`` in ``directory`` (first of the accepted stems x extensions that exists)."""
    candidates = [directory / (stem + ext) for stem in SPLIT_STEMS[split] for ext in EXTENSIONS]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise DataFormatError(
        directory, f"no {split} split file; expected one of: {', '.join(c.name for c in candidates)}"
    )


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


def _build_dataset_dict(
    splits: dict[str, list[Sentence]], columns: dict[str, dict[str, list]] | None = None
) -> datasets.DatasetDict:
    """Turn (tokens, tags) lists into the project's features; one label set (``O`` first) for all splits.
    ``columns[split]`` may give the ``id``s and the ``DOCUMENT_FEATURES`` columns (documents converted to BIO)."""
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


def _load_conll_dir(directory: str | os.PathLike[str], *, strict_bio: bool = False) -> datasets.DatasetDict:
    """Read train/dev/test files from one folder."""
    directory = Path(directory)
    return _build_dataset_dict(
        {
            split: read_conll(_split_file(directory, split), strict_bio=strict_bio).sentences
            for split in SPLIT_STEMS
        }
    )


def dataset_dir(name: str, data_dir: str | os.PathLike[str] | None = None) -> Path:
    """``<data_dir>/<name>`` of a registered dataset, or an error saying how to supply it."""
    directory = resolve_data_dir(data_dir) / name
    if directory.is_dir():
        return directory
    how = "pass --data_dir DIR or set BIONER_DATA_DIR to the folder that holds <name>/{train,dev,test}.tsv"
    if name == "reddit_impacts":
        raise DataFormatError(
            directory,
            "Reddit-Impacts is not publicly released; the corpus is available from its authors on request "
            "(Ge et al., 2024, arXiv:2405.06145). Once you have it, put train.tsv, dev.tsv and test.tsv "
            f"(token<TAB>tag, IOB2) in this folder, or {how}.",
        )
    raise DataFormatError(directory, f"no folder for dataset {name!r}; {how}")


def load_ner_dataset(
    name: str, data_dir: str | os.PathLike[str] | None = None, *, strict_bio: bool = False
) -> datasets.DatasetDict:
    """Load a dataset by registered name, folder path or Hub id (``org/name``), as train/validation/test; a
    folder or Hub dataset repo of PubTator, BioC or brat files named by split is converted to BIO."""
    if name == "demo":
        from bioner.data.demo import make_demo_splits

        return _build_dataset_dict(make_demo_splits())
    if name in REGISTERED_DATASETS:
        return _load_conll_dir(dataset_dir(name, data_dir), strict_bio=strict_bio)
    if Path(name).is_dir():
        from bioner.corpora.dataset import find_split_files, load_document_corpus

        files = find_split_files(name)
        if files is not None:  # PubTator, BioC or brat files named by split: converted to BIO
            return load_document_corpus(name, files=files)[0]
        return _load_conll_dir(name, strict_bio=strict_bio)
    if HUB_ID_RE.fullmatch(name):
        from bioner.corpora.dataset import hub_corpus_dir, load_document_corpus

        local = hub_corpus_dir(name)
        if local is not None:  # a Hub repo of PubTator, BioC or brat files named by split
            return load_document_corpus(local)[0]
        return _load_from_hub(name, strict_bio=strict_bio)
    raise _unknown_dataset(name)


def _unknown_dataset(name: str) -> DataFormatError:
    return DataFormatError(
        name,
        f"unknown dataset: not one of {', '.join(REGISTERED_DATASETS)}, not an existing folder, "
        "and not a Hub id of the form org/name",
    )


def check_dataset(name: str, data_dir: str | os.PathLike[str] | None = None) -> None:
    """Raise ``DataFormatError`` unless ``load_ner_dataset`` can find ``name`` (a registered name whose folder
    exists, a folder, or a Hub id; Hub ids are not looked up)."""
    if name in REGISTERED_DATASETS:
        if name != "demo":
            dataset_dir(name, data_dir)
    elif not (Path(name).is_dir() or HUB_ID_RE.fullmatch(name)):
        raise _unknown_dataset(name)


def load_run_dataset(
    name: str,
    data_dir: str | os.PathLike[str] | None = None,
    *,
    strict_bio: bool = False,
    max_train_samples: int | None = None,
    max_eval_samples: int | None = None,
) -> datasets.DatasetDict:
    """``load_ner_dataset`` for the training scripts: splits cut to their first instances, and a bad corpus
    ends the script with its ``file:line`` message instead of a traceback."""
    try:
        dataset = load_ner_dataset(name, data_dir, strict_bio=strict_bio)
    except DataFormatError as error:
        raise SystemExit(f"error: {error}") from None
    limits = {"train": max_train_samples, "validation": max_eval_samples, "test": max_eval_samples}
    for split, limit in limits.items():
        if limit is not None:
            dataset[split] = dataset[split].select(range(min(limit, len(dataset[split]))))
    return dataset


def _hub_tags(split: datasets.Dataset, where: str) -> list[list[str]]:
    """``ner_tags`` as strings, whether the column holds ClassLabel ids or tag strings."""
    feature = split.features["ner_tags"]
    inner = getattr(feature, "feature", None)
    if isinstance(inner, datasets.ClassLabel):
        return [[inner.int2str(i) for i in row] for row in split["ner_tags"]]
    if isinstance(inner, datasets.Value) and inner.dtype in ("string", "large_string"):
        return [list(row) for row in split["ner_tags"]]
    raise DataFormatError(where, f"ner_tags must be a sequence of ClassLabel ids or strings, found {feature}")


def _hub_sentences(split: datasets.Dataset, where: str, strict_bio: bool) -> list[Sentence]:
    """Validate and IOB2-repair one Hub split; problems are addressed as ``repo[split] row N`` (0-based)."""
    missing = {"tokens", "ner_tags"} - set(split.column_names)
    if missing:
        raise DataFormatError(
            where, f"missing column(s) {sorted(missing)}; the columns are {split.column_names}"
        )
    sentences = []
    repairs = 0
    for row, (tokens, tags) in enumerate(zip(split["tokens"], _hub_tags(split, where), strict=True)):
        if len(tokens) != len(tags) or not all(tokens):
            raise DataFormatError(
                f"{where} row {row}", f"{len(tokens)} tokens, {len(tags)} tags, or an empty token"
            )
        for tag in tags:
            _check_tag(tag, f"{where} row {row}")
        changed = _repair_iob2(tags)
        if changed and strict_bio:
            raise DataFormatError(
                f"{where} row {row}", f"IOB1 or stray I- tag at token {changed[0]} (strict_bio is on)"
            )
        repairs += len(changed)
        sentences.append((list(tokens), tags))
    if repairs:
        logger.warning("%s: rewrote %d IOB1/stray I- tag(s) to B- (IOB2)", where, repairs)
    return sentences


def _load_from_hub(repo_id: str, *, strict_bio: bool = False) -> datasets.DatasetDict:
    """Load a Hub dataset with ``tokens``/``ner_tags`` and normalise it to the project's features."""
    try:
        raw = datasets.load_dataset(repo_id)
    except (OSError, ValueError) as err:
        raise DataFormatError(
            repo_id,
            f"not a registered name or an existing folder, and loading it as a Hub dataset failed: {err}",
        ) from err
    aliases = {"dev": "validation", "devel": "validation"}
    renamed = {aliases.get(split, split): ds for split, ds in raw.items()}
    missing = [split for split in SPLIT_STEMS if split not in renamed]
    if missing:
        raise DataFormatError(repo_id, f"missing split(s) {missing}; the Hub dataset has {sorted(raw)}")
    return _build_dataset_dict(
        {split: _hub_sentences(renamed[split], f"{repo_id}[{split}]", strict_bio) for split in SPLIT_STEMS}
    )


SPLIT_ALIASES = {"dev": "validation", "devel": "validation", "valid": "validation"}


def load_split(
    name: str, data_dir: str | os.PathLike[str] | None, split: str, max_instances: int | None = None
) -> datasets.Dataset:
    """One split of a dataset (``dev`` and friends mean ``validation``), optionally its first N instances.

    An unknown split is a :class:`ValueError` naming the splits there are.
    """
    dataset = load_ner_dataset(name, data_dir)
    key = SPLIT_ALIASES.get(split, split)
    if key not in dataset:
        raise ValueError(f"--split {split!r}: dataset has splits {list(dataset)}")
    data = dataset[key]
    if max_instances is not None:
        data = data.select(range(min(max_instances, len(data))))
    return data
