"""One BIO tag per input word from a decoder LLM's free (unconstrained) answer, counting every repair.

Free generation may break the answer format: lines go missing or repeat, a line's word differs from the input
word, a tag is unknown or cut off, the whole answer is empty. ``align_answer`` always returns exactly one
label per input word, every one of them in the format's labels, as valid IOB2, and counts what it had to
repair:

1. The text is split on ``"\\n"``; each line is stripped of surrounding whitespace (so ``"\\r\\n"`` line ends
   and stray spaces around a tag are harmless) and blank lines are dropped.
2. Each line is parsed with ``PromptFormat.split_line``. A line without a known tag keeps its word -- a
   trailing tag-like text (``<B-Gene>`` / ``<B-Dis`` in ``tags`` format, ``:B-Gene`` / ``:`` in ``paper``
   format) is cut off, then anything after the first whitespace -- and gets ``O`` (``invalid_tags``).
3. If there are as many lines as words, line ``i`` gives word ``i`` its tag, whatever its word
   (``word_mismatches``). Otherwise the lines' words are aligned to the input words with
   ``difflib.SequenceMatcher(autojunk=False)``: equal runs, and replaced runs of equal length, pair line and
   word by position (a replaced pair counts as a word mismatch but keeps its tag); input words left without a
   line get ``O`` (``missing_lines``) and lines left without a word are dropped (``extra_lines``).
4. An ``I-X`` that does not follow ``B-X`` or ``I-X`` becomes ``B-X`` (``bio_repairs``).

``invalid_tags`` counts only lines that were given to a word; a dropped line counts as extra, whatever its
tag.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from difflib import SequenceMatcher

from bioner.data.tags import OUTSIDE, split_tag
from bioner.decoding.prompts import PromptFormat

ALIGNMENT_FIELDS = (
    "aligned",
    "missing_lines",
    "extra_lines",
    "word_mismatches",
    "invalid_tags",
    "bio_repairs",
    "empty_output",
)

# Tag-like endings of a line whose tag is unknown or cut off; a tag name must start with a letter, so words
# such
# as "p<0.05" or "1:2" keep their "<" / ":" part.
_TAG_TAILS = {
    "tags": re.compile(r"\s*<[A-Za-z][^<>\s]*>?$"),
    "paper": re.compile(r"\s*:\s*(?:[A-Za-z][^:\s]*)?$"),
}

_Line = tuple[str, str | None]


def parse_line(line: str, prompt_format: PromptFormat) -> tuple[str, str | None]:
    """``(word, tag)`` of one stripped answer line; ``tag`` is None when the line has no known tag."""
    line = line.strip()
    word, tag = prompt_format.split_line(line)
    if tag is not None:
        return word.strip(), tag
    tail = _TAG_TAILS.get(prompt_format.output_format)
    word = (tail.sub("", line) if tail else line) or line  # never cut a line down to nothing
    fields = word.split()
    return (fields[0] if fields else word), None


def align_answer(
    text: str, words: Sequence[str], prompt_format: PromptFormat
) -> tuple[list[str], dict[str, int]]:
    """One valid IOB2 tag per word from the generated ``text`` (without EOS), and the repair counters.

    The counters are the keys of ``ALIGNMENT_FIELDS``: ``aligned`` is 1 when the text had exactly one line per
    word, each with its input word and a known tag (BIO repairs do not affect it); ``empty_output`` is 1 when
    the text has no non-blank line although there are words; the rest count lines, words or tags (module
    docstring).
    """
    words = list(words)
    counts = dict.fromkeys(ALIGNMENT_FIELDS, 0)
    lines = [parse_line(line, prompt_format) for line in text.split("\n") if line.strip()]
    counts["empty_output"] = int(not lines and bool(words))

    assigned: list[_Line | None]
    if len(lines) == len(words):
        assigned = list(lines)
        counts["word_mismatches"] = sum(line[0] != word for line, word in zip(lines, words, strict=True))
    else:
        assigned = [None] * len(words)
        matcher = SequenceMatcher(None, [line[0] for line in lines], words, autojunk=False)
        for op, i1, i2, j1, j2 in matcher.get_opcodes():
            if op == "equal" or (op == "replace" and i2 - i1 == j2 - j1):
                for i, j in zip(range(i1, i2), range(j1, j2), strict=True):
                    assigned[j] = lines[i]
                    counts["word_mismatches"] += lines[i][0] != words[j]
            else:
                counts["extra_lines"] += i2 - i1
                counts["missing_lines"] += j2 - j1

    tags: list[str] = []
    for line in assigned:
        if line is None:
            tags.append(OUTSIDE)
        elif line[1] is None:
            counts["invalid_tags"] += 1
            tags.append(OUTSIDE)
        else:
            tags.append(line[1])
    counts["bio_repairs"] = repair_bio(tags, prompt_format.labels)
    counts["aligned"] = int(
        len(lines) == len(words) and counts["word_mismatches"] == 0 and counts["invalid_tags"] == 0
    )
    return tags, counts


def repair_bio(tags: list[str], labels: Sequence[str]) -> int:
    """Turn, in place, every ``I-X`` not after ``B-X``/``I-X`` into ``B-X`` (``O`` if no such label); the
    count."""
    repairs, previous_type = 0, None
    for index, tag in enumerate(tags):
        prefix, entity_type = split_tag(tag)
        if prefix == "I" and entity_type != previous_type:
            begin = f"B-{entity_type}"
            tags[index] = begin if begin in labels else OUTSIDE
            repairs += 1
        previous_type = split_tag(tags[index])[1]
    return repairs


def sum_counts(counts: Iterable[dict[str, int]]) -> dict[str, int]:
    """Totals of per-instance counters, with ``instances`` (how many were summed) first."""
    total = dict.fromkeys(("instances", *ALIGNMENT_FIELDS), 0)
    for instance in counts:
        total["instances"] += 1
        for key in ALIGNMENT_FIELDS:
            total[key] += int(instance.get(key, 0))
    return total
