"""Small things a new user meets: predictions files checked line by line, no local paths in published
outputs, and the offline hint that fits the kind of model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from huggingface_hub import ModelCard

import evaluate_ner
from bioner.evaluation.records import portable_path, write_outputs
from bioner.hub import model_card
from bioner.models.llm import load_decoder_tokenizer
from bioner.models.registry import ModelLoadError, load_tokenizer
from metrics.bio_ner.scoring import compute_ner_scores


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


def test_portable_path():
    out = Path("/runs/x")
    assert portable_path("/runs/x/checkpoint-38", out) == "checkpoint-38"
    assert portable_path("/runs/x", out) == "."
    assert portable_path("/home/me/models/tiny-bert", out) == "tiny-bert"
    assert portable_path("org/model", out) == "org/model"  # a Hub id or relative path stays as given
    assert portable_path("runs/y", out) == "runs/y"


def test_results_and_report_hold_no_absolute_paths(tmp_path):
    output_dir = tmp_path / "run"
    scores = compute_ner_scores([["B-X", "O"]], [["B-X", "O"]])
    meta = {
        "model": str(tmp_path / "models" / "tiny-bert"),
        "best_checkpoint": str(output_dir / "checkpoint-38"),
        "nested": {"paths": [str(output_dir / "checkpoint-19")]},
        "dataset": "bc5cdr",
    }
    write_outputs(output_dir, {"test": scores}, {}, f"{meta['model']} on {tmp_path / 'data'}", meta)
    results = json.loads((output_dir / "results.json").read_text())
    assert results["meta"]["best_checkpoint"] == "checkpoint-38"
    assert results["meta"]["model"] == "tiny-bert"
    assert results["meta"]["nested"] == {"paths": ["checkpoint-19"]}
    for name in ("results.json", "report.md"):
        assert str(tmp_path) not in (output_dir / name).read_text()
    assert (output_dir / "report.md").read_text().startswith("# tiny-bert on data\n")
    assert meta["best_checkpoint"].startswith(str(output_dir))  # the caller's dict is left as it was


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
        load_decoder_tokenizer("no-such-org/no-such-decoder")
    assert "offline alias (smollm2, gemma3)" in str(decoder.value) and "minilm" not in str(decoder.value)
    with pytest.raises(ModelLoadError) as encoder:
        load_tokenizer("no-such-org/no-such-encoder")
    assert "offline alias (minilm, mpnet)" in str(encoder.value) and "smollm2" not in str(encoder.value)
