"""BIO tag syntax (bioner.data.tags): what a valid IOB2 tag is, and the IOB1 -> IOB2 repair."""

from __future__ import annotations

import pytest

from bioner.data.tags import OUTSIDE, repair_iob2, split_tag, tag_names


def test_split_tag() -> None:
    assert split_tag("O") == (OUTSIDE, None)
    assert split_tag("B-Chemical") == ("B", "Chemical")
    assert split_tag("I-Gene-or-protein") == ("I", "Gene-or-protein")


@pytest.mark.parametrize("tag", ["", "o", "B-", "B", "E-X", "Begin-X", "O-X", " B-X"])
def test_invalid_tags(tag: str) -> None:
    with pytest.raises(ValueError, match=f"invalid BIO tag {tag!r}"):
        split_tag(tag)


@pytest.mark.parametrize(
    ("tags", "repaired", "where"),
    [
        (["B-X", "I-X", "O"], ["B-X", "I-X", "O"], []),
        (["I-X", "I-X", "O", "I-X"], ["B-X", "I-X", "O", "B-X"], [0, 3]),
        (["B-X", "I-Y", "I-Y"], ["B-X", "B-Y", "I-Y"], [1]),
        ([], [], []),
    ],
)
def test_repair_iob2_in_place(tags: list[str], repaired: list[str], where: list[int]) -> None:
    assert repair_iob2(tags) == where
    assert tags == repaired
    assert repair_iob2(tags) == []  # repaired tags need no more


def test_tag_names_of_id_rows() -> None:
    labels = ["O", "B-X", "I-X"]
    assert tag_names([[1, 2, 0], []], labels) == [["B-X", "I-X", "O"], []]
