"""The ensemble and cascade builders: dev scoring, the weight search, manifests, the output-folder rule."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bioner.evaluation.ensembles import GRID_FILE, best_subsets, dev_split, main, simplex_grid, tune_weights
from bioner.tagging.cascade import CascadeTagger
from bioner.tagging.ensemble import EnsembleTagger
from bioner.tagging.manifests import CASCADE_FILE, ENSEMBLE_FILE
from bioner.tagging.taggers import load_tagger
from metrics.bio_ner.scoring import compute_ner_scores
from tests.fixtures.models import LABELS


def test_the_simplex_grid_covers_every_weight_vector_of_the_step():
    grid = simplex_grid(3, 0.1)
    assert len(grid) == 66 and len(set(grid)) == 66
    assert all(abs(sum(w) - 1) < 1e-9 and min(w) >= 0 for w in grid)
    assert (1.0, 0.0, 0.0) in grid and (0.0, 0.0, 1.0) in grid
    assert len(simplex_grid(2, 0.1)) == 11


def one_hot_scores(tags, sure: float) -> np.ndarray:
    scores = np.full((len(tags), len(LABELS)), np.log((1 - sure) / (len(LABELS) - 1)))
    scores[np.arange(len(tags)), [LABELS.index(t) for t in tags]] = np.log(sure)
    return scores


def test_weight_tuning_gives_the_better_member_the_larger_weight():
    gold = [["B-Chemical", "O", "B-Disease", "I-Disease"], ["O", "B-Chemical"], ["B-Disease"]] * 5
    wrong = [["O"] * len(t) for t in gold]
    good = [one_hot_scores(t, 0.6) for t in gold]  # right, but less sure than the bad member
    bad = [one_hot_scores(t, 0.95) for t in wrong]
    weights, f1, tried = tune_weights([bad, good], gold, LABELS)
    assert weights[1] > weights[0] and f1 == 1.0 and tried == 12
    _, uniform_f1, _ = tune_weights([bad, good], gold, LABELS, step=1.0)  # equal weights, or one member
    assert uniform_f1 == 1.0  # at step 1 the grid is (1, 0) and (0, 1): the good member alone


def test_the_best_ensemble_of_each_size_is_read_from_the_grid():
    gold = [["B-Chemical", "O", "B-Disease", "I-Disease"], ["O", "B-Chemical"], ["B-Disease"]] * 5
    wrong = [["O"] * len(t) for t in gold]
    good = [one_hot_scores(t, 0.6) for t in gold]
    bad = [one_hot_scores(t, 0.95) for t in wrong]
    scored: list = []
    tune_weights([bad, good, bad], gold, LABELS, scored=scored)
    assert len(scored) == 67 and scored[0][0] == pytest.approx([1 / 3] * 3)
    best = best_subsets(scored, ["bad-1", "good", "bad-2"])
    assert set(best) == {"1", "2", "3"}
    assert best["1"] == {"members": ["good"], "weights": [1.0], "f1": 1.0}
    assert "good" in best["2"]["members"] and best["2"]["f1"] == 1.0
    by_hand = max(f1 for weights, f1 in scored if sum(w > 0 for w in weights) == 3)
    assert best["3"]["f1"] == round(by_hand, 4)


def test_build_scores_members_tunes_weights_and_writes_the_manifest(member_a, member_b, tmp_path, capsys):
    output = tmp_path / "ensemble"
    argv = ["build", "--members", str(member_a), str(member_b), "--dataset", "demo", "--max_instances", "12",
            "--output_dir", str(output), "--tune_weights", "--device", "cpu"]  # fmt: skip
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    manifest = json.loads((output / ENSEMBLE_FILE).read_text())
    weights = [m["weight"] for m in manifest["members"]]
    assert sum(weights) == pytest.approx(1.0) and weights == pytest.approx(result["weights"])
    member_f1 = [m["dev_f1"] for m in manifest["members"]]
    assert manifest["dev"]["ensemble_f1"] >= max(member_f1)  # the grid holds each member alone
    assert manifest["labels"] == LABELS and "simplex grid" in manifest["weights_chosen_by"]
    grid = json.loads((output / GRID_FILE).read_text())["grid"]
    assert len(grid) == 12 and max(point["f1"] for point in grid) == manifest["dev"]["ensemble_f1"]
    assert set(manifest["dev"]["best_by_member_count"]) <= {"1", "2"}
    sentences, gold = dev_split("demo", max_instances=12)
    ensemble = load_tagger(str(output), device="cpu")
    assert isinstance(ensemble, EnsembleTagger)
    f1 = compute_ner_scores(ensemble(sentences, progress=False), gold)["strict"]["f1"]
    assert f1 == pytest.approx(manifest["dev"]["ensemble_f1"], abs=1e-4)
    # the output-folder rule: a non-empty folder is refused before anything is scored
    assert main(argv) == 1
    assert "exists and is not empty" in capsys.readouterr().err


def test_build_a_cascade_whose_threshold_routes_the_dev_fraction(member_a, member_b, tmp_path, capsys):
    output = tmp_path / "cascade"
    argv = ["cascade", "--small", str(member_a), "--large", str(member_b), "--dataset", "demo",
            "--max_instances", "12", "--output_dir", str(output), "--fraction", "0.25", "--calibrate",
            "--device", "cpu"]  # fmt: skip
    assert main(argv) == 0
    manifest = json.loads((output / CASCADE_FILE).read_text())
    assert manifest["temperature"] > 0 and manifest["dev"]["routed_fraction"] == 0.25
    cascade = load_tagger(str(output), device="cpu")
    assert isinstance(cascade, CascadeTagger) and cascade.threshold == manifest["threshold"]
    sentences, _ = dev_split("demo", max_instances=12)
    cascade(sentences, progress=False)
    assert cascade.last_stats["cascade_routed"] == 3
    with pytest.raises(SystemExit):  # one of --threshold or --fraction, not both
        main([*argv, "--threshold", "0.5"])
    spans = tmp_path / "span-cascade"
    span_argv = [*argv[: argv.index("--output_dir")], "--output_dir", str(spans), "--fraction", "0.25",
                 "--span_radius", "1", "--span_context", "3", "--device", "cpu"]  # fmt: skip
    assert main(span_argv) == 0
    span_manifest = json.loads((spans / CASCADE_FILE).read_text())
    assert span_manifest["span_radius"] == 1 and span_manifest["span_context"] == 3
    span_cascade = load_tagger(str(spans), device="cpu")
    assert (span_cascade.span_radius, span_cascade.span_context) == (1, 3)
    span_cascade(sentences, progress=False)
    assert span_cascade.last_stats["cascade_routed"] == 3 and "cascade_windows" in span_cascade.last_stats
    bad = ["cascade", "--small", str(member_a), "--large", str(tmp_path / "gone" / "x" / "large"),
           "--dataset", "demo", "--output_dir", str(tmp_path / "c2"), "--threshold", "0.5"]  # fmt: skip
    assert main(bad) == 1
    assert "no such folder" in capsys.readouterr().err
