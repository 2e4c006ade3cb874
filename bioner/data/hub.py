"""Hub datasets of BIO sentences (``tokens`` and ``ner_tags`` columns) read into the project's features.

Publishing datasets and models to the Hub is ``bioner.hub``; a Hub repo of PubTator, BioC or brat files is
converted by ``bioner.corpora.dataset``.
"""

from __future__ import annotations

import logging

import datasets

from bioner.data.conll import Sentence, build_dataset_dict, check_tag
from bioner.data.files import DataFormatError
from bioner.data.splits import SPLITS, canonical_split, missing_splits
from bioner.data.tags import repair_iob2

logger = logging.getLogger("bioner.data.hub")


def _hub_tags(split: datasets.Dataset, where: str) -> list[list[str]]:
    """``ner_tags`` as strings, whether the column holds ClassLabel ids or tag strings."""
    feature = split.features["ner_tags"]
    inner = getattr(feature, "feature", None)
    if isinstance(inner, datasets.ClassLabel):
        return [[inner.int2str(i) for i in row] for row in split["ner_tags"]]
    if isinstance(inner, datasets.Value) and inner.dtype in ("string", "large_string"):
        return [list(row) for row in split["ner_tags"]]
    raise DataFormatError(where, f"ner_tags must be a sequence of ClassLabel ids or strings, found {feature}")


def _hub_sentences(split: datasets.Dataset, where: str, strict_bio: bool) -> list[Sentence]:
    """Validate and IOB2-repair one Hub split; problems are addressed as ``repo[split] row N`` (0-based)."""
    missing = {"tokens", "ner_tags"} - set(split.column_names)
    if missing:
        raise DataFormatError(
            where, f"missing column(s) {sorted(missing)}; the columns are {split.column_names}"
        )
    sentences = []
    repairs = 0
    for row, (tokens, tags) in enumerate(zip(split["tokens"], _hub_tags(split, where), strict=True)):
        if len(tokens) != len(tags) or not all(tokens):
            raise DataFormatError(
                f"{where} row {row}", f"{len(tokens)} tokens, {len(tags)} tags, or an empty token"
            )
        for tag in tags:
            check_tag(tag, f"{where} row {row}")
        changed = repair_iob2(tags)
        if changed and strict_bio:
            raise DataFormatError(
                f"{where} row {row}", f"IOB1 or stray I- tag at token {changed[0]} (strict_bio is on)"
            )
        repairs += len(changed)
        sentences.append((list(tokens), tags))
    if repairs:
        logger.warning("%s: rewrote %d IOB1/stray I- tag(s) to B- (IOB2)", where, repairs)
    return sentences


def load_hub_dataset(repo_id: str, *, strict_bio: bool = False) -> datasets.DatasetDict:
    """Load a Hub dataset with ``tokens``/``ner_tags`` and normalise it to the project's features; its splits
    may use any accepted spelling (``dev`` for validation, see ``bioner.data.splits``)."""
    try:
        raw = datasets.load_dataset(repo_id)
    except (OSError, ValueError) as err:
        raise DataFormatError(
            repo_id,
            f"not a registered name or an existing folder, and loading it as a Hub dataset failed: {err}",
        ) from err
    renamed = {canonical_split(split): ds for split, ds in raw.items()}
    missing = missing_splits(renamed)
    if missing:
        raise DataFormatError(repo_id, f"missing split(s) {missing}; the Hub dataset has {sorted(raw)}")
    return build_dataset_dict(
        {split: _hub_sentences(renamed[split], f"{repo_id}[{split}]", strict_bio) for split in SPLITS}
    )
