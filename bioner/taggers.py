"""Kept for model cards already on the Hub, which say ``from bioner.taggers import load_tagger``.

The taggers live in :mod:`bioner.tagging`; import ``load_tagger`` from there (or from ``bioner``) in new code.
"""

from bioner.tagging.taggers import DecoderTagger, EncoderTagger, load_tagger

__all__ = ["DecoderTagger", "EncoderTagger", "load_tagger"]
