"""Raw text to words and sentences, with character offsets, in the style of the training corpora.

A tagger only sees words, so raw text must be cut the way its training data was cut. The corpora come in two
styles, which ``infer_word_style`` tells apart from a corpus's tokens:

``split`` (BC5CDR, BioRED, ChemProt, NCBI-disease, BC2GM: PubTator-style tokenization)
    A word is a maximal run of letters, digits and combining marks; every other visible character is a word of
    its own. ``IL-2`` -> ``IL - 2``, ``Ca2+`` -> ``Ca2 +``, ``5-HT`` -> ``5 - HT``, ``4.5`` -> ``4 . 5``. In
    these corpora no multi-character token contains a non-alphanumeric character (checked on every train
    split).
``genia`` (JNLPBA: GENIA tokenization)
    Whitespace-separated chunks keep their inner ``-``, ``/``, ``+``, ``.``, ``:`` and ``'`` (``IL-2``,
    ``Ca2+``, ``5-HT``, ``CD4+``, ``NK3.3``, ``5'-flanking`` stay one word); brackets, ``,``, ``;``, ``%``,
    ``=``, ``<``, ``>`` and double quotes are always words of their own, and ``.``, ``:``, ``?``, ``!``, ``'``
    and a ``'s`` clitic are split off the end of a chunk.

Whitespace, control and format characters (zero-width space, BOM, soft hyphen) separate words and are never
part of one, so ``text[start:end]`` of a word or an entity is always its exact surface form.

Sentences end after ``.``, ``?`` or ``!`` (plus any closing brackets or quotes glued to it) when whitespace
follows and the next word starts with an upper-case letter, a digit or an opening bracket, unless the word
before the stop is a single letter (initials, ``e.g.``) or a known abbreviation (``et al.``, ``Fig.``,
``vs.``); a blank line always ends one. Sentences longer than a model's input are windowed by the taggers,
never cut.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence

WORD_STYLES = ("split", "genia")
DEFAULT_WORD_STYLE = "split"
# Where trained models record their corpus's style: encoder config attribute, decoder prompt-format field.
WORD_STYLE_KEY = "bioner_word_style"

Span = tuple[int, int]

_GENIA_ALWAYS = frozenset('()[]{},;%=<>"“”«»')
_GENIA_TRAILING = frozenset(".:?!'’")
_STOPS = frozenset(".?!")
_CLOSERS = frozenset(")]}\"'”’»")
_OPENERS = frozenset("([{\"'“‘«")
_ABBREVIATIONS = frozenset(
    "al approx ca cf dr e.g ed eds eg eq eqn etc fig figs i.e ie inc mr mrs ms no nos pp ref refs resp st sp"
    " spp subsp vol vs".split()
)
_BLANK_LINE = re.compile(r"\n[^\S\n]*\n")


def _is_separator(char: str) -> bool:
    return char.isspace() or unicodedata.category(char) in ("Cc", "Cf")


def _is_word_char(char: str) -> bool:
    return char.isalnum() or unicodedata.category(char).startswith("M")


def _chunks(text: str) -> list[Span]:
    """Maximal runs of non-separator characters."""
    spans, start = [], None
    for index, char in enumerate(text):
        if _is_separator(char):
            if start is not None:
                spans.append((start, index))
                start = None
        elif start is None:
            start = index
    if start is not None:
        spans.append((start, len(text)))
    return spans


def _split_chunk(text: str, start: int, end: int) -> list[Span]:
    """``split`` style: alphanumeric runs, every other character alone."""
    spans, run = [], None
    for index in range(start, end):
        if _is_word_char(text[index]):
            if run is None:
                run = index
            continue
        if run is not None:
            spans.append((run, index))
            run = None
        spans.append((index, index + 1))
    if run is not None:
        spans.append((run, end))
    return spans


def _genia_chunk(text: str, start: int, end: int) -> list[Span]:
    """``genia`` style: cut at the always-split characters, then peel trailing stops and a ``'s`` clitic."""
    spans, piece = [], start
    for index in range(start, end + 1):
        if index == end or text[index] in _GENIA_ALWAYS:
            spans += _peel(text, piece, index)
            if index < end:
                spans.append((index, index + 1))
            piece = index + 1
    return spans


def _peel(text: str, start: int, end: int) -> list[Span]:
    tail: list[Span] = []
    while end > start:
        if (
            text[end - 2 : end] == "''"
            and end - start >= 2
            or (end - start > 2 and text[end - 2] in "'’" and text[end - 1] in "sS")
        ):
            tail.append((end - 2, end))
            end -= 2
        elif end - start > 1 and text[end - 1] in _GENIA_TRAILING:
            tail.append((end - 1, end))
            end -= 1
        else:
            break
    return ([(start, end)] if end > start else []) + tail[::-1]


def tokenize(text: str, style: str = DEFAULT_WORD_STYLE) -> list[Span]:
    """Word spans ``(start, end)`` of ``text`` in ``style`` (see the module docstring); ``text[start:end]`` is
    the word."""
    if style not in WORD_STYLES:
        raise ValueError(f"unknown word style {style!r}; expected one of {', '.join(WORD_STYLES)}")
    cut = _split_chunk if style == "split" else _genia_chunk
    return [span for start, end in _chunks(text) for span in cut(text, start, end)]


def split_sentences(text: str, words: Sequence[Span]) -> list[Span]:
    """Sentences as word-index ranges ``[first, last)`` covering every word of ``words`` in order."""
    if not words:
        return []
    breaks = {match.start() for match in _BLANK_LINE.finditer(text)}
    paragraph_ends = sorted(breaks)
    sentences, first, cursor = [], 0, 0
    for index in range(len(words) - 1):
        gap_start, gap_end = words[index][1], words[index + 1][0]
        while cursor < len(paragraph_ends) and paragraph_ends[cursor] < gap_start:
            cursor += 1
        blank_line = cursor < len(paragraph_ends) and paragraph_ends[cursor] < gap_end
        if blank_line or _ends_sentence(text, words, first, index):
            sentences.append((first, index + 1))
            first = index + 1
    sentences.append((first, len(words)))
    return sentences


def _ends_sentence(text: str, words: Sequence[Span], first: int, index: int) -> bool:
    """Whether a sentence that started at word ``first`` ends after word ``index``."""
    gap = text[words[index][1] : words[index + 1][0]]
    if not gap or not any(_is_separator(char) for char in gap):
        return False
    stop = index
    while stop > first and _word(text, words, stop) in _CLOSERS and words[stop - 1][1] == words[stop][0]:
        stop -= 1
    last = _word(text, words, stop)
    if last[-1:] not in _STOPS:
        return False
    following = _word(text, words, index + 1)
    if not (following[0].isupper() or following[0].isdigit() or following[0] in _OPENERS):
        return False
    before = last[:-1] if len(last) > 1 else (_word(text, words, stop - 1) if stop > first else "")
    if stop > first + 1 and len(last) == 1 and words[stop - 1][1] == words[stop][0]:
        # "e.g." and "i.e." come out of the split style as e . g . -- rebuild the glued abbreviation.
        glued = stop - 1
        while (
            glued > first
            and words[glued - 1][1] == words[glued][0]
            and _is_abbreviation_part(_word(text, words, glued - 1))
        ):
            glued -= 1
        before = text[words[glued][0] : words[stop - 1][1]]
    bare = before.rstrip(".").lower()
    return not (len(bare) == 1 and bare.isalpha()) and bare not in _ABBREVIATIONS


def _is_abbreviation_part(word: str) -> bool:
    return word == "." or all(_is_word_char(char) for char in word)


def _word(text: str, words: Sequence[Span], index: int) -> str:
    start, end = words[index]
    return text[start:end]


def infer_word_style(tokens: Iterable[str]) -> str:
    """``genia`` when more than 0.5% of a corpus's multi-character tokens hold a non-alphanumeric character
    (JNLPBA: 7%), else ``split`` (the other corpora: none)."""
    long_tokens = mixed = 0
    for token in tokens:
        if len(token) > 1:
            long_tokens += 1
            mixed += not all(_is_word_char(char) for char in token)
    return "genia" if long_tokens and mixed / long_tokens > 0.005 else "split"


_NO_SPACE_BEFORE = frozenset(".,;:?!%)]}")
_NO_SPACE_AFTER = frozenset("([{")
_GLUE = frozenset("-/+")


def detokenize(tokens: Sequence[str]) -> tuple[str, list[Span]]:
    """Rejoin corpus tokens into plausible raw text (no space before ``.,;:)%``, after ``(``, around ``- / +``
    and inside decimals like ``2 . 5``) and return it with each token's span: how the benchmarks rebuild text
    from BIO files."""
    parts: list[str] = []
    spans: list[Span] = []
    length = 0
    for index, token in enumerate(tokens):
        decimal = index > 0 and tokens[index - 1] == "." and token[:1].isdigit()
        if decimal and index > 1 and tokens[index - 2][-1:].isalpha():
            decimal = False  # "cells . 5 of them": a new sentence, not a decimal
        if index and not decimal and _space_between(tokens[index - 1], token):
            parts.append(" ")
            length += 1
        spans.append((length, length + len(token)))
        parts.append(token)
        length += len(token)
    return "".join(parts), spans


def _space_between(previous: str, token: str) -> bool:
    if token in _NO_SPACE_BEFORE or previous in _NO_SPACE_AFTER:
        return False
    return not (token in _GLUE or previous in _GLUE)
