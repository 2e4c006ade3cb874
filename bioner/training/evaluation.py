"""Scoring a freshly trained model on dev and test, the same way for encoders and decoder LLMs."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from bioner.data.tags import tag_names
from bioner.evaluation.records import headline, predictions_records
from metrics.bio_ner.scoring import compute_ner_scores

logger = logging.getLogger(__name__)

SPLITS = (("validation", "dev"), ("test", "test"))
"""The dataset splits scored after training, and their names in ``results.json``."""


@dataclass
class SplitResults:
    """Scores, prediction records and timings per split name (``dev``, ``test``)."""

    scores: dict[str, dict] = field(default_factory=dict)
    records: dict[str, list[dict]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    instances: dict[str, int] = field(default_factory=dict)
    tagger_stats: dict[str, dict] = field(default_factory=dict)

    def sentences_per_second(self, name: str) -> float:
        return round(self.instances[name] / self.seconds[name], 1)

    def decode_stats(self) -> dict[str, dict]:
        """Per split: seconds per instance and the tagger's statistics without per-instance lists of
        passes."""
        return {
            name: {
                "seconds_per_instance": round(self.seconds[name] / max(self.instances[name], 1), 4),
                **{key: value for key, value in stats.items() if key != "forward_passes"},
            }
            for name, stats in self.tagger_stats.items()
        }


def evaluate_splits(tagger, dataset, labels: Sequence[str], splits=SPLITS) -> SplitResults:
    """Predict every split with ``tagger`` (whole sentences), score it with the project metric, keep records.

    ``splits`` are ``(dataset split, name)`` pairs, scored in order (the tagger's last call is the last one).
    """
    results = SplitResults()
    for split, name in splits:
        gold = tag_names(dataset[split]["ner_tags"], labels)
        predictions = tagger(dataset[split]["tokens"])
        results.seconds[name], results.instances[name] = tagger.last_seconds, len(gold)
        results.tagger_stats[name] = dict(getattr(tagger, "last_stats", {}))
        results.scores[name] = compute_ner_scores(predictions, gold)
        results.records[name] = predictions_records(
            dataset[split]["id"], dataset[split]["tokens"], gold, predictions
        )
        logger.info("%s: %s", name, headline(results.scores[name]))
    return results


def strict_f1_by_decoding(tagger, gold_test: list[list[str]], test_scores: dict) -> dict[str, float]:
    """Test strict F1 with BIO-valid (Viterbi) and with plain argmax decoding, side by side; the other
    decoding
    re-reads the word scores of the encoder tagger's last call (the test split, see `evaluate_splits`)."""
    chosen = tagger.decoding
    other = "argmax" if chosen == "viterbi" else "viterbi"
    other_f1 = compute_ner_scores(tagger.redecode(other), gold_test)["strict"]["f1"]
    return {chosen: test_scores["strict"]["f1"], other: other_f1}
