"""The user's Hub round trip through the real scripts: publish the data, train and push, evaluate by repo
id."""

import json
import subprocess
import sys

from tests.helpers import ROOT


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    completed = subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert completed.returncode == 0, f"{args[0]} failed:\n{completed.stderr[-4000:]}"
    return completed


def test_publish_train_push_and_evaluate_by_repo_id(fake_hub, tiny_bert, tmp_path):
    env = {**fake_hub.env(tmp_path / "home"), "OMP_NUM_THREADS": "1"}
    run(
        ["prepare_datasets.py", "demo", "--output_dir", str(tmp_path / "data"), "--push_to_hub", "testorg"],
        env,
    )
    assert "README.md" in fake_hub.store.files("testorg/demo", "dataset")

    run_dir = tmp_path / "run"
    run(
        [
            "train_encoder.py",
            "--model_name_or_path",
            str(tiny_bert),
            "--dataset",
            "testorg/demo",
            "--output_dir",
            str(run_dir),
            "--num_train_epochs",
            "1",
            "--learning_rate",
            "1e-3",
            "--use_cpu",
            "--push_to_hub",
            "--hub_model_id",
            "testorg/tiny-ner",
            "--disable_tqdm",
            "true",
        ],
        env,
    )
    pushed = fake_hub.store.files("testorg/tiny-ner")
    assert {"config.json", "model.safetensors", "README.md", "results.json"} <= set(pushed)
    assert not any(name.startswith("checkpoint-") for name in pushed)
    card = pushed["README.md"].decode()
    trained = json.loads((run_dir / "results.json").read_text())
    assert "model-index" in card and f"{trained['test']['strict']['f1']:.4f}"[:5] in card
    # No local path is published: not the run folder, not the tiny BERT's.
    for name in ("README.md", "results.json", "report.md"):
        text = pushed[name].decode()
        assert str(tmp_path) not in text and str(tiny_bert) not in text, name

    run(
        [
            "evaluate_ner.py",
            "--model",
            "testorg/tiny-ner",
            "--dataset",
            "testorg/demo",
            "--output_dir",
            str(tmp_path / "eval"),
        ],
        env,
    )
    evaluated = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert evaluated["test"]["strict"] == trained["test"]["strict"]
