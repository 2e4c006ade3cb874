"""The grid's runs: scripts found by the import system, models classified, run names and commands."""

from __future__ import annotations

import pytest

from bioner.grid import runs as grid
from tests.helpers import ROOT


@pytest.mark.parametrize("module", sorted(set(grid.SCRIPTS.values())))
def test_script_path_finds_each_training_script(module):
    path = grid.script_path(module)
    assert path == ROOT / f"{module}.py" and path.is_file()


def test_script_path_of_a_missing_script_says_how_to_get_it():
    with pytest.raises(SystemExit, match="cannot find the script no_such_script.py"):
        grid.script_path("no_such_script")


def test_models_are_classified_by_alias_directory_or_prefix(tiny_bert, tiny_llama):
    assert grid.classify_model("Llama").kind == "decoder" and grid.classify_model("minilm").kind == "encoder"
    assert grid.classify_model(str(tiny_llama)).kind == "decoder"
    assert grid.classify_model(str(tiny_bert)) == grid.ModelSpec(str(tiny_bert), tiny_bert.name, "encoder")
    assert grid.classify_model("encoder:org/model") == grid.ModelSpec("org/model", "org--model", "encoder")
    assert grid.classify_model("tokcls:SmolLM2") == grid.ModelSpec(
        "smollm2", "smollm2-tokcls", "llm-token-classifier"
    )
    with pytest.raises(grid.GridError, match="not a decoder LLM"):
        grid.classify_model(f"tokcls:{tiny_bert}")
    with pytest.raises(grid.GridError, match="unknown model 'no-such-model'"):
        grid.classify_model("no-such-model")


def test_run_names_carry_learning_rate_and_batch_size():
    assert grid.run_name(2e-5, 16) == "lr2e-05-bs16"
    assert grid.run_name(0.001, 8) == "lr0.001-bs8"
