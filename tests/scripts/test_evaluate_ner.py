"""Small things a new user meets: predictions files checked line by line, no local paths in published
outputs, and the offline hint that fits the kind of model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from huggingface_hub import ModelCard

import evaluate_ner
from bioner.hub import model_card
from bioner.models.registry import DECODER, ModelLoadError, load_tokenizer


def _write(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    return path


def test_duplicated_id_in_predictions_is_refused_with_both_lines(tmp_path):
    path = _write(
        tmp_path / "p.jsonl",
        [
            {"id": "a", "gold": ["O"], "pred": ["O"]},
            {"id": "b", "gold": ["B-X"], "pred": ["B-X"]},
            {"id": "a", "gold": ["O"], "pred": ["O"]},
        ],
    )
    with pytest.raises(SystemExit, match=r"p\.jsonl:3: id 'a' repeats the record at .*p\.jsonl:1"):
        evaluate_ner.main(["--predictions", str(path), "--output_dir", str(tmp_path)])


def test_invalid_tag_in_predictions_names_file_line_and_field(tmp_path):
    path = _write(
        tmp_path / "p.jsonl",
        [{"gold": ["O", "B-X"], "pred": ["O", "B-X"]}, {"gold": ["O", "O"], "pred": ["O", "S-X"]}],
    )
    with pytest.raises(SystemExit, match=r"p\.jsonl:2: 'pred': invalid tag 'S-X' at token 1"):
        evaluate_ner.main(["--predictions", str(path), "--output_dir", str(tmp_path)])
    _write(path, [{"gold": ["B-"], "pred": ["O"]}])
    with pytest.raises(SystemExit, match=r"p\.jsonl:1: 'gold': invalid tag 'B-' at token 0"):
        evaluate_ner.main(["--predictions", str(path), "--output_dir", str(tmp_path)])


def test_model_card_names_local_base_model_and_dataset_without_their_paths(tmp_path):
    base, data = tmp_path / "models" / "tiny-bert", tmp_path / "data" / "mycorpus"
    base.mkdir(parents=True)
    data.mkdir(parents=True)
    card = ModelCard(model_card(base_model=str(base), dataset=str(data), results={}, repo_id="org/ner"))
    assert str(tmp_path) not in str(card)
    assert "`tiny-bert`" in card.text and "--dataset mycorpus" in card.text
    assert card.data.base_model is None and card.data.datasets == ["mycorpus"]


def test_offline_hint_suggests_the_alias_of_the_same_kind(monkeypatch):
    import transformers

    def unreachable(*args, **kwargs):
        raise OSError("We couldn't connect to 'https://huggingface.co' to load the files")

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", unreachable)
    monkeypatch.setattr(transformers.AutoConfig, "from_pretrained", unreachable)
    with pytest.raises(ModelLoadError) as decoder:
        load_tokenizer("no-such-org/no-such-decoder", DECODER)
    assert "offline alias (smollm2, gemma3, qwen2.5-0.5b, qwen2.5-1.5b)" in str(
        decoder.value
    ) and "minilm" not in str(decoder.value)
    with pytest.raises(ModelLoadError) as encoder:
        load_tokenizer("no-such-org/no-such-encoder")
    assert "offline alias (minilm, mpnet)" in str(encoder.value) and "smollm2" not in str(encoder.value)


def test_scoring_a_runs_predictions_never_touches_the_run(tmp_path, monkeypatch):
    """Quickstart step 3 (``--predictions runs/x/predictions_test.jsonl``) writes a folder of its own; the
    training run's results.json keeps its dev scores and metadata."""
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "runs" / "demo"
    run.mkdir(parents=True)
    training = {"dev": {"strict": {"f1": 0.5}}, "test": {"strict": {"f1": 0.4}}, "meta": {"epochs": 3}}
    (run / "results.json").write_text(json.dumps(training))
    _write(run / "predictions_test.jsonl", [{"id": "a", "gold": ["B-X", "O"], "pred": ["B-X", "O"]}])
    for _ in range(2):  # the same evaluation again replaces its own output
        evaluate_ner.main(["--predictions", "runs/demo/predictions_test.jsonl"])
    own = tmp_path / "runs" / "eval-demo-predictions_test"
    assert json.loads((own / "results.json").read_text())["test"]["strict"]["f1"] == 1.0
    assert json.loads((run / "results.json").read_text()) == training
    assert not (run / "report.md").exists()
    with pytest.raises(SystemExit, match=r"results\.json holds the results of another run.*--overwrite"):
        evaluate_ner.main(["--predictions", "runs/demo/predictions_test.jsonl", "--output_dir", "runs/demo"])
    assert json.loads((run / "results.json").read_text()) == training
    evaluate_ner.main(
        [
            "--predictions",
            "runs/demo/predictions_test.jsonl",
            "--output_dir",
            "runs/demo",
            "--overwrite",
            "true",
        ]
    )
    assert "dev" not in json.loads((run / "results.json").read_text())
