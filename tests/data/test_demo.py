"""The synthetic demo corpus (bioner.data.demo): deterministic, varied, valid IOB2."""

from __future__ import annotations

from bioner.data.demo import CHEMICALS, SPLIT_SIZES, make_demo_splits
from bioner.data.splits import SPLITS
from bioner.data.tags import repair_iob2
from metrics.bio_ner.scoring import extract_entities


def test_demo_is_deterministic_and_varied() -> None:
    splits = make_demo_splits()
    assert splits == make_demo_splits(13)
    assert splits != make_demo_splits(14)
    assert {name: len(s) for name, s in splits.items()} == {"train": 300, "validation": 80, "test": 80}
    for sentences in splits.values():
        entities = [e for _, tags in sentences for e in extract_entities(tags)]
        assert {t for t, _, _ in entities} == {"Chemical", "Disease"}
        assert {min(end - start, 3) for _, start, end in entities} == {1, 2, 3}
        assert any(not extract_entities(tags) for _, tags in sentences)
        assert all(len(tokens) == len(tags) and all(tokens) for tokens, tags in sentences)


def test_demo_splits_are_the_canonical_ones_and_already_iob2() -> None:
    splits = make_demo_splits(seed=1)
    assert tuple(splits) == SPLITS == tuple(SPLIT_SIZES)
    for sentences in splits.values():
        for tokens, tags in sentences:
            assert repair_iob2(list(tags)) == []  # nothing to repair
            assert tokens[0][:1] == tokens[0][:1].upper()  # sentence-initial capital


def test_demo_mentions_come_from_the_lexicons() -> None:
    chemicals = {tuple(name.split()) for name in CHEMICALS}
    for tokens, tags in make_demo_splits()["train"]:
        for entity_type, start, end in extract_entities(tags):
            if entity_type == "Chemical" and start > 0:  # the first word is capitalised
                assert tuple(tokens[start:end]) in chemicals
