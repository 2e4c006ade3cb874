"""Dev/test scoring after training: one path for encoders and decoders, timings and tagger statistics kept."""

from __future__ import annotations

import datasets
import pytest

from bioner.training.evaluation import SplitResults, evaluate_splits, strict_f1_by_decoding

LABELS = ["O", "B-Chemical", "I-Chemical"]


def _dataset() -> datasets.DatasetDict:
    features = datasets.Features(
        {
            "id": datasets.Value("string"),
            "tokens": datasets.Sequence(datasets.Value("string")),
            "ner_tags": datasets.Sequence(datasets.ClassLabel(names=LABELS)),
        }
    )
    rows = {
        "validation": [("d1", ["Aspirin", "works"], [1, 0])],
        "test": [("t1", ["Sodium", "chloride", "."], [1, 2, 0]), ("t2", ["No", "."], [0, 0])],
    }
    return datasets.DatasetDict(
        {
            split: datasets.Dataset.from_dict(
                {
                    "id": [r[0] for r in data],
                    "tokens": [r[1] for r in data],
                    "ner_tags": [r[2] for r in data],
                },
                features=features,
            )
            for split, data in rows.items()
        }
    )


class FakeTagger:
    """Tags every first word B-Chemical; counts its calls like a decoder tagger."""

    decoding = "viterbi"

    def __init__(self):
        self.calls = []

    def __call__(self, sentences):
        self.calls.append(len(sentences))
        self.last_seconds = 0.5 * len(sentences)
        self.last_stats = {"forward_passes": [1] * len(sentences), "windowed_instances": 0}
        self._tags = [["B-Chemical"] + ["O"] * (len(words) - 1) for words in sentences]
        return self._tags

    def redecode(self, decoding):
        return [["O"] * len(tags) for tags in self._tags]


def test_dev_then_test_are_scored_with_records_and_timings():
    tagger = FakeTagger()
    results = evaluate_splits(tagger, _dataset(), LABELS)
    assert tagger.calls == [1, 2]  # dev first: the tagger's last call is the test split
    assert results.scores["dev"]["strict"]["f1"] == 1.0
    assert results.scores["test"]["strict"]["f1"] == 0.0  # "Sodium chloride" is one entity, not "Sodium"
    assert results.records["test"][0] == {
        "id": "t1",
        "tokens": ["Sodium", "chloride", "."],
        "gold": ["B-Chemical", "I-Chemical", "O"],
        "pred": ["B-Chemical", "O", "O"],
    }
    assert results.sentences_per_second("test") == 2.0
    assert results.decode_stats() == {
        "dev": {"seconds_per_instance": 0.5, "windowed_instances": 0},
        "test": {"seconds_per_instance": 0.5, "windowed_instances": 0},
    }


def test_a_tagger_without_statistics_gets_timings_only():
    results = SplitResults(seconds={"test": 2.0}, instances={"test": 0}, tagger_stats={"test": {}})
    assert results.decode_stats() == {"test": {"seconds_per_instance": 2.0}}


def test_strict_f1_by_decoding_rereads_the_last_call():
    tagger = FakeTagger()
    dataset = _dataset()
    results = evaluate_splits(tagger, dataset, LABELS, splits=(("validation", "dev"),))
    gold = [["B-Chemical", "O"]]
    by_decoding = strict_f1_by_decoding(tagger, gold, results.scores["dev"])
    assert by_decoding == {"viterbi": pytest.approx(1.0), "argmax": 0.0}
