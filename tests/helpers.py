"""What several test modules share (paths, launch commands, small taggers); test modules import it, never
each other (tests/test_architecture.py checks)."""

from __future__ import annotations

import gzip
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from bioner.data.text import tokenize

ROOT = Path(__file__).resolve().parents[1]
"""The checkout: the scripts and ``metrics/`` are here."""
DATA_DIR = Path(os.environ.get("BIONER_DATA_DIR") or ROOT.parent / "shared" / "data")
"""The real BIO corpora (``<name>/{train,dev,test}.tsv``)."""
CORPORA_DIR = Path(os.environ.get("BIONER_CORPORA_DIR") or ROOT.parent / "shared" / "corpora")
"""The original PubTator/BioC releases."""
PUBMED_DIR = Path(os.environ.get("BIONER_PUBMED_DIR") or ROOT.parent / "shared" / "pubmed")
"""A PubMed baseline file (``pubmed20n0014.xml.gz``) and PMC JATS articles (``pmc/*.nxml``)."""
LAUNCH = [
    sys.executable, "-m", "accelerate.commands.launch",
    "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
    "--mixed_precision", "no", "--dynamo_backend", "no",
]  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_python(args: list[str], env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    if check and result.returncode != 0:
        pytest.fail(
            f"{args[:3]} exited {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
    return result


class LexiconTagger:
    """Tags every occurrence of a known word sequence: a tagger whose right answer is known in advance."""

    word_style = "split"

    def __init__(self, lexicon: dict[str, str]):
        self.entries = sorted(
            ((tuple(m[a:b] for a, b in tokenize(m)), kind) for m, kind in lexicon.items()),
            key=lambda e: -len(e[0]),
        )

    def __call__(self, sentences, progress=False):
        result = []
        for words in sentences:
            tags, i = ["O"] * len(words), 0
            while i < len(words):
                for entry, kind in self.entries:
                    if tuple(words[i : i + len(entry)]) == entry:
                        tags[i : i + len(entry)] = [f"B-{kind}"] + [f"I-{kind}"] * (len(entry) - 1)
                        i += len(entry) - 1
                        break
                i += 1
            result.append(tags)
        return result


LEXICON = {"QX-7": "Chemical", "Zolox acid": "Chemical", "ωZQ syndrome": "Disease", "Ca2+": "Chemical"}


def pubmed_slice(count: int, where=None) -> bytes:
    """The first ``count`` citations of the real PubMed file (those for which ``where(xml)`` holds, when
    given) as a PubMed XML file of their own; skips the test when the file is not there."""
    path = PUBMED_DIR / "pubmed20n0014.xml.gz"
    if not path.is_file():
        pytest.skip(f"{path} not found (set BIONER_PUBMED_DIR)")
    found, current = [], []
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            if "<PubmedArticle>" in line:
                current = []
            current.append(line)
            if "</PubmedArticle>" in line:
                article = "".join(current)
                if where is None or where(article):
                    found.append(article)
                    if len(found) == count:
                        break
    body = "".join(found)
    return f'<?xml version="1.0" encoding="utf-8"?>\n<PubmedArticleSet>\n{body}</PubmedArticleSet>\n'.encode()
