"""Dataset statistics in the shape of the seed paper's Table I (sentences) and Table II (test entities).

Entities are counted with the project's single scoring core (``metrics.bio_ner.scoring.extract_entities``)
so that the lengths reported here are exactly the length buckets the evaluation uses.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

import datasets

from bioner.data.conll import label_names
from bioner.data.splits import SPLITS
from metrics.bio_ner.scoring import extract_entities

LENGTH_BINS = ("1", "2", "3+")

# The seed paper's Table I (sentences / instances per split) and Table II (test entities by length in
# tokens, with the percentages as printed there: they are truncated, not rounded, e.g. 2,620 / 8,662 =
# 30.247 -> 30.24).
PAPER_COUNTS: dict[str, dict[str, dict[str, int | float]]] = {
    "jnlpba": {
        "sentences": {"train": 16807, "validation": 1739, "test": 3856},
        "test_entity_lengths": {"1": 3466, "2": 2620, "3+": 2576},
        "test_entity_shares": {"1": 40.01, "2": 30.24, "3+": 29.73},
    },
    "biored": {
        "sentences": {"train": 1051, "validation": 269, "test": 273},
        "test_entity_lengths": {"1": 2525, "2": 411, "3+": 567},
        "test_entity_shares": {"1": 72.08, "2": 11.73, "3+": 16.18},
    },
    "chemprot": {
        "sentences": {"train": 13305, "validation": 3360, "test": 8179},
        "test_entity_lengths": {"1": 1348, "2": 613, "3+": 1023},
        "test_entity_shares": {"1": 45.17, "2": 20.54, "3+": 34.28},
    },
    "bc5cdr": {
        "sentences": {"train": 4560, "validation": 4581, "test": 4797},
        "test_entity_lengths": {"1": 7407, "2": 1438, "3+": 964},
        "test_entity_shares": {"1": 75.51, "2": 14.66, "3+": 9.82},
    },
    "reddit_impacts": {
        "sentences": {"train": 842, "validation": 258, "test": 278},
        "test_entity_lengths": {"1": 28, "2": 7, "3+": 45},
        "test_entity_shares": {"1": 35.0, "2": 8.75, "3+": 56.25},
    },
}


def _length_bin(length: int) -> str:
    return str(length) if length < 3 else "3+"


def dataset_statistics(dsdict: datasets.DatasetDict) -> dict[str, dict]:
    """Sentences, tokens, entities per type and entity-length histogram (1/2/3+ tokens), per split."""
    names = label_names(dsdict)
    stats: dict[str, dict] = {"sentences": {}, "tokens": {}, "entities": {}, "entity_lengths": {}}
    for split, ds in dsdict.items():
        types: Counter[str] = Counter()
        lengths: Counter[str] = Counter()
        tokens = 0
        for row in ds["ner_tags"]:
            tokens += len(row)
            for entity_type, start, end in extract_entities([names[i] for i in row]):
                types[entity_type] += 1
                lengths[_length_bin(end - start)] += 1
        stats["sentences"][split] = len(ds)
        stats["tokens"][split] = tokens
        stats["entities"][split] = dict(sorted(types.items()))
        stats["entity_lengths"][split] = {b: lengths[b] for b in LENGTH_BINS}
    return stats


def _num(n: int | None) -> str:
    return "–" if n is None else f"{n:,}"


def _ours_paper(ours: int, paper: int | None) -> str:
    """``ours / paper``, ours in bold where a paper figure exists and differs (as in the data README)."""
    shown = f"**{ours:,}**" if paper is not None and ours != paper else f"{ours:,}"
    return f"{shown} / {_num(paper)}"


def _share(count: int, total: int) -> str:
    return f"{count:,} ({100 * count / total:.2f}%)" if total else f"{count:,}"


def _paper_share(paper: dict[str, dict[str, int | float]], length_bin: str) -> str:
    return f"{paper['test_entity_lengths'][length_bin]:,} ({paper['test_entity_shares'][length_bin]:.2f}%)"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = [header, ["---"] * len(header), *rows]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def format_table1(stats_by_name: Mapping[str, dict]) -> str:
    """Markdown Table I: sentences per split, ours / paper."""
    rows = []
    for name, stats in stats_by_name.items():
        paper = PAPER_COUNTS.get(name, {}).get("sentences", {})
        rows.append([name, *(_ours_paper(stats["sentences"].get(s, 0), paper.get(s)) for s in SPLITS)])
    header = [
        "dataset",
        "train sents (ours / paper)",
        "dev sents (ours / paper)",
        "test sents (ours / paper)",
    ]
    return _table(header, rows)


def format_table2(stats_by_name: Mapping[str, dict]) -> str:
    """Markdown Table II: test entities and their length-1/2/3+ shares, ours / paper."""
    rows = []
    for name, stats in stats_by_name.items():
        ours = stats["entity_lengths"].get("test", {})
        paper = PAPER_COUNTS.get(name)
        ours_total = sum(ours.values())
        paper_total = sum(paper["test_entity_lengths"].values()) if paper else None
        cells = [name, _ours_paper(ours_total, paper_total)]
        for b in LENGTH_BINS:
            paper_cell = _paper_share(paper, b) if paper else "–"
            cells.append(f"{_share(ours.get(b, 0), ours_total)} / {paper_cell}")
        rows.append(cells)
    header = ["dataset", "test entities (ours / paper)"]
    header += [f"length {b} (ours / paper)" for b in LENGTH_BINS]
    return _table(header, rows)
