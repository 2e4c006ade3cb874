"""The package works when installed, not only from a checkout: ``pip install .`` and import from elsewhere."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import bioner
from tests.helpers import ROOT


def test_installed_copy_imports_and_finds_scripts_and_metric(tmp_path):
    source, target = tmp_path / "source", tmp_path / "site"
    # Built from a copy: setuptools writes build/ and *.egg-info into the source tree.
    keep = ("bioner", "metrics", "pyproject.toml", "requirements.txt", "README.md")
    shutil.copytree(
        ROOT,
        source,
        ignore=lambda d, names: (
            [n for n in names if d == str(ROOT) and n not in keep and not n.endswith(".py")] + ["__pycache__"]
        ),
    )
    build = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(source)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr[-2000:]
    assert (target / "metrics" / "bio_ner" / "README.md").is_file()
    code = (
        "import bioner, bioner.tagging, bioner.tagging.taggers\n"
        "from bioner import load_tagger\n"
        "from bioner.taggers import load_tagger as old\n"
        "from bioner.grid.runs import script_path\n"
        "from bioner.hub import DEFAULT_METRIC_DIR\n"
        "assert load_tagger is old\n"
        "print(bioner.__file__, script_path('train_encoder'), DEFAULT_METRIC_DIR)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env
    )
    assert run.returncode == 0, run.stderr[-2000:]
    module, script, metric = run.stdout.split()
    assert (
        module.startswith(str(target)) and script.startswith(str(target)) and metric.startswith(str(target))
    )


def test_import_bioner_stays_light():
    """``import bioner`` must not pull torch in (load_tagger is resolved lazily)."""
    run = subprocess.run(
        [sys.executable, "-c", "import sys, bioner; print('torch' in sys.modules)"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert run.stdout.strip() == "False", run.stderr
    assert bioner.__version__
