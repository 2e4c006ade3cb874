"""A folder of PubTator, BioC or brat files as the project's train/validation/test ``DatasetDict``.

Splits are found by file (or, for brat, sub-folder) name, case-insensitively, by whole name tokens: a name
with the word ``train`` is train, ``dev`` or ``valid`` validation (``development``, ``devel``,
``validation``), ``test`` test (the markers of ``bioner.data.splits``: ``devices_train.txt`` is train only);
files whose format is not recognised are ignored. When a folder holds one
release in several formats (BioRED: PubTator and BioC XML), the first format of ``FORMATS`` that has all three
splits is used (PubTator first), unless ``format`` says otherwise. A Hub dataset repo of such files (at its
top level) is downloaded and read the same way (:func:`hub_corpus_dir`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

import datasets

from bioner.corpora import FORMAT_ALIASES, READ_FORMATS, detect_format, read_documents
from bioner.corpora.convert import ConversionReport, documents_to_sentences
from bioner.corpora.problems import CorpusFormatError, Repairs
from bioner.data.conll import build_dataset_dict
from bioner.data.files import DataFormatError
from bioner.data.splits import SPLITS, canonical_split, missing_splits, split_of_file
from bioner.data.text import DEFAULT_WORD_STYLE

logger = logging.getLogger("bioner.corpora")

# Names of Hub repo files that may be corpus documents; a repo with table files is left to ``datasets``.
DOCUMENT_SUFFIXES = (".pubtator", ".txt", ".xml", ".json", ".bioc", ".ann")
TABLE_SUFFIXES = (".parquet", ".arrow")


def _formats(format: str | None) -> tuple[str, ...]:
    if format is None:
        return READ_FORMATS
    key = format.lower()
    if key == "bioc":
        return ("bioc_xml", "bioc_json")
    key = FORMAT_ALIASES.get(key) or key
    if key not in READ_FORMATS:
        raise ValueError(f"unknown corpus format {format!r}; expected one of bioc, {', '.join(READ_FORMATS)}")
    return (key,)


def find_split_files(directory: str | os.PathLike[str], format: str | None = None) -> dict[str, Path] | None:
    """``{split: file}`` of a folder of corpus files, or ``None`` when it holds no recognised corpus file.

    Raises ``CorpusFormatError`` when corpus files are there but a split is missing or ambiguous."""
    directory = Path(directory)
    wanted = _formats(format)
    found: dict[str, dict[str, list[Path]]] = {}
    for entry in sorted(directory.iterdir()):
        split = split_of_file(entry.name)
        if split is None or entry.name.startswith("."):
            continue
        kind = detect_format(entry)
        if kind in wanted:
            found.setdefault(kind, {}).setdefault(split, []).append(entry)
    if not found:
        return None
    for kind in wanted:
        splits = found.get(kind, {})
        if set(splits) != set(SPLITS):
            continue
        several = {split: paths for split, paths in splits.items() if len(paths) > 1}
        if several:
            split, paths = next(iter(several.items()))
            names = ", ".join(p.name for p in paths)
            raise CorpusFormatError(directory, f"several {kind} files for the {split} split ({names})")
        others = sorted(set(found) - {kind})
        if others:
            logger.info("%s: using the %s files (also found: %s)", directory, kind, ", ".join(others))
        return {split: splits[split][0] for split in SPLITS}
    seen = "; ".join(f"{kind}: {', '.join(sorted(s))}" for kind, s in found.items())
    raise CorpusFormatError(
        directory,
        "corpus files found but no format has all of train, dev and test (names holding train, dev/valid, "
        f"test); found {seen}",
    )


def hub_corpus_dir(repo_id: str) -> Path | None:
    """A local copy of the Hub dataset repo ``repo_id`` when it holds PubTator, BioC or brat files named by
    split at its top level (as :func:`find_split_files` wants them), else ``None``: a repo with parquet/arrow
    files, JSON with ``ner_tags`` or no corpus file is a ``tokens``/``ner_tags`` dataset for
    ``datasets.load_dataset``.

    A missing repo is a ``DataFormatError`` naming it. When the Hub cannot be reached, a cached copy is used
    if there is one; else offline mode (``HF_HUB_OFFLINE=1``) gives ``None`` (``datasets`` may still hold the
    dataset in its own cache) and so does a network failure (logged), whose error then comes from
    ``datasets``."""
    from huggingface_hub import HfApi, constants, snapshot_download
    from huggingface_hub.errors import OfflineModeIsEnabled, RepositoryNotFoundError

    try:
        files = HfApi().list_repo_files(repo_id, repo_type="dataset")
    except RepositoryNotFoundError:
        raise DataFormatError(
            repo_id,
            f"no dataset repo {repo_id} on the Hub ({constants.ENDPOINT}); check the id, or log in "
            "(HF_TOKEN) if it is private or gated",
        ) from None
    except Exception as err:  # offline or unreachable (the HTTP client's errors are not all OSErrors)
        local = _cached_snapshot(repo_id)
        if local is not None and find_split_files(local) is not None:
            logger.info("%s: cannot list the repo (%s); using the cached copy %s", repo_id, err, local)
            return local
        if not isinstance(err, OfflineModeIsEnabled):
            logger.warning(
                "%s: cannot list the dataset repo on the Hub (%s): %s: %s; trying it as a datasets repo",
                repo_id,
                constants.ENDPOINT,
                type(err).__name__,
                err,
            )
        return None  # datasets may hold it in its own cache, and its error names the repo
    if any(f.endswith(TABLE_SUFFIXES) for f in files):
        return None
    wanted = [f for f in files if split_of_file(f.split("/")[0]) and f.lower().endswith(DOCUMENT_SUFFIXES)]
    if not wanted:
        return None
    local = Path(snapshot_download(repo_id, repo_type="dataset", allow_patterns=wanted))
    for name in wanted:
        if name.endswith(".json"):
            with (local / name).open("rb") as handle:
                if b'"ner_tags"' in handle.read(4096):
                    return None
    return local if find_split_files(local) is not None else None


def _cached_snapshot(repo_id: str) -> Path | None:
    """The cached files of the dataset repo's ``main`` (only the corpus files were downloaded, so
    ``snapshot_download(local_files_only=True)`` would call the snapshot incomplete)."""
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    try:
        repos = scan_cache_dir().repos
    except CacheNotFound:
        return None
    for repo in repos:
        if repo.repo_id == repo_id and repo.repo_type == "dataset":
            return next((r.snapshot_path for r in repo.revisions if "main" in r.refs), None)
    return None


def load_document_corpus(
    directory: str | os.PathLike[str] | None = None,
    *,
    files: Mapping[str, str | os.PathLike[str]] | None = None,
    format: str | None = None,
    word_style: str = DEFAULT_WORD_STYLE,
    composite: str = "parent",
    discontinuous: str = "cover",
    entity_types: Mapping[str, str] | None = None,
) -> tuple[datasets.DatasetDict, dict[str, ConversionReport]]:
    """Read and convert the train/dev/test files of ``directory`` (or the given ``files``, by split) into the
    project's ``DatasetDict`` (plus ``document_id`` and ``char_spans`` columns) and a report per split."""
    if files is None:
        if directory is None:
            raise ValueError("give a directory or the files of each split")
        found = find_split_files(directory, format)
        if found is None:
            raise CorpusFormatError(
                directory, "no PubTator, BioC or brat files named by split (train/dev/test)"
            )
        files = found
    files = {canonical_split(split): path for split, path in files.items()}
    missing = missing_splits(files)
    if missing:
        raise CorpusFormatError(directory or "files", f"no file for the split(s) {', '.join(missing)}")
    reader_format = None if format in (None, "bioc") else format
    sentences, columns, reports = {}, {}, {}
    for split in SPLITS:
        repairs = Repairs()
        documents = read_documents(files[split], reader_format, repairs)
        report = reports[split] = ConversionReport(repairs=repairs)
        rows = documents_to_sentences(
            documents,
            word_style=word_style,
            composite=composite,
            discontinuous=discontinuous,
            entity_types=entity_types,
            report=report,
        )
        if not rows:
            raise CorpusFormatError(files[split], "no sentences: the file holds no document text")
        sentences[split] = [(row["tokens"], row["ner_tags"]) for row in rows]
        columns[split] = {key: [row[key] for row in rows] for key in ("id", "document_id", "char_spans")}
        logger.info(
            "%s: %d documents -> %d sentences; mentions %d: %d kept exactly, %d adjusted, %d left out",
            files[split],
            report.documents,
            report.sentences,
            report.total(),
            report.total("kept"),
            report.total("adjusted"),
            report.total("left out"),
        )
    return build_dataset_dict(sentences, columns), reports


def parse_entity_types(spec: str | None) -> dict[str, str] | None:
    """``--entity_types`` as ``{source: BIO type}``: ``"A,B"`` keeps A and B; ``"A=X,B=X"`` renames too."""
    if not spec:
        return None
    mapping = {}
    for item in spec.split(","):
        source, _, target = item.strip().partition("=")
        if not source.strip() or (_ and not target.strip()):
            raise ValueError(f"--entity_types: bad item {item!r} (expected TYPE or TYPE=NEW)")
        mapping[source.strip()] = (target or source).strip()
    return mapping
