"""The grid's tables: run directories read back, their status, and the best run per cell chosen on dev."""

from __future__ import annotations

import json
from pathlib import Path

from bioner.grid import tables
from metrics.bio_ner.scoring import compute_ner_scores

GOLD = [["B-Chemical", "I-Chemical", "O"], ["O", "B-Disease", "O"]]
HALF = [["B-Chemical", "I-Chemical", "O"], ["O", "O", "O"]]


def _run(directory: Path, dev, test, meta: dict | None = None) -> Path:
    directory.mkdir(parents=True)
    results = {
        "dev": compute_ner_scores(dev, GOLD),
        "test": compute_ner_scores(test, GOLD),
        "meta": meta or {},
    }
    (directory / "results.json").write_text(json.dumps(results))
    return directory


def test_run_status_from_what_is_on_disk(tmp_path):
    assert tables.run_status(tmp_path / "never") == "pending"
    (tmp_path / "cut").mkdir()
    assert tables.run_status(tmp_path / "cut") == "interrupted"
    assert tables.run_status(_run(tmp_path / "done", GOLD, GOLD)) == "finished"
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "results.json").write_text(json.dumps({"test": {}}))
    assert tables.run_status(tmp_path / "half") == "incomplete"
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / tables.RUN_FILE).write_text(json.dumps({"status": "failed"}))
    assert tables.run_status(tmp_path / "bad") == "failed"


def test_the_best_run_per_cell_is_chosen_on_dev_never_on_test(tmp_path):
    cell = tmp_path / "demo" / "enc"
    chosen = _run(cell / "lr1e-05-bs16", GOLD, HALF, {"model_kind": "encoder"})
    _run(cell / "lr2e-05-bs16", HALF, GOLD, {"model_kind": "encoder"})
    _run(tmp_path / "demo" / "dec" / "lr4e-05-bs32", HALF, HALF, {"output_format": "tags"})
    collection = tables.collect(tmp_path)
    assert [(r.model, r.learning_rate, r.batch_size) for r in collection.runs] == [
        ("enc", 1e-5, 16), ("enc", 2e-5, 16), ("dec", 4e-5, 32),
    ]  # fmt: skip
    assert collection.best[("demo", "enc")].run_dir == chosen.resolve()
    assert collection.best[("demo", "dec")].kind == "decoder"  # told by the decoder's output_format
    assert [r.chosen for r in collection.runs] == [True, False, True]
    table = tables.format_grid_table(collection)
    assert "enc" in table and "dec" in table


def test_dataset_slug():
    assert tables.dataset_slug("demo") == "demo"
    assert tables.dataset_slug("org/corpus") == "org--corpus"
