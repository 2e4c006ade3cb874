"""An unlabelled pool of sentences from corpus files (PubMed XML first), kept apart from evaluation splits.

    pmids = evaluation_pmids(["../shared/corpora/bc5cdr"])          # dev + test documents of a release
    pool = build_pool("pubmed20n0014.xml.gz", 8000, word_style="split",
                      exclude_pmids=pmids, exclude_sentences=dev_and_test_sentences)

The pool is the first ``size`` sentences, in file order (documents in file order, a folder's files in name
order), that survive the leakage filter, so a smaller pool is a prefix of a larger one from the same source:
F1 against pool size compares nested pools. Sentences and words are cut like the corpora
(`bioner.corpora.convert.documents_to_sentences`, in the training corpus's ``word_style``).

The leakage filter drops a sentence whose document id (the PMID) is in ``exclude_pmids`` and a sentence whose
normalised text (`normalise_sentence`: lower case, Unicode NFKC, only letters and digits kept) equals an
excluded sentence's; both kinds are counted in `PoolReport`.
"""

from __future__ import annotations

import logging
import os
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bioner.corpora import detect_format, read_documents
from bioner.corpora.convert import documents_to_sentences
from bioner.corpora.dataset import find_split_files
from bioner.corpora.model import Document
from bioner.corpora.problems import CorpusFormatError
from bioner.corpora.pubmed import iter_pubmed
from bioner.data.text import DEFAULT_WORD_STYLE

logger = logging.getLogger(__name__)

EVALUATION_SPLITS = ("validation", "test")


@dataclass(frozen=True)
class PoolSentence:
    words: tuple[str, ...]
    document_id: str


@dataclass
class PoolReport:
    """Where a pool came from and what the leakage filter dropped."""

    source: str
    requested: int
    sentences: int = 0
    documents: int = 0
    dropped_pmid: int = 0
    dropped_text: int = 0
    excluded_pmids: int = 0
    excluded_sentences: int = 0
    exhausted: bool = False  # the source ran out before ``requested`` sentences
    files: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def normalise_sentence(words: Iterable[str]) -> str:
    """The text a leakage check compares: lower case, NFKC, letters and digits only (no spaces, no
    punctuation), so the same sentence cut into words differently still matches."""
    text = unicodedata.normalize("NFKC", "".join(words)).lower()
    return "".join(char for char in text if char.isalnum())


def corpus_files(path: str | os.PathLike[str]) -> list[Path]:
    """The corpus files of ``path``: itself, or a folder's files that a reader recognises (name order)."""
    path = Path(path)
    if not path.exists():
        raise CorpusFormatError(path, "pool source not found")
    if path.is_file() or detect_format(path) == "brat":
        return [path]
    files = [f for f in sorted(path.iterdir()) if f.is_file() and detect_format(f) is not None]
    if not files:
        raise CorpusFormatError(
            path, "no corpus files (PubMed XML, PubTator, BioC, brat, JATS) in the folder"
        )
    return files


def iter_documents(path: str | os.PathLike[str]) -> Iterator[Document]:
    """The documents of a corpus file or folder in order; PubMed XML is streamed (bounded memory)."""
    for file in corpus_files(path):
        if detect_format(file) == "pubmed":
            yield from iter_pubmed(file)
        else:
            yield from read_documents(file)


def evaluation_pmids(paths: Sequence[str | os.PathLike[str]]) -> set[str]:
    """Document ids (PMIDs) of evaluation documents: a release folder's dev and test files (named by split),
    or every document of a file given directly."""
    pmids: set[str] = set()
    for path in paths:
        path = Path(path)
        if path.is_dir():
            found = find_split_files(path)
            if found is None:
                raise CorpusFormatError(path, "--leakage_corpora: no dev/test files named by split here")
            files = [found[split] for split in EVALUATION_SPLITS if split in found]
        elif path.is_file():
            files = [path]
        else:
            raise CorpusFormatError(path, "--leakage_corpora: file or folder not found")
        for file in files:
            pmids.update(document.id for document in read_documents(file))
    return pmids


def build_pool(
    source: str | os.PathLike[str],
    size: int,
    *,
    word_style: str = DEFAULT_WORD_STYLE,
    exclude_pmids: Iterable[str] = (),
    exclude_sentences: Iterable[Sequence[str]] = (),
) -> tuple[list[PoolSentence], PoolReport]:
    """The first ``size`` sentences of ``source`` that pass the leakage filter, and the report."""
    if size < 0:
        raise ValueError(f"--pool_size must be >= 0, got {size}")
    pmids = set(exclude_pmids)
    texts = {normalise_sentence(words) for words in exclude_sentences}
    texts.discard("")
    report = PoolReport(str(source), size, excluded_pmids=len(pmids), excluded_sentences=len(texts))
    report.files = [str(f) for f in corpus_files(source)]
    pool: list[PoolSentence] = []
    if size == 0:
        return pool, report
    for document in iter_documents(source):
        report.documents += 1
        for row in documents_to_sentences([document], word_style=word_style):
            if not row["tokens"]:
                continue
            if document.id in pmids:
                report.dropped_pmid += 1
            elif normalise_sentence(row["tokens"]) in texts:
                report.dropped_text += 1
            else:
                pool.append(PoolSentence(tuple(row["tokens"]), document.id))
                if len(pool) == size:
                    break
        if len(pool) == size:
            break
    else:
        report.exhausted = True
        logger.warning(
            "%s: only %d sentences after the leakage filter (asked for %d)", source, len(pool), size
        )
    report.sentences = len(pool)
    logger.info(
        "pool: %d sentences from %d documents of %s; leakage filter dropped %d (PMID in an evaluation split)"
        " and %d (same text as a dev/test sentence)",
        report.sentences, report.documents, source, report.dropped_pmid, report.dropped_text,
    )  # fmt: skip
    return pool, report
