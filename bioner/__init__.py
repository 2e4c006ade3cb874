"""bioner: biomedical NER with encoder token classifiers and prompted LLM taggers, scored the SemEval way.

The package is grouped by what the code does (docs/layout.md is the map). ``bioner.load_tagger`` is the stable
entry point for using a trained model: ``from bioner import load_tagger``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["load_tagger"]

if TYPE_CHECKING:
    from bioner.tagging.taggers import load_tagger


def __getattr__(name: str) -> Any:
    if name == "load_tagger":
        # Lazy: `import bioner` stays light (no torch/transformers) until a tagger is wanted.
        from bioner.tagging.taggers import load_tagger

        return load_tagger
    raise AttributeError(f"module 'bioner' has no attribute {name!r}")
