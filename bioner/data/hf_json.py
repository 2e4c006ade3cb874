"""Folders of JSON Lines or JSON in the Hugging Face convention: one file per split of ``tokens``/``ner_tags``
records, as ``Dataset.to_json`` writes them and ``datasets.load_dataset("json", ...)`` reads them.

The split files are ``train``, ``dev`` (or ``devel``, ``validation``, ``valid``) and ``test``, each ``.jsonl``
or ``.json`` (``bioner.data.splits``). A file holds, like the ``datasets`` JSON loader accepts:

* JSON Lines: one record per line (``.jsonl``, or ``.json`` as ``Dataset.to_json`` writes it);
* a JSON list of records;
* an object whose ``data`` member is that list (the loader's ``field="data"``).

A record is an object with ``tokens`` (a list of non-empty strings) and ``ner_tags`` (as many tags): BIO tag
strings, or integer ids into the label names. Ids need the names, in id order, from the first of these beside
the split files (:data:`LABEL_SOURCES`):

1. ``labels.json``: a JSON list of tag names, or an object with a ``label_names`` (or ``names``) list;
2. ``dataset_info.json`` (``datasets``' ``DatasetInfo``): the ClassLabel names of its ``ner_tags`` feature;
3. ``README.md``: the ClassLabel names of ``ner_tags`` in the dataset card's ``dataset_info`` YAML header.

Ids without label names are an error naming the file and line. Tags are checked and IOB1-repaired as in BIO
files (``bioner.data.conll``): IOB1-style or stray ``I-X`` become ``B-X``, counted and logged once per file,
or are an error with ``strict_bio``. Records with no tokens are skipped and counted in a warning. Every
problem is a :class:`~bioner.data.files.DataFormatError` naming ``file:line``. Other members of a record
(``id``, ``pos_tags``...) are ignored.

A folder is read this way (:func:`is_json_dataset_dir`) when one of its split files is a ``.jsonl``, or a
``.json`` whose first record has ``tokens``; a ``train.json`` that is BioC JSON is left to the corpus readers.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import datasets
import yaml

from bioner.data.conll import Sentence, build_dataset_dict, check_tag
from bioner.data.files import DataFormatError, read_utf8_lines
from bioner.data.jsonl import read_jsonl_objects
from bioner.data.splits import SPLIT_NAMES, SPLITS, split_file
from bioner.data.tags import repair_iob2

logger = logging.getLogger("bioner.data.hf_json")

JSON_SUFFIXES = (".jsonl", ".json")
"""The suffixes of split files, in the order they are looked for."""
LABEL_SOURCES = ("labels.json", "dataset_info.json", "README.md")
"""Where the label names of integer ``ner_tags`` are looked for, in order (module docstring)."""
_SHOWN_REPAIRS = 5
_DECODER = json.JSONDecoder()


class _JsonLinesError(DataFormatError):
    """A ``DataFormatError`` whose message already names ``file:line`` (``read_jsonl_objects`` wrote it)."""

    def __init__(self, message: str) -> None:
        ValueError.__init__(self, message)


# --- reading records ----------------------------------------------------------------------------------------


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _decode_at(path: Path, text: str, pos: int) -> tuple[object, int]:
    try:
        return _DECODER.raw_decode(text, pos)
    except json.JSONDecodeError as problem:
        raise DataFormatError(
            path, f"not valid JSON ({problem.msg} at column {problem.colno})", problem.lineno
        ) from None
    except RecursionError:
        raise DataFormatError(path, "JSON nested too deeply", text.count("\n", 0, pos) + 1) from None


class _Lines:
    """Line numbers of positions in a text, counted forward (positions are asked for in increasing order)."""

    def __init__(self, text: str) -> None:
        self.text, self.pos, self.line = text, 0, 1

    def __call__(self, pos: int) -> int:
        self.line += self.text.count("\n", self.pos, pos)
        self.pos = pos
        return self.line


def _array_items(path: Path, text: str, pos: int, lines: _Lines) -> Iterator[tuple[int, object]]:
    """``(line, value)`` of each item of the JSON array starting at ``text[pos]`` (a ``[``)."""
    pos = _skip_space(text, pos + 1)
    if text[pos : pos + 1] == "]":
        return
    while True:
        value, end = _decode_at(path, text, pos)
        yield lines(pos), value
        pos = _skip_space(text, end)
        if text[pos : pos + 1] == "]":
            return
        if text[pos : pos + 1] != ",":
            raise DataFormatError(path, "not valid JSON (expected ',' or ']' in the list)", lines(pos))
        pos = _skip_space(text, pos + 1)


def _data_items(path: Path, text: str, pos: int, lines: _Lines) -> Iterator[tuple[int, object]]:
    """``(line, value)`` of each item of the ``data`` list of the JSON object starting at ``text[pos]``."""
    pos = _skip_space(text, pos + 1)
    while text[pos : pos + 1] == '"':
        key, pos = _decode_at(path, text, pos)
        pos = _skip_space(text, pos)
        if text[pos : pos + 1] != ":":
            raise DataFormatError(path, "not valid JSON (expected ':' after a key)", lines(pos))
        pos = _skip_space(text, pos + 1)
        if key == "data" and text[pos : pos + 1] == "[":
            yield from _array_items(path, text, pos, lines)
            return
        _, pos = _decode_at(path, text, pos)
        pos = _skip_space(text, pos)
        if text[pos : pos + 1] == ",":
            pos = _skip_space(text, pos + 1)
    raise DataFormatError(path, "a JSON object without a 'data' list of records (and not JSON Lines)", 1)


def read_json_records(path: str | os.PathLike[str]) -> Iterator[tuple[int, object]]:
    """``(line, value)`` of each record of a JSON Lines file, a JSON list, or an object's ``data`` list (the
    module docstring); ``line`` is where the record starts. Malformed JSON is a ``DataFormatError`` naming
    ``file:line``."""
    path = Path(path)
    text = "\n".join(read_utf8_lines(path))
    start = _skip_space(text, 0)
    if start == len(text):
        return
    lines = _Lines(text)
    if text[start] == "[":
        yield from _array_items(path, text, start, lines)
        return
    first, end = _decode_at(path, text, start)
    if (
        isinstance(first, dict)
        and "tokens" not in first
        and isinstance(first.get("data"), list)
        and _skip_space(text, end) == len(text)
    ):
        yield from _data_items(path, text, start, lines)
        return
    for where, record in read_jsonl_objects(path, _JsonLinesError):
        yield int(where.rpartition(":")[2]), record


# --- which folders, and their label names -------------------------------------------------------------------


def _split_candidates(directory: Path) -> Iterator[Path]:
    for split in SPLITS:
        for stem in SPLIT_NAMES[split]:
            for suffix in JSON_SUFFIXES:
                candidate = directory / (stem + suffix)
                if candidate.is_file():
                    yield candidate


def _holds_records(path: Path) -> bool:
    """Whether a ``.json`` file's first record is an object with ``tokens`` (False when it cannot be read)."""
    try:
        for _, record in read_json_records(path):
            return isinstance(record, dict) and "tokens" in record
    except DataFormatError:
        return False
    return False


def is_json_dataset_dir(directory: str | os.PathLike[str]) -> bool:
    """Whether a folder holds split files of ``tokens``/``ner_tags`` records: a ``.jsonl`` named by split, or
    a ``.json`` named by split whose first record has ``tokens``."""
    return any(path.suffix == ".jsonl" or _holds_records(path) for path in _split_candidates(Path(directory)))


def _class_label_names(node: object) -> list[str] | None:
    """The names of the first ClassLabel in a ``dataset_info.json`` feature or a card's YAML feature."""
    if isinstance(node, dict):
        names = None
        if node.get("_type") == "ClassLabel":
            names = node.get("names")
        elif isinstance(node.get("class_label"), dict):
            names = node["class_label"].get("names")
        if isinstance(names, dict):  # the card's YAML: {'0': 'O', '1': 'B-X', ...}
            names = [names[key] for key in sorted(names, key=int)]
        if names is not None:
            return [str(name) for name in names]
        children = node.values()
    elif isinstance(node, list):
        children = node
    else:
        return None
    for child in children:
        found = _class_label_names(child)
        if found is not None:
            return found
    return None


def _card_features(path: Path) -> list | None:
    """The ``features`` of the ``dataset_info`` in a dataset card's YAML header (the first config's)."""
    lines = read_utf8_lines(path)
    if not lines or lines[0].strip() != "---" or "---" not in (line.strip() for line in lines[1:]):
        return None
    end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    try:
        header = yaml.safe_load("\n".join(lines[1:end]))
    except yaml.YAMLError as problem:
        raise DataFormatError(path, f"the YAML header cannot be read ({problem})") from None
    info = header.get("dataset_info") if isinstance(header, dict) else None
    if isinstance(info, list):
        info = next(
            (config for config in info if config.get("config_name") == "default"), info[0] if info else None
        )
    return info.get("features") if isinstance(info, dict) else None


def _ner_tags_feature(features: object) -> object:
    """The ``ner_tags`` entry of features as ``dataset_info.json`` (a dict) or a card (a list) hold them."""
    if isinstance(features, dict):
        return features.get("ner_tags")
    if isinstance(features, list):
        return next((f for f in features if isinstance(f, dict) and f.get("name") == "ner_tags"), None)
    return None


def read_label_names(directory: str | os.PathLike[str]) -> tuple[list[str], Path] | None:
    """The label names of integer ``ner_tags`` and the file they came from (:data:`LABEL_SOURCES`, the first
    that names them), or ``None``."""
    directory = Path(directory)
    for name in LABEL_SOURCES:
        path = directory / name
        if not path.is_file():
            continue
        if name == "README.md":
            names = _class_label_names(_ner_tags_feature(_card_features(path)))
        else:
            text = "\n".join(read_utf8_lines(path))
            try:
                data = json.loads(text)
            except json.JSONDecodeError as problem:
                raise DataFormatError(path, f"not valid JSON ({problem.msg})", problem.lineno) from None
            if name == "labels.json":
                names = data.get("label_names", data.get("names")) if isinstance(data, dict) else data
                if not (isinstance(names, list) and names and all(isinstance(n, str) for n in names)):
                    raise DataFormatError(
                        path,
                        "expected a list of tag names in id order, or an object with a 'label_names' list",
                    )
            else:
                names = _class_label_names(
                    _ner_tags_feature(data.get("features")) if isinstance(data, dict) else None
                )
        if names:
            return names, path
    return None


# --- records to sentences -----------------------------------------------------------------------------------


class _Labels:
    """The label names of a folder, read when the first integer tag needs them."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.found: tuple[list[str], Path] | None | bool = False

    def names(self, path: Path, line: int) -> tuple[list[str], Path]:
        if self.found is False:
            self.found = read_label_names(self.directory)
            if self.found is not None:
                names, source = self.found
                for name in names:
                    check_tag(name, source)
        if self.found is None:
            raise DataFormatError(
                path,
                "ner_tags holds integer ids but no label names were found; put the tag names in id order in "
                f"{self.directory / 'labels.json'} (a JSON list), or a dataset_info.json / README.md with "
                "the ner_tags ClassLabel, or write the tags as strings",
                line,
            )
        return self.found


def _record_sentence(record: object, path: Path, line: int, labels: _Labels) -> Sentence:
    if not isinstance(record, dict):
        raise DataFormatError(
            path, f"expected a JSON object with tokens and ner_tags, got {type(record).__name__}", line
        )
    missing = [key for key in ("tokens", "ner_tags") if key not in record]
    if missing:
        raise DataFormatError(path, f"missing {' and '.join(missing)}; the record has {sorted(record)}", line)
    tokens, tags = record["tokens"], record["ner_tags"]
    if not isinstance(tokens, list) or not all(isinstance(t, str) and t for t in tokens):
        raise DataFormatError(path, "tokens must be a list of non-empty strings", line)
    if not isinstance(tags, list) or len(tags) != len(tokens):
        found = f"{len(tags)} tags" if isinstance(tags, list) else type(tags).__name__
        raise DataFormatError(
            path, f"ner_tags must be a list of {len(tokens)} tags (one per token), found {found}", line
        )
    if all(isinstance(tag, str) for tag in tags):
        for tag in set(tags):
            check_tag(tag, path, line)
        return list(tokens), list(tags)
    if not all(isinstance(tag, int) and not isinstance(tag, bool) for tag in tags):
        raise DataFormatError(path, "ner_tags must be all BIO tag strings or all integer ids", line)
    names, source = labels.names(path, line)
    bad = next((tag for tag in tags if not 0 <= tag < len(names)), None)
    if bad is not None:
        raise DataFormatError(path, f"tag id {bad} is out of range: {source} names {len(names)} labels", line)
    return list(tokens), [names[tag] for tag in tags]


def read_json_split(
    path: str | os.PathLike[str], *, strict_bio: bool = False, labels: _Labels | None = None
) -> list[Sentence]:
    """The sentences of one split file (module docstring), IOB1-repaired unless ``strict_bio``."""
    path = Path(path)
    labels = labels or _Labels(path.parent)
    sentences: list[Sentence] = []
    repaired: list[int] = []
    empty = 0
    for line, record in read_json_records(path):
        tokens, tags = _record_sentence(record, path, line, labels)
        if not tokens:
            empty += 1
            continue
        changed = repair_iob2(tags)
        if changed and strict_bio:
            raise DataFormatError(
                path,
                f"I-{tags[changed[0]][2:]} at token {changed[0]} does not continue an entity (IOB1 or stray "
                "I-); IOB2 needs B- here (strict_bio is on)",
                line,
            )
        repaired.extend([line] * len(changed))
        sentences.append((tokens, tags))
    if not sentences:
        raise DataFormatError(path, "no records with tokens found")
    if empty:
        logger.warning("%s: skipped %d record(s) with no tokens", path, empty)
    if repaired:
        shown = ", ".join(f"{path}:{n}" for n in dict.fromkeys(repaired[:_SHOWN_REPAIRS]))
        logger.warning(
            "%s: rewrote %d IOB1/stray I- tag(s) to B- (IOB2); first at %s", path, len(repaired), shown
        )
    return sentences


def load_json_dir(directory: str | os.PathLike[str], *, strict_bio: bool = False) -> datasets.DatasetDict:
    """The train/validation/test files of a folder of JSON Lines / JSON records (module docstring)."""
    directory = Path(directory)
    labels = _Labels(directory)
    return build_dataset_dict(
        {
            split: read_json_split(
                split_file(directory, split, JSON_SUFFIXES), strict_bio=strict_bio, labels=labels
            )
            for split in SPLITS
        }
    )
