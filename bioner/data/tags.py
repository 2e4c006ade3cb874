"""BIO tag syntax: the one place that says what a valid IOB2 tag is."""

from __future__ import annotations

OUTSIDE = "O"


def split_tag(tag: str) -> tuple[str, str | None]:
    """``"B-Chemical"`` -> ``("B", "Chemical")``; ``"O"`` -> ``("O", None)``."""
    if tag == OUTSIDE:
        return OUTSIDE, None
    prefix, sep, entity_type = tag.partition("-")
    if not sep or prefix not in ("B", "I") or not entity_type:
        raise ValueError(f"invalid BIO tag {tag!r}: expected 'O', 'B-<type>' or 'I-<type>'")
    return prefix, entity_type


def repair_iob2(tags: list[str]) -> list[int]:
    """Rewrite, in place, each ``I-X`` that does not continue an ``X`` entity to ``B-X``; return where.

    This is the IOB1 -> IOB2 conversion; it keeps every entity a lenient (conlleval) reader would see.
    """
    changed = []
    previous_type = ""
    for i, tag in enumerate(tags):
        if tag.startswith("I-") and tag[2:] != previous_type:
            tags[i] = "B-" + tag[2:]
            changed.append(i)
        previous_type = "" if tags[i] == OUTSIDE else tags[i][2:]
    return changed


def tag_names(tag_ids, labels) -> list[list[str]]:
    """Tag names of rows of tag ids (a split's ``ner_tags``), ``labels`` in id order
    (``conll.label_names``)."""
    return [[labels[i] for i in row] for row in tag_ids]
