"""PubTator: ``PMID|t|title`` and ``PMID|a|abstract`` lines, one line per mention, relation lines, blank line.

Mention lines are ``PMID<TAB>start<TAB>end<TAB>text<TAB>type[<TAB>ids[<TAB>parts]]`` with offsets into
``title + " " + abstract`` (end exclusive). The ids field is kept as written, as one string (``-1``,
``D006470|D003556``, BioRED's ``p|SUB|E|333|D``: a ``|`` is not always a separator). A composite mention's 7th
field lists its parts' texts separated by ``|``; each part is located, word by word and left to right, inside
the composite's span (so ``end-stage or malignant liver disease`` -> ``end-stage`` + ``liver disease``), and
gets the matching id when the ids field has one per part. A relation line (4 or 5 fields, the second a type
without digits: ``CID``, ``Association``) is kept as read; any other line is an error naming it, so a mention
whose offsets are not plain integers is never taken for a relation. A mention's type may not be empty, and a
file without documents is an error. A document may end without a blank line or the file without a final
newline; CRLF and a lone CR read as LF.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bioner.corpora.checks import check_mention
from bioner.corpora.model import Document, Mention, Passage
from bioner.corpora.problems import CorpusFormatError, Repairs
from bioner.data.files import DataFormatError, read_utf8_lines

logger = logging.getLogger("bioner.corpora")

_TEXT_LINE = re.compile(r"([^|\t]+)\|([ta])\|(.*)")
_INTEGER = re.compile(r"-?\d+")
_RELATION_TYPE = re.compile(r"[A-Za-z][A-Za-z_-]*")  # CID, Association, Positive_Correlation: no digit
DUPLICATE = "duplicate document, identical copy (kept once)"
PART_NOT_FOUND = "composite part not found in its mention's text (kept without offsets)"
DISCONTINUOUS_WRITTEN = "discontinuous mention written as its covering span (PubTator holds one span)"


@dataclass
class _Draft:
    id: str
    line: int
    title: str
    abstract: str | None = None
    mentions: list[tuple[int, list[str]]] = field(default_factory=list)
    relations: list[list[str]] = field(default_factory=list)


def read_lines(path: Path) -> list[str]:
    """UTF-8 lines (CRLF as LF) or a ``CorpusFormatError`` naming the line of a bad byte."""
    try:
        return read_utf8_lines(path)
    except DataFormatError as error:
        raise CorpusFormatError.from_error(error) from None


def read_pubtator(path: str | os.PathLike[str], repairs: Repairs | None = None) -> list[Document]:
    """Documents of a PubTator file, in file order; identical duplicate documents are kept once and
    counted."""
    path = Path(path)
    lines = read_lines(path)
    title_lines: dict[str, int] = {}
    for number, line in enumerate(lines, 1):
        match = _TEXT_LINE.match(line)
        if match and match[2] == "t":
            title_lines.setdefault(match[1], number)
    found = Repairs()
    documents: dict[str, Document] = {}
    draft: _Draft | None = None

    def finish() -> None:
        if draft is not None:
            _add(documents, _build(draft, path, found), found)

    for number, line in enumerate(lines, 1):
        if not line.strip():
            finish()
            draft = None
            continue
        match = _TEXT_LINE.match(line)
        if match:
            pmid, kind, text = match.groups()
            if kind == "t":
                finish()
                draft = _Draft(pmid, number, text)
            elif draft is None or draft.id != pmid:
                raise CorpusFormatError(
                    path, f"abstract line of {pmid} without its title line before it", number
                )
            elif draft.abstract is not None or draft.mentions:
                raise CorpusFormatError(
                    path, f"a second abstract line, or one after mentions, for {pmid}", number
                )
            else:
                draft.abstract = text
            continue
        fields = line.split("\t")
        if len(fields) < 3:
            raise CorpusFormatError(
                path,
                f"not a title (id|t|), abstract (id|a|), mention or relation line: {line[:80]!r}",
                number,
            )
        if draft is None or draft.id != fields[0]:
            raise CorpusFormatError(path, _misplaced(fields[0], draft, title_lines, number), number)
        if _INTEGER.fullmatch(fields[1]) and _INTEGER.fullmatch(fields[2]):
            if not 5 <= len(fields) <= 7:
                raise CorpusFormatError(
                    path, f"a mention line has 5 to 7 tab-separated fields, found {len(fields)}", number
                )
            if not fields[4].strip():
                raise CorpusFormatError(path, f"mention {fields[3]!r} has an empty type field", number)
            draft.mentions.append((number, fields))
        elif _RELATION_TYPE.fullmatch(fields[1]) and len(fields) in (4, 5):  # BC5CDR: 4 fields, BioRED: 5
            draft.relations.append(fields[1:])
        else:  # a mention whose offsets are not plain integers: never read as a relation
            raise CorpusFormatError(
                path,
                f"not a mention line (offsets {fields[1]!r} and {fields[2]!r} are not both plain integers)"
                " nor a relation line (id<TAB>Type<TAB>arg<TAB>arg[<TAB>arg], a type without digits)",
                number,
            )
    finish()
    if not documents:
        raise CorpusFormatError(path, "no documents (the file is empty or holds no id|t|title line)")
    found.log(path)
    if repairs is not None:
        repairs.merge(found)
    return list(documents.values())


def _misplaced(pmid: str, draft: _Draft | None, title_lines: dict[str, int], number: int) -> str:
    title = title_lines.get(pmid)
    if title is None:
        return f"line for unknown document id {pmid!r}: no title line ({pmid}|t|...) in the file"
    if title > number:
        return f"mention or relation line of {pmid} before its title line (line {title})"
    inside = f"inside document {draft.id} (line {draft.line})" if draft else "after a blank line"
    return f"line of {pmid} {inside}; its title is on line {title} (mentions must follow their document)"


def _build(draft: _Draft, path: Path, repairs: Repairs) -> Document:
    passages = [Passage(0, draft.title, "title")]
    text = draft.title
    if draft.abstract is not None:
        passages.append(Passage(len(draft.title) + 1, draft.abstract, "abstract"))
        text = f"{draft.title} {draft.abstract}"
    mentions = []
    for number, fields in draft.mentions:
        mention = Mention(
            spans=[(int(fields[1]), int(fields[2]))],
            type=fields[4],
            text=fields[3],
            ids=[fields[5]] if len(fields) > 5 and fields[5] else [],
        )
        check_mention(text, mention, str(path), number, repairs)
        if len(fields) > 6 and fields[6]:
            mention.parts = _parts(text, mention, fields[6], f"{path}:{number}", repairs)
        mentions.append(mention)
    mentions.sort(key=lambda m: (m.start, m.end))
    return Document(draft.id, text, passages, mentions, draft.relations, f"{path}:{draft.line}")


def _parts(text: str, parent: Mention, field: str, where: str, repairs: Repairs) -> list[Mention]:
    names = field.split("|")
    ids = parent.ids[0].split("|") if parent.ids else []
    parts = []
    for index, name in enumerate(names):
        spans = locate_words(text, name, parent.start, parent.end)
        if spans is None:
            repairs.add(PART_NOT_FOUND, f"{where} {name!r} in {parent.text!r}")
        part_ids = [ids[index]] if len(ids) == len(names) else []
        parts.append(Mention(spans=spans or [], type=parent.type, text=name, ids=part_ids))
    return parts


def locate_words(text: str, phrase: str, start: int, end: int) -> list[tuple[int, int]] | None:
    """Spans of ``phrase``'s whitespace-separated words found left to right as whole words in
    ``text[start:end]``, adjacent words merged into one span; ``None`` when a word is not found."""
    spans: list[tuple[int, int]] = []
    position = start
    for word in phrase.split():
        found = _find_word(text, word, position, end)
        if found < 0:
            return None
        if spans and not text[spans[-1][1] : found].strip():
            spans[-1] = (spans[-1][0], found + len(word))
        else:
            spans.append((found, found + len(word)))
        position = found + len(word)
    return spans or None


def _find_word(text: str, word: str, start: int, end: int) -> int:
    index = text.find(word, start, end)
    while index >= 0:
        before = text[index - 1] if index > 0 else " "
        after = text[index + len(word)] if index + len(word) < len(text) else " "
        if not (before.isalnum() and word[0].isalnum()) and not (after.isalnum() and word[-1].isalnum()):
            return index
        index = text.find(word, index + 1, end)
    return -1


def _add(documents: dict[str, Document], document: Document, repairs: Repairs) -> None:
    first = documents.get(document.id)
    if first is None:
        documents[document.id] = document
    elif (first.text, first.mentions, first.relations) == (
        document.text,
        document.mentions,
        document.relations,
    ):
        repairs.add(DUPLICATE, f"{document.id} at {document.source} (first at {first.source})")
    else:
        raise CorpusFormatError(
            document.source,
            f"document {document.id} appears twice with different text or mentions (first at {first.source})",
        )


def _title_abstract(document: Document) -> tuple[str, str | None]:
    """Title and abstract whose ``title + " " + abstract`` is the document text (offsets unchanged)."""
    text = document.text
    first = document.passages[0] if document.passages else None
    if first is not None and first.offset == 0 and first.end < len(text) and text[first.end] == " ":
        return text[: first.end], text[first.end + 1 :]
    return text, None


def write_pubtator(documents: Sequence[Document], path: str | os.PathLike[str]) -> None:
    """Write documents as PubTator. The text is written as title and abstract (the first passage and the rest,
    when a single space separates them; else all as the title); a line break or a tab inside a mention cannot
    be written and is an error naming the document; a discontinuous mention is written as its covering span
    (counted and logged)."""
    repairs = Repairs()
    out: list[str] = []
    for document in documents:
        title, abstract = _title_abstract(document)
        if any(c in document.text for c in "\n\r"):
            raise CorpusFormatError(
                path,
                f"document {document.id}: PubTator cannot hold a line break in the text; use BioC or brat",
            )
        if any(c in document.id for c in "|\t\n"):
            raise CorpusFormatError(path, f"document id {document.id!r} holds '|' or a tab (PubTator cannot)")
        out.append(f"{document.id}|t|{title}\n")
        if abstract is not None:
            out.append(f"{document.id}|a|{abstract}\n")
        for mention in sorted(document.mentions, key=lambda m: (m.start, m.end)):
            out.append(_mention_line(document, mention, repairs, path) + "\n")
        for relation in document.relations:
            out.append("\t".join([document.id, *relation]) + "\n")
        out.append("\n")
    repairs.log(path)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text("".join(out), encoding="utf-8")


def _mention_line(
    document: Document, mention: Mention, repairs: Repairs, path: str | os.PathLike[str]
) -> str:
    start, end = mention.start, mention.end
    if mention.is_discontinuous:
        repairs.add(DISCONTINUOUS_WRITTEN, f"{document.id} {mention.text!r}")
        text = document.text[start:end]
    else:
        text = mention.text or document.text[start:end]
    if "\t" in text or "\t" in mention.type:
        raise CorpusFormatError(
            path, f"document {document.id}: a tab in mention {text!r} (PubTator cannot hold it)"
        )
    fields = [document.id, str(start), str(end), text, mention.type, "|".join(mention.ids)]
    if mention.parts:
        fields.append("|".join(part.text for part in mention.parts))
    return "\t".join(fields)
