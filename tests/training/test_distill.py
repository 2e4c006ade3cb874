"""Distillation: the leakage-filtered pool, teacher labels (soft, hard, cached), the loss, and the student."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from datasets import DatasetDict
from transformers import AutoTokenizer, TrainingArguments

import train_encoder
from bioner.corpora.pool import build_pool, evaluation_pmids, normalise_sentence
from bioner.data.conll import build_dataset_dict, label_names
from bioner.data.text import detokenize
from bioner.decoding.windows import WordEncoder, word_log_probs
from bioner.models.errors import ModelLoadError
from bioner.models.token_llm import TokenLLMArguments
from bioner.tagging.manifests import ENSEMBLE_FILE, member_entry, write_manifest
from bioner.training.distill import (
    HARD_LOG_ZERO,
    DistillArguments,
    DistillCollator,
    dataset_pool,
    distillation_card_section,
    distillation_loss,
    label_order,
    student_trainer,
    teacher_fingerprint,
    teacher_labels,
)
from bioner.training.encoder import load_token_model
from tests.fixtures.ensembles import save_token_classifier
from tests.fixtures.models import LABELS

TRAINING = [
    "--use_cpu", "--eval_strategy", "no", "--save_strategy", "no", "--load_best_model_at_end", "false",
    "--disable_tqdm", "true", "--report_to", "none", "--logging_steps", "1000",
]  # fmt: skip


def write_pubtator(path: Path, documents: dict[str, list[list[str]]]) -> Path:
    """A PubTator file: each document's title is its first sentence, its abstract the others."""
    lines = []
    for pmid, sentences in documents.items():
        lines.append(f"{pmid}|t|{detokenize(sentences[0])[0]}")
        lines.append(f"{pmid}|a|{' '.join(detokenize(s)[0] for s in sentences[1:])}")
        lines.append("")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def demo(demo_splits) -> DatasetDict:
    return build_dataset_dict(demo_splits)


@pytest.fixture(scope="module")
def pool_file(tmp_path_factory, demo_splits) -> Path:
    """Ten documents of three demo training sentences each (PMIDs 1000-1009)."""
    train = [tokens for tokens, _ in demo_splits["train"]]
    documents = {str(1000 + d): train[3 * d : 3 * d + 3] for d in range(10)}
    return write_pubtator(tmp_path_factory.mktemp("pool") / "pool.PubTator", documents)


class WordTableTeacher:
    """A soft teacher whose distribution depends on each word alone (a seeded random table)."""

    def __init__(self, labels=LABELS):
        self.labels = list(labels)
        self.calls = 0

    def scores(self, word: str) -> np.ndarray:
        rng = np.random.default_rng(sum(map(ord, word.lower())))
        logits = 3.0 * rng.standard_normal(len(self.labels))
        return logits - np.logaddexp.reduce(logits)

    def word_log_probs(self, sentences):
        self.calls += 1
        return [np.stack([self.scores(w) for w in words]) for words in sentences]


class HardTeacher:
    """A generative-style teacher: labels and tags only (every capitalised word a Chemical)."""

    labels = ["O", "B-Chemical", "I-Chemical", "B-Disease", "I-Disease"]

    def __call__(self, sentences):
        return [["B-Chemical" if w[:1].isupper() else "O" for w in words] for words in sentences]


def test_leakage_filter_drops_planted_pmid_and_test_sentence(tmp_path, demo):
    test_sentence = list(demo["test"][0]["tokens"])
    other = [list(demo["train"][i]["tokens"]) for i in range(4)]
    source = write_pubtator(
        tmp_path / "pool.PubTator",
        {"111": [other[0], other[1]], "222": [other[2], test_sentence], "333": [other[3]]},
    )
    gold = write_pubtator(tmp_path / "gold.PubTator", {"111": [other[0]]})
    dataset = DatasetDict({"validation": demo["validation"], "test": demo["test"]})
    pool, report = dataset_pool(str(source), 100, dataset, "split", [str(gold)])
    assert [s.words for s in pool] == [tuple(other[2]), tuple(other[3])]
    assert (report.dropped_pmid, report.dropped_text, report.sentences) == (2, 1, 2)
    assert report.excluded_pmids == 1 and report.exhausted
    # The same sentence cut into words differently, upper case, is still the test sentence.
    assert normalise_sentence(["".join(test_sentence).upper()]) == normalise_sentence(test_sentence)
    # A smaller pool is a prefix of a larger one.
    smaller, _ = build_pool(source, 1, exclude_pmids={"111"}, exclude_sentences=[test_sentence])
    assert [s.words for s in smaller] == [tuple(other[2])]


def test_a_release_folder_gives_its_dev_and_test_pmids(tmp_path, demo):
    words = list(demo["train"][0]["tokens"])
    for split, pmid in (("train", "1"), ("dev", "2"), ("test", "3")):
        write_pubtator(tmp_path / f"{split}.PubTator", {pmid: [words]})
    assert evaluation_pmids([tmp_path]) == {"2", "3"}


def test_label_sets_must_match_and_are_reordered():
    assert label_order(["O", "B-X", "I-X"], ["B-X", "I-X", "O"], "t") == [1, 2, 0]
    with pytest.raises(ModelLoadError, match="only the teacher has \\['B-Gene'\\]"):
        label_order(["O", "B-Gene"], ["O", "B-X"], "t")


def test_teacher_labels_are_cached_and_reused_without_the_teacher(tmp_path, pool_file):
    pool, report = build_pool(pool_file, 12)
    teacher = WordTableTeacher()
    student_labels = sorted(LABELS)  # another order than the teacher's
    first = teacher_labels(
        "table-teacher", pool, report, tmp_path, student_labels, load=lambda _: teacher, chunk=5
    )
    assert teacher.calls == 3 and not first.reused and first.kind == "soft"
    folder = first.cache_dir
    assert sorted(p.name for p in folder.iterdir()) == ["log_probs.npy", "pool.jsonl", "teacher.json"]
    assert np.load(folder / "log_probs.npy").dtype == np.float16
    meta = json.loads((folder / "teacher.json").read_text())
    assert meta["pool_size"] == 12 and meta["labels"] == LABELS and meta["leakage"]["sentences"] == 12

    def no_teacher(_):
        raise AssertionError("the teacher was loaded although its labels are cached")

    second = teacher_labels("table-teacher", pool, report, tmp_path, student_labels, load=no_teacher)
    assert second.reused and second.cache_dir == folder
    word = pool[0].words[0]
    expected = teacher.scores(word)[[LABELS.index(label) for label in student_labels]]
    np.testing.assert_allclose(second.log_probs[0][0], expected, atol=1e-2)  # float16 on disk
    assert [len(x) for x in second.log_probs] == [len(s.words) for s in pool]
    # A smaller pool from the same source is cut from the larger cached one: still no teacher.
    smaller, small_report = build_pool(pool_file, 5)
    third = teacher_labels("table-teacher", smaller, small_report, tmp_path, student_labels, load=no_teacher)
    assert third.reused and third.cache_dir == folder and third.meta["pool_size"] == 5
    np.testing.assert_array_equal(third.log_probs[4], second.log_probs[4])


def test_a_teacher_backend_reaches_the_loader_and_keys_its_own_cache(tmp_path, pool_file):
    pool, report = build_pool(pool_file, 4)
    teacher, asked = WordTableTeacher(), []

    def load(name, **options):
        asked.append(options)
        return teacher

    fp32 = teacher_labels("table-teacher", pool, report, tmp_path, LABELS, load=load)
    bf16 = teacher_labels("table-teacher", pool, report, tmp_path, LABELS, load=load, backend="torch-bf16")
    assert asked == [{}, {"backend": "torch-bf16"}]  # torch: the loader's default, not an option
    assert not bf16.reused and bf16.cache_dir != fp32.cache_dir
    assert json.loads((bf16.cache_dir / "teacher.json").read_text())["teacher_backend"] == "torch-bf16"
    again = teacher_labels("table-teacher", pool, report, tmp_path, LABELS, load=load, backend="torch-bf16")
    assert again.reused and again.cache_dir == bf16.cache_dir and len(asked) == 2


def test_a_hard_label_teacher_gives_one_hot_labels(tmp_path, pool_file):
    pool, report = build_pool(pool_file, 3)
    labels = teacher_labels("hard", pool, report, tmp_path, LABELS, load=lambda _: HardTeacher())
    assert labels.kind == "hard"
    words = pool[0].words
    chosen = [LABELS[i] for i in labels.log_probs[0].argmax(axis=1)]
    assert chosen == HardTeacher()([words])[0]
    assert set(np.unique(labels.log_probs[0]).round()) == {0.0, round(HARD_LOG_ZERO)}


def test_the_loss_is_gold_cross_entropy_plus_scaled_kl():
    torch.manual_seed(0)
    logits = torch.randn(1, 4, 3)
    labels = torch.tensor([[1, -100, -100, -100]])
    teacher = torch.log_softmax(torch.randn(1, 4, 3), dim=-1)
    mask = torch.tensor([[False, False, True, True]])
    alpha, t = 0.5, 2.0
    ce = torch.nn.functional.cross_entropy(logits[0, :1], labels[0, :1])
    p = torch.softmax(teacher[0, 2:] / t, dim=-1)
    kl = (p * (p.log() - torch.log_softmax(logits[0, 2:] / t, dim=-1))).sum(-1).mean()
    loss = distillation_loss(logits, labels, teacher, mask, alpha, t)
    torch.testing.assert_close(loss, ce + alpha * t * t * kl)


def test_the_collator_puts_teacher_rows_at_first_subwords(tiny_bert):
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    features = [
        {"input_ids": [2, 7, 8, 3], "attention_mask": [1] * 4, "labels": [-100] * 4,
         "teacher_positions": [1, 2], "teacher_log_probs": [[0.0, -1.0], [-2.0, -3.0]]},
        {"input_ids": [2, 9, 3], "attention_mask": [1] * 3, "labels": [-100, 1, -100],
         "teacher_positions": [], "teacher_log_probs": []},
    ]  # fmt: skip
    batch = DistillCollator(tokenizer, 2)(features)
    assert batch["teacher_mask"].tolist() == [[False, True, True, False], [False] * 4]
    assert batch["teacher_log_probs"][0, 2].tolist() == [-2.0, -3.0] and batch["labels"][1, 3] == -100


def mean_kl(model, tokenizer, teacher, sentences) -> float:
    student = word_log_probs(model.eval(), tokenizer, sentences, progress=False)
    total, words = 0.0, 0
    for words_, scores in zip(sentences, student, strict=True):
        target = np.stack([teacher.scores(w) for w in words_])
        total += float((np.exp(target) * (target - scores)).sum())
        words += len(words_)
    return total / words


def test_distillation_moves_the_student_towards_the_teacher(tmp_path, tiny_bert, demo, pool_file):
    labels = label_names(demo["train"])
    model, tokenizer, _ = load_token_model(str(tiny_bert), TokenLLMArguments(), labels)
    teacher = WordTableTeacher(labels)
    args = DistillArguments(
        teacher="table", pool=str(pool_file), pool_size=24, distill_alpha=1.0, distill_temperature=1.0,
        teacher_cache_dir=str(tmp_path / "cache"),
    )  # fmt: skip
    training_args = TrainingArguments(
        output_dir=str(tmp_path / "run"), max_steps=15, learning_rate=1e-2, per_device_train_batch_size=8,
        use_cpu=True, eval_strategy="no", save_strategy="no", report_to="none", disable_tqdm=True, seed=0,
    )  # fmt: skip
    gold = DatasetDict({**demo, "train": demo["train"].select(range(4))})
    encoder = WordEncoder(tokenizer, 64, 16)
    trainer, _, facts = student_trainer(
        model, tokenizer, training_args, encoder, gold, labels, "viterbi", 3, args, "split",
        load=lambda _: teacher,
    )  # fmt: skip
    assert len(trainer.train_dataset) > 24  # gold and pool windows together
    sentences, _ = build_pool(pool_file, 24)
    pool_words = [list(s.words) for s in sentences]
    before = mean_kl(model, tokenizer, teacher, pool_words)
    trainer.train()
    after = mean_kl(trainer.model, tokenizer, teacher, pool_words)
    assert after < 0.8 * before, (before, after)
    assert facts["distillation"]["pool_size"] == 24 and facts["distillation"]["teacher_label_kind"] == "soft"
    assert "KL(teacher ∥ student)" in distillation_card_section(facts)


def test_train_encoder_distils_and_records_the_run(tmp_path, tiny_bert, member_a, pool_file):
    common = [
        "--model_name_or_path", str(tiny_bert), "--dataset", "demo", "--max_train_samples", "8",
        "--max_eval_samples", "8", "--max_steps", "3", "--teacher", str(member_a), "--pool", str(pool_file),
        "--pool_size", "10", "--teacher_cache_dir", str(tmp_path / "cache"), "--distill_alpha", "0.5",
        "--distill_temperature", "2", *TRAINING,
    ]  # fmt: skip
    first = train_encoder.main([*common, "--output_dir", str(tmp_path / "a")])["meta"]["distillation"]
    second = train_encoder.main([*common, "--output_dir", str(tmp_path / "b")])["meta"]["distillation"]
    assert (first["teacher_cache_reused"], second["teacher_cache_reused"]) == (False, True)
    results = json.loads((tmp_path / "b" / "results.json").read_text())["meta"]["distillation"]
    assert (
        results["pool_size"] == 10
        and results["distill_alpha"] == 0.5
        and results["teacher"].endswith("member-a")
    )
    assert results["leakage_dropped_pmid"] == 0 and "leakage_dropped_text" in results


def test_train_encoder_refuses_a_teacher_with_other_labels(tmp_path, tiny_bert, pool_file):
    teacher = save_token_classifier(tiny_bert, tmp_path / "gene-teacher", ["O", "B-Gene", "I-Gene"], seed=3)
    with pytest.raises(SystemExit, match="--teacher .*gene-teacher: its labels differ"):
        train_encoder.main(
            ["--model_name_or_path", str(tiny_bert), "--dataset", "demo", "--max_train_samples", "4",
             "--teacher", str(teacher), "--pool", str(pool_file), "--pool_size", "3",
             "--teacher_cache_dir", str(tmp_path / "cache"), "--output_dir", str(tmp_path / "run"), *TRAINING]
        )  # fmt: skip


def test_train_encoder_refuses_an_unknown_teacher_backend(tmp_path, tiny_bert, pool_file):
    with pytest.raises(SystemExit, match="--teacher_backend 'tpu': one of torch"):
        train_encoder.main(
            ["--model_name_or_path", str(tiny_bert), "--dataset", "demo", "--max_train_samples", "4",
             "--teacher", str(tiny_bert), "--teacher_backend", "tpu", "--pool", str(pool_file),
             "--teacher_cache_dir", str(tmp_path / "cache"), "--output_dir", str(tmp_path / "run"), *TRAINING]
        )  # fmt: skip
    assert not (tmp_path / "cache").exists()


def test_an_ensemble_teacher_is_new_when_a_member_is_retrained(tmp_path, member_a, member_b):
    member = Path(shutil.copytree(member_a, tmp_path / "member"))
    folder = tmp_path / "ensemble"
    members = [member_entry(str(member), folder), member_entry(str(member_b), folder)]
    write_manifest(folder, ENSEMBLE_FILE, {"kind": "ensemble", "members": members, "labels": LABELS})
    before = teacher_fingerprint(str(folder))
    assert teacher_fingerprint(str(folder)) == before
    weights = member / "model.safetensors"
    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 10**9))
    assert teacher_fingerprint(str(folder)) != before  # the manifest file itself did not change


def test_a_teacher_is_the_same_after_an_onnx_export_or_a_rescoring(tmp_path, member_a):
    member = Path(shutil.copytree(member_a, tmp_path / "member"))
    before = teacher_fingerprint(str(member))
    (member / "onnx").mkdir()
    (member / "onnx" / "model_int8.onnx").write_bytes(b"derived")
    (member / "results.json").write_text("{}")
    (member / "predictions_test.jsonl").write_text("")
    assert teacher_fingerprint(str(member)) == before
    (member / "config.json").write_text((member / "config.json").read_text() + " ")
    assert teacher_fingerprint(str(member)) != before
