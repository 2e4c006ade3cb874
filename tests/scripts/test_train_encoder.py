"""train_encoder.py and evaluate_ner.py end to end on a tiny random BERT (seconds, CPU)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import evaluate_ner
import train_encoder
from bioner.data.conll import write_conll
from tests.helpers import ROOT

FAST = [
    "--use_cpu",
    "--per_device_train_batch_size",
    "8",
    "--logging_steps",
    "1000",
    "--disable_tqdm",
    "true",
]


@pytest.fixture(scope="module")
def tagged_subset(tmp_path_factory, demo_splits) -> Path:
    """16 demo sentences with entities as train = dev = test, for overfitting."""
    directory = tmp_path_factory.mktemp("subset")
    sentences = [s for s in demo_splits["train"] if any(tag != "O" for tag in s[1])][:16]
    for split in ("train", "dev", "test"):
        write_conll(sentences, directory / f"{split}.tsv")
    return directory


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, tiny_bert) -> Path:
    output = tmp_path_factory.mktemp("run")
    args = ["--model_name_or_path", str(tiny_bert), "--dataset", "demo", "--output_dir", str(output)]
    train_encoder.main(
        args
        + [
            "--num_train_epochs",
            "2",
            "--learning_rate",
            "1e-3",
            "--train_sampling_strategy",
            "group_by_length",
            *FAST,
        ]
    )
    return output


def test_training_writes_model_results_predictions_and_report(trained_run, demo_splits):
    results = json.loads((trained_run / "results.json").read_text())
    assert set(results) == {"dev", "test", "meta"}
    assert results["meta"]["world_size"] == 1
    assert results["meta"]["eval_backend"] == "torch"
    assert len(results["meta"]["epoch_train_seconds"]) == 2
    assert set(results["meta"]["test_strict_f1_by_decoding"]) == {"viterbi", "argmax"}
    assert results["test"]["strict"]["f1"] == results["meta"]["test_strict_f1_by_decoding"]["viterbi"]
    config = json.loads((trained_run / "config.json").read_text())
    assert config["id2label"]["0"] == "O" and len(config["id2label"]) == 5
    records = [json.loads(line) for line in (trained_run / "predictions_test.jsonl").read_text().splitlines()]
    assert len(records) == len(demo_splits["test"])
    assert [r["tokens"] for r in records] == [tokens for tokens, _ in demo_splits["test"]]
    assert all(len(r["pred"]) == len(r["tokens"]) == len(r["gold"]) for r in records)
    assert (
        "Length 3+" in (trained_run / "report.md").read_text()
        or "3+" in (trained_run / "report.md").read_text()
    )
    assert (trained_run / "f1_by_length.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_evaluate_ner_reproduces_training_scores(trained_run, tmp_path):
    from_model = evaluate_ner.main(
        ["--model", str(trained_run), "--dataset", "demo", "--output_dir", str(tmp_path / "m")]
    )
    saved = json.loads((trained_run / "results.json").read_text())["test"]
    assert from_model["scores"]["strict"] == saved["strict"]
    assert from_model["scores"]["by_length"] == saved["by_length"]
    for name in ("results.json", "predictions.jsonl", "report.md", "f1_by_length.png"):
        assert (tmp_path / "m" / name).stat().st_size > 0
    from_file = evaluate_ner.main(
        ["--predictions", str(trained_run / "predictions_test.jsonl"), "--output_dir", str(tmp_path / "p")]
    )
    assert from_file["scores"] == saved


def test_a_bf16_run_is_scored_under_bf16_autocast(tiny_bert, tmp_path):
    """Trained with --bf16, scored as the Trainer evaluates it: the final dev/test scores come from bf16
    autocast, say so, and equal evaluate_ner.py --backend torch-bf16 where the CPU runs bf16 natively."""
    from bioner.models.precision import cpu_has_fast_bf16

    run = str(tmp_path / "run")
    args = ["--model_name_or_path", str(tiny_bert), "--dataset", "demo", "--output_dir", run]
    result = train_encoder.main(args + ["--num_train_epochs", "1", "--bf16", "true", *FAST])
    assert result["meta"]["eval_backend"] == "torch-bf16"
    if cpu_has_fast_bf16():  # elsewhere evaluate_ner refuses torch-bf16 (a ~40x slower fallback)
        again = evaluate_ner.main(
            ["--model", str(tmp_path / "run"), "--dataset", "demo", "--backend", "torch-bf16",
             "--output_dir", str(tmp_path / "eval")]
        )  # fmt: skip
        assert again["scores"]["strict"] == result["scores"]["test"]["strict"]


def test_dev_split_alias_and_instance_limit(trained_run, tmp_path):
    result = evaluate_ner.main(
        [
            "--model",
            str(trained_run),
            "--dataset",
            "demo",
            "--split",
            "dev",
            "--max_instances",
            "7",
            "--output_dir",
            str(tmp_path),
        ]
    )
    assert result["meta"]["split"] == "validation" and result["scores"]["num_sentences"] == 7


@pytest.mark.parametrize("max_seq_length", [512, 12])
def test_overfits_a_few_sentences_even_when_windowed(tiny_bert, tagged_subset, tmp_path, max_seq_length):
    """Label alignment is right if the model can learn its own training sentences, windows included."""
    args = [
        "--model_name_or_path",
        str(tiny_bert),
        "--dataset",
        str(tagged_subset),
        "--output_dir",
        str(tmp_path),
    ]
    args += [
        "--num_train_epochs",
        "40",
        "--learning_rate",
        "3e-3",
        "--warmup_steps",
        "0.1",
        "--max_seq_length",
        str(max_seq_length),
    ]
    args += ["--eval_strategy", "no", "--save_strategy", "no", "--load_best_model_at_end", "false", *FAST[:1]]
    args += ["--per_device_train_batch_size", "4", "--stride", "4"]
    result = train_encoder.main(args)
    assert result["scores"]["test"]["strict"]["f1"] >= 0.95


def test_early_stopping_stops_when_dev_does_not_improve(tiny_bert, tmp_path):
    args = ["--model_name_or_path", str(tiny_bert), "--dataset", "demo", "--output_dir", str(tmp_path)]
    result = train_encoder.main(
        args + ["--num_train_epochs", "10", "--learning_rate", "0", "--early_stopping_patience", "1", *FAST]
    )
    assert result["meta"]["epochs_run"] == 2  # epoch 1 sets the best score, epoch 2 fails to beat it
    assert result["meta"]["best_checkpoint"].endswith("checkpoint-38")
    # A finished run leaves the final (best) model only, every file with one mode.
    assert not list(tmp_path.glob("checkpoint-*"))
    assert len({f.stat().st_mode & 0o777 for f in tmp_path.iterdir() if f.is_file()}) == 1
    kept = tmp_path / "kept"
    train_encoder.main(
        [*args[:-1], str(kept), "--num_train_epochs", "1", "--keep_checkpoints", "true", *FAST]
    )
    assert list(kept.glob("checkpoint-*"))


def test_bad_arguments_give_clear_errors(tiny_bert, tmp_path):
    with pytest.raises(SystemExit, match="--bio_decoding"):
        train_encoder.main(
            ["--model_name_or_path", str(tiny_bert), "--bio_decoding", "beam", "--output_dir", str(tmp_path)]
        )
    with pytest.raises(SystemExit, match=r"error: .*no_such_corpus"):
        train_encoder.main(
            [
                "--model_name_or_path",
                str(tiny_bert),
                "--dataset",
                "no_such_corpus",
                "--output_dir",
                str(tmp_path),
            ]
        )
    bad_data = tmp_path / "bad_data"
    bad_data.mkdir()
    for split in ("train", "dev", "test"):
        (bad_data / f"{split}.tsv").write_text("Aspirin\tB-Chemical\ncauses\tX-Disease\n\n")
    with pytest.raises(SystemExit, match=r"train.tsv:2"):
        train_encoder.main(
            [
                "--model_name_or_path",
                str(tiny_bert),
                "--dataset",
                str(bad_data),
                "--output_dir",
                str(tmp_path),
            ]
        )
    with pytest.raises(SystemExit, match="exactly one of --model or --predictions"):
        evaluate_ner.main([])
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"gold": ["O"], "pred": ["O"]}\n{"gold": ["O", "O"], "pred": ["O"]}\n')
    with pytest.raises(SystemExit, match=r"bad.jsonl:2: 'gold' has 2 tags but 'pred' has 1"):
        evaluate_ner.main(["--predictions", str(bad)])
    bad.write_text('{"gold": ["O"], "pred": ["S-X"]}\n')
    with pytest.raises(SystemExit, match="S-X"):
        evaluate_ner.main(["--predictions", str(bad), "--output_dir", str(tmp_path)])


def test_offline_hub_model_names_what_to_do(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    completed = subprocess.run(
        [
            sys.executable,
            "train_encoder.py",
            "--model_name_or_path",
            "org/not-downloaded",
            "--output_dir",
            str(tmp_path),
            "--use_cpu",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode != 0
    assert "offline alias (minilm, mpnet)" in completed.stderr
    assert "Traceback" not in completed.stderr


def test_two_process_ddp_under_accelerate_launch(tiny_bert, tmp_path):
    """`accelerate launch --multi_gpu` runs real 2-rank DDP (gloo) on a CPU-only machine."""
    command = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "train_encoder.py",
        "--model_name_or_path",
        str(tiny_bert),
        "--dataset",
        "demo",
        "--output_dir",
        str(tmp_path),
        "--max_steps",
        "4",
        "--eval_strategy",
        "no",
        "--save_strategy",
        "no",
        "--load_best_model_at_end",
        "false",
        "--ddp_find_unused_parameters",
        "false",
        *FAST,
    ]
    completed = subprocess.run(
        command,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert json.loads((tmp_path / "results.json").read_text())["meta"]["world_size"] == 2
