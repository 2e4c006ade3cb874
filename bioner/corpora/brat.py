"""brat standoff: ``NAME.txt`` (the text, offsets count its characters exactly, CRLF included) and
``NAME.ann`` (one annotation per line).

``T`` lines are mentions (``T1<TAB>Type 0 5;7 12<TAB>text``, several ``start end`` pairs for a discontinuous
one, their texts joined by a space). ``N`` lines (``N1<TAB>Reference T1 db:id<TAB>text``) give a mention its
ids. ``R``, ``E``, ``A``/``M``, ``*`` and ``#`` lines are kept as read in ``Document.relations`` (counted in
the log) and written back. A document's id is the file name without ``.ann``. A folder is read with its
sub-folders (pairs in them are documents too; two ``.ann`` files of one name are an error naming both); an
``.ann`` line ends at LF, CRLF or a lone CR.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path

from bioner.corpora.checks import check_mention
from bioner.corpora.model import Document, Mention, Passage
from bioner.corpora.problems import CorpusFormatError, Repairs

logger = logging.getLogger("bioner.corpora")

TXT_WITHOUT_ANN = "text file without its .ann (not read)"
_OTHER = re.compile(r"[REAMN#*]\d*")
_SAFE_NAME = re.compile(r"[\w.+-]+")
_SPAN = re.compile(r"(\d+) (\d+)")
_LINE_BREAK = re.compile(r"[\r\n]")
_ANN_LINE_END = re.compile(r"\r\n|\r|\n")
NO_ANN_FILES = "no .ann files in the folder or its sub-folders"


def read_text_exact(path: Path) -> str:
    """The file's text exactly as stored (no newline translation); bad UTF-8 is an error naming its line."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CorpusFormatError(path, "file not found") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise CorpusFormatError(path, f"not valid UTF-8: byte 0x{data[err.start]:02x}", line) from None


def brat_pairs(path: Path, repairs: Repairs) -> list[tuple[Path, Path]]:
    """``(txt, ann)`` pairs of a folder (sorted by name) or of one ``.txt``/``.ann`` file."""
    if path.is_dir():
        anns = sorted(a for a in path.rglob("*.ann") if not _hidden(a, path))
        if not anns:
            raise CorpusFormatError(path, NO_ANN_FILES)
        texts = {t for t in path.rglob("*.txt") if not _hidden(t, path)}
        for txt in sorted(texts - {a.with_suffix(".txt") for a in anns}):
            repairs.add(TXT_WITHOUT_ANN, str(txt))
        first: dict[str, Path] = {}
        for ann in anns:
            if first.setdefault(ann.stem, ann) != ann:
                raise CorpusFormatError(
                    ann, f"a second document named {ann.stem!r} (first: {first[ann.stem]}): ids are unique"
                )
    elif path.suffix in (".ann", ".txt"):
        anns = [path.with_suffix(".ann")]
    else:
        raise CorpusFormatError(path, "brat input is a folder of .txt/.ann pairs or one .ann/.txt file")
    pairs = []
    for ann in anns:
        txt = ann.with_suffix(".txt")
        if not txt.is_file():
            raise CorpusFormatError(ann, f"{txt.name}, the text this .ann annotates, is missing")
        if not ann.is_file():
            raise CorpusFormatError(txt, f"{ann.name}, the annotations of this text, is missing")
        pairs.append((txt, ann))
    return pairs


def _hidden(path: Path, top: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(top).parts)


def read_brat(path: str | os.PathLike[str], repairs: Repairs | None = None) -> list[Document]:
    """Documents of a brat folder or file pair."""
    path = Path(path)
    found = Repairs()
    documents = [_read_pair(txt, ann, found) for txt, ann in brat_pairs(path, found)]
    found.log(path)
    if repairs is not None:
        repairs.merge(found)
    return documents


def _read_pair(txt: Path, ann: Path, repairs: Repairs) -> Document:
    text = read_text_exact(txt)
    mentions: dict[str, Mention] = {}
    references: list[tuple[int, str, str]] = []
    others: list[list[str]] = []
    for number, line in enumerate(_ANN_LINE_END.split(read_text_exact(ann)), 1):
        if not line.strip():
            continue
        fields = line.split("\t")
        name = fields[0]
        if name.startswith("T"):
            if len(fields) < 3:
                raise CorpusFormatError(
                    ann, f"a T line needs 'T1<TAB>Type start end<TAB>text': {line!r}", number
                )
            kind, _, offsets = fields[1].partition(" ")
            spans = []
            for piece in offsets.split(";"):
                match = _SPAN.fullmatch(piece.strip())
                if match is None:
                    raise CorpusFormatError(
                        ann, f"bad offsets {offsets!r} (expected 'start end[;start end]')", number
                    )
                spans.append((int(match[1]), int(match[2])))
            mention = Mention(spans=sorted(spans), type=kind, text="\t".join(fields[2:]), id=name)
            if all(0 <= a < b <= len(text) for a, b in spans):
                covered = " ".join(text[a:b] for a, b in mention.spans)
                if mention.text == _LINE_BREAK.sub(" ", covered):  # brat writes line breaks as spaces
                    mention.text = covered
            check_mention(text, mention, str(ann), number, repairs)
            if name in mentions:
                raise CorpusFormatError(ann, f"annotation id {name} used twice", number)
            mentions[name] = mention
        elif _OTHER.fullmatch(name):
            if name.startswith("N") and len(fields) >= 2 and fields[1].startswith("Reference"):
                reference = fields[1].split(" ", 2)
                if len(reference) != 3 or not reference[1] or not reference[2]:
                    raise CorpusFormatError(
                        ann, f"an N line needs 'N1<TAB>Reference T1 db:id<TAB>text': {line[:80]!r}", number
                    )
                references.append((number, reference[1], reference[2]))
            elif name.startswith("N"):
                raise CorpusFormatError(
                    ann, f"an N line needs 'N1<TAB>Reference T1 db:id<TAB>text': {line[:80]!r}", number
                )
            others.append(fields)
        else:
            raise CorpusFormatError(
                ann, f"not a brat annotation line (T, R, E, A, M, N, *, #): {line[:80]!r}", number
            )
    kept = []
    for fields in others:
        if not fields[0].startswith("N"):
            kept.append(fields)
    for number, target, identifier in references:
        if target not in mentions:
            raise CorpusFormatError(ann, f"reference to unknown annotation {target}", number)
        mentions[target].ids.append(identifier)
    if kept:
        logger.info("%s: %d non-mention line(s) kept as read (relations, attributes, notes)", ann, len(kept))
    ordered = sorted(mentions.values(), key=lambda m: (m.start, m.end))
    return Document(ann.stem, text, [Passage(0, text)], ordered, kept, str(ann))


def write_brat(documents: Sequence[Document], directory: str | os.PathLike[str]) -> None:
    """Write ``<id>.txt`` and ``<id>.ann`` per document into ``directory``. Composite parts (brat has none)
    and non-brat relation lines (PubTator's) are not written, and counted in the log."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    repairs = Repairs()
    for document in documents:
        if not _SAFE_NAME.fullmatch(document.id):
            raise CorpusFormatError(directory, f"document id {document.id!r} cannot be a brat file name")
        lines = []
        references = 0
        for number, mention in enumerate(sorted(document.mentions, key=lambda m: (m.start, m.end)), 1):
            if any(c.isspace() for c in mention.type) or not mention.type:
                raise CorpusFormatError(directory, f"document {document.id}: type {mention.type!r} in brat")
            offsets = ";".join(f"{start} {end}" for start, end in mention.spans)
            surface = _LINE_BREAK.sub(" ", " ".join(document.text[start:end] for start, end in mention.spans))
            lines.append(f"T{number}\t{mention.type} {offsets}\t{surface}")
            for identifier in mention.ids:
                references += 1
                lines.append(f"N{references}\tReference T{number} {identifier}\t{surface}")
            if mention.parts:
                repairs.add("composite parts not written (brat has no composite mentions)", document.id)
        for relation in document.relations:
            if relation and _OTHER.fullmatch(relation[0]):
                lines.append("\t".join(relation))
            else:
                repairs.add("relation line not written (not a brat line)", f"{document.id} {relation}")
        (directory / f"{document.id}.txt").write_text(document.text, encoding="utf-8", newline="")
        (directory / f"{document.id}.ann").write_text(
            "".join(f"{line}\n" for line in lines), encoding="utf-8"
        )
    repairs.log(directory)
