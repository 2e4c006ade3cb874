"""The README and docs/ can't rot: every command they show names a script or module that exists and flags it
accepts, and the README's quickstart runs as written, end to end.

Which blocks run: the README's fenced blocks preceded by ``<!-- test: run -->``. Every other ``bash`` block in
README.md, docs/*.md, benchmarks/README.md and configs/accelerate/README.md is checked statically against the
``--help`` of the script it calls (those commands need GPUs, the Hub or hours of CPU).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

from tests.helpers import ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "benchmarks" / "README.md"]
DOCS += [ROOT / "configs" / "accelerate" / "README.md"]
BLOCK = re.compile(r"(<!-- test: run -->\s*)?```(?:bash|sh|shell)\n(.*?)```", re.S)
PYTHON = re.compile(r"^(?:\S+=\S+\s+)*(?:\.venv/bin/)?python3?\s+(.*)$")
ACCELERATE = re.compile(r"^(?:\S+=\S+\s+)*(?:\.venv/bin/)?accelerate launch\s+(.*)$")


def blocks(path: Path) -> list[tuple[bool, str]]:
    """(marked to run, text with continuation lines joined) of each shell block of a Markdown file."""
    return [(bool(m.group(1)), re.sub(r"\\\n\s*", " ", m.group(2))) for m in BLOCK.finditer(path.read_text())]


def commands(text: str) -> list[str]:
    lines = [line.split("  #")[0].strip() for line in text.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def target(command: str) -> tuple[str, list[str]] | None:
    """(script path or ``-m module``, its arguments) of a python/accelerate command line; None for others."""
    match = PYTHON.match(command) or ACCELERATE.match(command)
    if not match:
        return None
    try:
        words = shlex.split(match.group(1).replace("...", ""))
    except ValueError:  # a quoted value that goes on in the next line of the block
        words = match.group(1).replace("...", "").split()
    if words and words[0] == "-m":
        return f"-m {words[1]}", words[2:]
    if ACCELERATE.match(command):  # skip accelerate's own options up to the script
        scripts = [i for i, w in enumerate(words) if w.endswith(".py")]
        words = words[scripts[0] :] if scripts else words
    if not words or not words[0].endswith(".py"):
        return None
    return words[0], words[1:]


@cache
def help_text(script: str) -> str:
    args = script.split() if script.startswith("-m ") else [str(ROOT / script)]
    result = subprocess.run(
        [sys.executable, *args, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"{script} --help failed: {result.stderr[-2000:]}"
    return result.stdout


DOCUMENTED = [
    (path.relative_to(ROOT).as_posix(), command)
    for path in DOCS
    if path.is_file()
    for _, text in blocks(path)
    for command in commands(text)
    if target(command)
]


def test_the_docs_show_commands():
    assert len(DOCUMENTED) >= 30, DOCUMENTED  # the parser still finds them
    assert any("accelerate launch" in command for _, command in DOCUMENTED)


@pytest.mark.parametrize("script", sorted({target(c)[0] for _, c in DOCUMENTED}))
def test_every_documented_flag_exists(script):
    """Each documented command's script (or module) exists and accepts every flag the docs give it."""
    if not script.startswith("-m "):
        assert (ROOT / script).is_file(), f"documented script {script} does not exist"
    accepted = set(re.findall(r"(?<![\w-])(--[\w-]+)", help_text(script)))
    for where, command in DOCUMENTED:
        found = target(command)
        if found[0] != script:
            continue
        # A quoted value (up to its closing quote, or the end of the line) holds no flag of the script.
        unquoted = re.sub(r"\"[^\"]*(\"|$)|'[^']*('|$)", " VALUE ", command)
        used = {word.split("=")[0] for word in target(unquoted)[1] if word.startswith("--")}
        unknown = sorted(used - accepted)
        assert not unknown, f"{where}: `{command}` uses flags {unknown} that {script} does not accept"


def test_readme_quickstart_runs_as_written(tmp_path):
    """The README's marked blocks, in order, from a folder of their own (the checkout's scripts, this
    venv)."""
    readme = ROOT / "README.md"
    marked = [text for run, text in blocks(readme) if run]
    assert marked, "no README block is marked <!-- test: run -->"
    for name in ("train_encoder.py", "evaluate_ner.py", "tag.py", "prepare_datasets.py"):
        (tmp_path / name).symlink_to(ROOT / name)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    venv_python = re.compile(r"^(?:\.venv/bin/)?python3?(?=\s)")
    for text in marked:
        for command in commands(text):
            argv = shlex.split(venv_python.sub(shlex.quote(sys.executable), command, count=1))
            result = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
            assert result.returncode == 0, f"`{command}` failed:\n{result.stderr[-3000:]}"
    results = json.loads((tmp_path / "runs" / "demo-minilm" / "results.json").read_text())
    assert {"dev", "test"} <= set(results), (
        "a later quickstart step overwrote the training run's results.json"
    )
