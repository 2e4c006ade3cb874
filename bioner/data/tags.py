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
