"""The house rules (docs/layout.md), enforced: a breach fails the build with the offending import named."""

from __future__ import annotations

import pytest

from tests.architecture import FACADES, LAYERS, analyse, describe, layer_of
from tests.helpers import ROOT

# Imports of project modules inside functions, each kept on purpose: (importer, imported) -> why.
ALLOWED_FUNCTION_IMPORTS: dict[tuple[str, str], str] = {
    (
        "bioner",
        "bioner.tagging.taggers",
    ): "`import bioner` stays light: torch/transformers load with load_tagger",
}


@pytest.fixture(scope="module")
def report():
    return analyse(ROOT)


def test_no_import_cycles(report):
    """Counting imports inside functions too: a cycle hidden that way is still a cycle."""
    assert report.cycles == [], "import cycles: " + "; ".join(" <-> ".join(c) for c in report.cycles)


def test_no_private_name_imported_across_modules(report):
    assert report.private_imports == [], "\n".join(map(describe, report.private_imports))


def test_no_test_module_imports_another(report):
    """Shared test code lives in tests/helpers.py, tests/fixtures/ or conftest.py."""
    assert report.test_to_test == [], "\n".join(map(describe, report.test_to_test))


def test_imports_follow_the_layer_order(report):
    assert report.layer_violations == [], "\n".join(map(describe, report.layer_violations))


def test_function_level_project_imports_are_named_and_justified(report):
    found = {(imp.source, imp.target) for imp in report.function_imports}
    unexplained = sorted(found - set(ALLOWED_FUNCTION_IMPORTS))
    assert not unexplained, "function-level imports of project modules without a reason: " + "; ".join(
        f"{a} -> {b}" for a, b in unexplained
    )
    stale = sorted(set(ALLOWED_FUNCTION_IMPORTS) - found)
    assert not stale, f"allow-list entries that no longer occur (remove them): {stale}"


def test_every_package_module_belongs_to_a_layer(report):
    homeless = [m for m in report.modules if m not in FACADES and layer_of(m) is None]
    assert homeless == [], f"modules outside the layers {LAYERS}: {homeless}"


def test_top_level_of_the_package_stays_small(report):
    assert len(report.top_level_entries) <= 12, report.top_level_entries


def test_scripts_are_wiring(report):
    """Every top-level script's ``main`` is at most 60 lines: the logic lives in the package."""
    long = {script: n for script, n in report.script_main_lines.items() if n > 60}
    assert not long, long


def test_every_module_is_named_by_a_test(report):
    """Each module of bioner/ is imported by at least one test module."""
    tested = {imp.target for imp in report.imports if imp.source.split(".")[-1].startswith("test_")}
    untested = [m for m in report.modules if m not in tested and not m.endswith("__main__")]
    assert untested == [], f"modules no test imports: {untested}"


def test_the_analysis_sees_what_it_should(tmp_path):
    """The checker itself: a planted cycle, private import, test-to-test import and upward import are all
    found."""
    (tmp_path / "bioner" / "data").mkdir(parents=True)
    (tmp_path / "bioner" / "grid").mkdir()
    (tmp_path / "tests").mkdir()
    for init in ("bioner", "bioner/data", "bioner/grid", "tests"):
        (tmp_path / init / "__init__.py").write_text("")
    (tmp_path / "bioner/data/a.py").write_text("def f():\n    from bioner.data.b import _hidden\n")
    (tmp_path / "bioner/data/b.py").write_text(
        "from bioner.data import a\nfrom bioner.grid.runs import X\n_hidden = 1\n"
    )
    (tmp_path / "bioner/grid/runs.py").write_text("X = 1\n")
    (tmp_path / "tests/test_one.py").write_text("from tests.test_two import helper\n")
    (tmp_path / "tests/test_two.py").write_text("def helper():\n    pass\n")
    (tmp_path / "train_decoder.py").write_text("def main():\n" + "    pass\n" * 70)
    found = analyse(tmp_path)
    assert found.cycles == [["bioner.data.a", "bioner.data.b"]]
    assert [(i.source, i.names) for i in found.private_imports] == [("bioner.data.a", ("_hidden",))]
    assert [(i.source, i.target) for i in found.test_to_test] == [("tests.test_one", "tests.test_two")]
    assert [(i.source, i.target) for i in found.layer_violations] == [("bioner.data.b", "bioner.grid.runs")]
    assert [(i.source, i.target) for i in found.function_imports] == [("bioner.data.a", "bioner.data.b")]
    assert found.script_main_lines == {"train_decoder": 71}
