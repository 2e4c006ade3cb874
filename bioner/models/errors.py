"""The error every model loader raises, and its message: the bottom of ``bioner.models`` (imports nothing of
it)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path


class ModelLoadError(RuntimeError):
    """A model or tokenizer could not be loaded; the message says what to do."""


def load_error(name: str, error: Exception, aliases: Sequence[str]) -> ModelLoadError:
    """The error for a model that did not load; ``aliases`` are the offline aliases to suggest (those of the
    model's kind, ``bioner.models.registry.offline_aliases``)."""
    if not Path(name).exists() and (name.startswith(("/", ".", "~")) or name.count("/") > 1):
        return ModelLoadError(
            f"model directory not found: '{name}' (and it is not a Hub id of the form org/name)"
        )
    where = "a local directory" if Path(name).exists() else "the Hugging Face Hub"
    first_line = str(error).splitlines()[0] if str(error) else ""
    hint = (
        f"Could not load '{name}' from {where} ({type(error).__name__}: {first_line})."
        " If this machine is offline, pass a local model directory or an offline alias"
        f" ({', '.join(aliases)})."
    )
    if not Path(name).exists():
        hint += f" There is no local directory '{name}' either."
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        hint += " HF_HUB_OFFLINE=1 is set, so nothing is downloaded."
    return ModelLoadError(hint)
