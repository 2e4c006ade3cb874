"""Ensembles of token classifiers: the weighted word-level mean, label orders, manifests, scripts, the Hub."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import evaluate_ner
from bioner.decoding.viterbi import decode_tags
from bioner.models.errors import ModelLoadError
from bioner.tagging.ensemble import EnsembleTagger, common_word_style, save_ensemble
from bioner.tagging.manifests import ENSEMBLE_FILE, manifest_card, member_entry
from bioner.tagging.taggers import load_tagger
from tests.fixtures.ensembles import save_token_classifier
from tests.fixtures.models import LABELS
from tests.helpers import run_python

SENTENCES = [
    ["Cisplatin", "induced", "nephrotoxicity", "in", "rats", "."],
    ["Naloxone", "reverses", "the", "antihypertensive", "effect", "of", "clonidine", "."],
    ["Lithium"],
    [],
]


def hand_average(scores_a, scores_b, weight_a: float, weight_b: float) -> list[np.ndarray]:
    """The weighted mean of two members' word log-probabilities, renormalised per word (torch, not numpy)."""
    return [
        torch.log_softmax(
            weight_a * torch.tensor(a.copy()) + weight_b * torch.tensor(b.copy()), dim=-1
        ).numpy()
        for a, b in zip(scores_a, scores_b, strict=True)
    ]


def test_the_ensemble_is_the_weighted_mean_of_its_members_decoded_by_viterbi(member_a, member_b):
    a, b = load_tagger(str(member_a), device="cpu"), load_tagger(str(member_b), device="cpu")
    ensemble = EnsembleTagger([a, b], ["a", "b"], [1.0, 3.0])  # normalised to 0.25 / 0.75
    assert ensemble.weights == [0.25, 0.75]
    expected = hand_average(a.word_log_probs(SENTENCES), b.word_log_probs(SENTENCES), 0.25, 0.75)
    scores = ensemble.word_log_probs(SENTENCES)
    for got, want in zip(scores, expected, strict=True):
        np.testing.assert_allclose(got, want, atol=1e-5)
    np.testing.assert_allclose(np.exp(scores[0]).sum(axis=-1), 1.0, atol=1e-6)
    tags = ensemble(SENTENCES, progress=False)
    assert tags == [decode_tags(s, LABELS, "viterbi") for s in expected]
    assert [len(t) for t in tags] == [len(s) for s in SENTENCES]
    # the members disagree somewhere, so the mean is not just one of them
    assert a(SENTENCES, progress=False) != b(SENTENCES, progress=False)
    assert ensemble.redecode("argmax") == [decode_tags(s, LABELS, "argmax") for s in expected]
    probs = ensemble.last_tag_probs
    assert probs[0][0] == pytest.approx(np.exp(expected[0][0][LABELS.index(tags[0][0])]), abs=1e-4)
    assert ensemble.last_seconds > 0 and set(ensemble.last_stats["member_seconds"]) == {"a", "b"}


def test_members_listing_labels_in_other_orders_are_mapped_to_one(member_a, member_reversed):
    a = load_tagger(str(member_a), device="cpu")
    reversed_tagger = load_tagger(str(member_reversed), device="cpu")
    assert reversed_tagger.labels == LABELS[::-1]
    ensemble = EnsembleTagger([a, reversed_tagger], ["a", "roberta"])
    assert ensemble.labels == LABELS
    mapped = [s[:, ::-1] for s in reversed_tagger.word_log_probs(SENTENCES)]
    expected = hand_average(a.word_log_probs(SENTENCES), mapped, 0.5, 0.5)
    for got, want in zip(ensemble.word_log_probs(SENTENCES), expected, strict=True):
        np.testing.assert_allclose(got, want, atol=1e-5)
    other_order = EnsembleTagger([reversed_tagger, a], ["roberta", "a"])
    assert other_order.labels == LABELS[::-1]
    assert other_order(SENTENCES, progress=False) == ensemble(SENTENCES, progress=False)


def test_members_with_other_labels_or_without_word_scores_are_refused(
    member_a, tiny_bert, tmp_path, untrained_decoder
):
    a = load_tagger(str(member_a), device="cpu")
    other = save_token_classifier(
        tiny_bert, tmp_path / "chemicals", ["O", "B-Chemical", "I-Chemical"], seed=4
    )
    with pytest.raises(ModelLoadError, match="'a' and 'chemicals' have different label sets") as error:
        EnsembleTagger([a, load_tagger(str(other), device="cpu")], ["a", "chemicals"])
    assert "\n" not in str(error.value)
    decoder = load_tagger(str(untrained_decoder), device="cpu")
    with pytest.raises(ModelLoadError, match="member 'llm' is a generative tagger") as error:
        EnsembleTagger([a, decoder], ["a", "llm"])
    assert "\n" not in str(error.value)
    with pytest.raises(ModelLoadError, match="2 weights for 1 members"):
        EnsembleTagger([a], ["a"], [0.5, 0.5])


def test_members_must_cut_words_the_same_way():
    split, bert = SimpleNamespace(word_style="split"), SimpleNamespace(word_style="bert")
    assert common_word_style([split, SimpleNamespace(word_style=None)], ["x", "y"]) == "split"
    with pytest.raises(ModelLoadError, match="different word styles"):
        common_word_style([split, bert], ["x", "y"])


def test_members_near_the_manifest_are_stored_relative_far_ones_absolute(tmp_path):
    (tmp_path / "runs" / "minilm").mkdir(parents=True)
    assert member_entry(str(tmp_path / "runs" / "minilm"), tmp_path / "runs" / "ens") == {"path": "../minilm"}
    far = tmp_path / "a" / "b" / "c" / "ens"
    assert member_entry(str(tmp_path / "runs" / "minilm"), far) == {"path": str(tmp_path / "runs" / "minilm")}
    assert member_entry("org/model", far) == {"model": "org/model"}


def test_a_manifest_folder_round_trips_through_load_tagger(member_a, member_b, tmp_path):
    folder = member_a.parent.parent / "ensemble-ab"  # near the members: stored by relative paths
    save_ensemble(folder, [str(member_a), str(member_b)], [0.3, 0.7], LABELS, weights_chosen_by="given")
    manifest = json.loads((folder / ENSEMBLE_FILE).read_text())
    assert [m["path"] for m in manifest["members"]] == [
        f"../{member_a.parent.name}/member-a",
        f"../{member_b.parent.name}/member-b",
    ]
    loaded = load_tagger(str(folder), device="cpu", batch_size=2)
    assert isinstance(loaded, EnsembleTagger) and loaded.weights == pytest.approx([0.3, 0.7])
    assert all(member.batch_size == 2 for member in loaded.members)  # the caller's options reach members
    direct = EnsembleTagger(
        [load_tagger(str(member_a), device="cpu"), load_tagger(str(member_b), device="cpu")],
        ["a", "b"],
        [3, 7],
    )
    assert loaded(SENTENCES, progress=False) == direct(SENTENCES, progress=False)
    with pytest.raises(FileExistsError, match="not empty"):
        save_ensemble(folder, [str(member_a)], [1.0], LABELS)
    assert "| 0.3 |" in manifest_card(folder, "org/ens")


def test_a_missing_or_generative_member_is_a_one_line_error(member_a, tmp_path, untrained_decoder):
    folder = tmp_path / "ensemble"
    save_ensemble(folder, [str(member_a), str(untrained_decoder)], [0.5, 0.5], LABELS)
    with pytest.raises(ModelLoadError, match="is a generative tagger") as error:
        load_tagger(str(folder), device="cpu")
    assert "\n" not in str(error.value)
    manifest = json.loads((folder / ENSEMBLE_FILE).read_text())
    manifest["members"][1] = {"path": "../gone", "weight": 0.5}
    (folder / ENSEMBLE_FILE).write_text(json.dumps(manifest))
    with pytest.raises(ModelLoadError, match="member folder '../gone' not found") as error:
        load_tagger(str(folder), device="cpu")
    assert "\n" not in str(error.value)


def test_evaluate_ner_scores_an_ensemble_folder(member_a, member_b, tmp_path):
    folder = tmp_path / "ensemble"
    save_ensemble(folder, [str(member_a), str(member_b)], [0.5, 0.5], LABELS)
    result = evaluate_ner.main(
        ["--model", str(folder), "--dataset", "demo", "--max_instances", "6", "--output_dir",
         str(tmp_path / "eval"), "--batch_size", "4"]
    )  # fmt: skip
    assert result["meta"]["instances"] == 6
    records = [
        json.loads(line) for line in (tmp_path / "eval" / "predictions.jsonl").read_text().splitlines()
    ]
    ensemble = load_tagger(str(folder), device="cpu")
    assert [r["pred"] for r in records] == ensemble([r["tokens"] for r in records], progress=False)


def test_an_ensemble_pushed_to_the_hub_loads_by_repo_id(fake_hub, member_a, member_b, tmp_path):
    folder = tmp_path / "ensemble"
    save_ensemble(folder, ["testorg/member-a", "testorg/member-b"], [0.4, 0.6], LABELS)
    local = tmp_path / "local-ensemble"
    save_ensemble(local, [str(member_a), str(member_b)], [0.4, 0.6], LABELS)
    push = (
        "from pathlib import Path\nfrom bioner.hub import push_model_folder\n"
        f"push_model_folder(Path({str(member_a)!r}), 'testorg/member-a', '# a')\n"
        f"push_model_folder(Path({str(member_b)!r}), 'testorg/member-b', '# b')\n"
    )
    env = fake_hub.env(tmp_path / "pusher")
    run_python(["-c", push], env)
    out = run_python(["-m", "bioner.hub", "push-manifest", str(folder), "testorg/ensemble"], env)
    assert out.stdout.strip() == f"{fake_hub.endpoint}/testorg/ensemble"
    files = fake_hub.store.files("testorg/ensemble")
    assert {ENSEMBLE_FILE, "README.md"} <= set(files) and b"testorg/member-a" in files["README.md"]
    refused = run_python(["-m", "bioner.hub", "push-manifest", str(local), "testorg/x"], env, check=False)
    assert refused.returncode == 1 and "points at local folders" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    load = (
        "import json\nfrom bioner.tagging.taggers import load_tagger\n"
        "t = load_tagger('testorg/ensemble', device='cpu')\n"
        f"print(json.dumps(t({SENTENCES!r}, progress=False)))"
    )
    remote = json.loads(
        run_python(["-c", load], fake_hub.env(tmp_path / "loader")).stdout.strip().splitlines()[-1]
    )
    assert remote == load_tagger(str(local), device="cpu")(SENTENCES, progress=False)
