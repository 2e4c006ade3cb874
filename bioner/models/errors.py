"""The error every model loader raises, and its message: the bottom of ``bioner.models`` (imports nothing of
it)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from bioner.data.registry import close_name


class ModelLoadError(RuntimeError):
    """A model or tokenizer could not be loaded; the message says what to do."""


def load_error(
    name: str, error: Exception, aliases: Sequence[str], known: Sequence[str] = ()
) -> ModelLoadError:
    """The error for a model that did not load; ``aliases`` are the offline aliases to suggest (those of the
    model's kind, ``bioner.models.registry.offline_aliases``); ``known`` every alias, for a "did you mean"
    when ``name`` is a near miss of one (a bare name only: not a path, a Hub id or a local directory)."""
    if not Path(name).exists() and (name.startswith(("/", ".", "~")) or name.count("/") > 1):
        return ModelLoadError(
            f"model directory not found: '{name}' (and it is not a Hub id of the form org/name)"
        )
    where = "a local directory" if Path(name).exists() else "the Hugging Face Hub"
    first_line = str(error).splitlines()[0] if str(error) else ""
    hint = f"Could not load '{name}' from {where} ({type(error).__name__}: {first_line})."
    close = close_name(name, known)
    if close:
        hint += f" Did you mean '{close}'?"
    offline = ", ".join(aliases)
    hint += f" If this machine is offline, pass a local model directory or an offline alias ({offline})."
    if not Path(name).exists():
        hint += f" There is no local directory '{name}' either."
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        hint += " HF_HUB_OFFLINE=1 is set, so nothing is downloaded."
    return ModelLoadError(hint)
