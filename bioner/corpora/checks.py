"""Checks of a mention against its document's text, shared by every reader."""

from __future__ import annotations

from bioner.corpora.model import Mention
from bioner.corpora.problems import CorpusFormatError, Repairs

TEXT_TRIMMED = "mention text with spaces around it that the document text does not have (trimmed)"
TEXT_WHITESPACE = "mention text whose inner whitespace differs from the document text (document text kept)"
PART_MISMATCH = "composite part whose spans do not cover its text (kept as annotated)"


def covered_text(text: str, mention: Mention) -> str:
    """The document text under a mention's spans, fragments joined by single spaces (as brat and BioC do)."""
    return " ".join(text[start:end] for start, end in mention.spans)


def check_mention(
    text: str, mention: Mention, where: str, line: int | None, repairs: Repairs, *, part: bool = False
) -> None:
    """Raise ``CorpusFormatError`` when a mention's offsets fall outside ``text`` or its text is not the text
    under its spans; repair (and count) only whitespace differences. A composite part (``part``) whose spans
    do not cover its text is kept as annotated and counted (BC5CDR's BioC has three)."""
    at = f"{where}:{line}" if line is not None else where
    if not mention.spans:
        raise CorpusFormatError(where, f"mention {mention.text!r} has no offsets", line)
    if not mention.type.strip():
        raise CorpusFormatError(where, f"mention {mention.text!r} has an empty type", line)
    for start, end in mention.spans:
        if not 0 <= start < end <= len(text):
            raise CorpusFormatError(
                where,
                f"mention {mention.text!r} has offsets {start}-{end} outside the document text "
                f"(length {len(text)}) or an empty span",
                line,
            )
    covered = covered_text(text, mention)
    if not mention.text or mention.text == covered:
        mention.text = covered
        return
    if mention.text.strip() == covered:
        repairs.add(TEXT_TRIMMED, f"{at} {mention.text!r}")
        mention.text = covered
    elif mention.text.split() == covered.split():
        repairs.add(TEXT_WHITESPACE, f"{at} {mention.text!r}")
        mention.text = covered
    elif part:
        repairs.add(PART_MISMATCH, f"{at} {mention.text!r} at {mention.spans} covers {covered!r}")
    else:
        spans = ",".join(f"{start}-{end}" for start, end in mention.spans)
        raise CorpusFormatError(
            where,
            f"mention text {mention.text!r} differs from the document text at {spans}: {covered!r}",
            line,
        )
