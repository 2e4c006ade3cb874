"""bioner: biomedical NER with encoder token classifiers and prompted LLM taggers, scored the SemEval way.

The package is grouped by what the code does (docs/layout.md is the map). ``bioner.load_tagger`` is the stable
entry point for using a trained model: ``from bioner import load_tagger``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["load_tagger"]

# Importing transformers' Trainer imports peft, which imports bitsandbytes, whose CPU backend warns at import,
# on any machine without the optional `kernels` package (it is fetched from the Hub), that its fused 4-bit CPU
# kernel did not load: "Failed to load CPU gemm_4bit_forward from kernels-community ...". 4-bit CPU matmuls
# then use bitsandbytes' own code; the notice says nothing about the run, so that one message is dropped here,
# before anything imports transformers (the training scripts import bioner first). Nothing else is filtered.
BNB_KERNEL_NOTICE = "Failed to load CPU gemm_4bit_forward from kernels-community"


def _drop_bnb_kernel_notice(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith(BNB_KERNEL_NOTICE)


logging.getLogger("bitsandbytes.backends.cpu.ops").addFilter(_drop_bnb_kernel_notice)

if TYPE_CHECKING:
    from bioner.tagging.taggers import load_tagger


def __getattr__(name: str) -> Any:
    if name == "load_tagger":
        # Lazy: `import bioner` stays light (no torch/transformers) until a tagger is wanted.
        from bioner.tagging.taggers import load_tagger

        return load_tagger
    raise AttributeError(f"module 'bioner' has no attribute {name!r}")
