"""The registered datasets: their names, where their BIO files live, and how a Hub id looks.

A registered dataset is a folder ``<data_dir>/<name>`` of ``train``/``dev``/``test`` BIO files;
``data_dir`` is the argument, else ``$BIONER_DATA_DIR``, else ``./data``. ``demo`` is generated
(``bioner.data.demo``). Loading any dataset name is ``bioner.corpora.sources.load_ner_dataset``.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable
from pathlib import Path

from bioner.data.files import DataFormatError

REGISTERED_DATASETS = (
    "bc5cdr",
    "jnlpba",
    "biored",
    "chemprot",
    "reddit_impacts",
    "ncbi_disease",
    "bc2gm",
    "demo",
)
HUB_ID_RE = re.compile(r"[\w.-]+/[\w.-]+")


def resolve_data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The data folder: the argument, else ``$BIONER_DATA_DIR``, else ``./data``."""
    return Path(data_dir or os.environ.get("BIONER_DATA_DIR") or "data")


def dataset_dir(name: str, data_dir: str | os.PathLike[str] | None = None) -> Path:
    """``<data_dir>/<name>`` of a registered dataset, or an error saying how to supply it."""
    directory = resolve_data_dir(data_dir) / name
    if directory.is_dir():
        return directory
    how = "pass --data_dir DIR or set BIONER_DATA_DIR to the folder that holds <name>/{train,dev,test}.tsv"
    if name == "reddit_impacts":
        raise DataFormatError(
            directory,
            "Reddit-Impacts is not publicly released; the corpus is available from its authors on request "
            "(Ge et al., 2024, arXiv:2405.06145). Once you have it, put train.tsv, dev.tsv and test.tsv "
            f"(token<TAB>tag, IOB2) in this folder, or {how}.",
        )
    raise DataFormatError(directory, f"no folder for dataset {name!r}; {how}")


def close_name(name: str, choices: Iterable[str]) -> str | None:
    """The choice a mistyped ``name`` was probably meant to be (difflib, case-insensitive), or ``None``; only
    for bare names (no ``/``, nothing of that name on disk): paths and Hub ids are never corrected."""
    if "/" in name or os.sep in name or Path(name).exists():
        return None
    by_lower = {choice.lower(): choice for choice in choices}
    close = difflib.get_close_matches(name.lower(), by_lower, n=1, cutoff=0.75)
    return by_lower[close[0]] if close else None


def unknown_dataset(name: str) -> DataFormatError:
    """The error for a name that is no registered dataset, folder or Hub id (with the registered name it
    was probably meant to be)."""
    close = close_name(name, REGISTERED_DATASETS)
    return DataFormatError(
        name,
        f"unknown dataset: not one of {', '.join(REGISTERED_DATASETS)}, not an existing folder, "
        "and not a Hub id of the form org/name" + (f"; did you mean '{close}'?" if close else ""),
    )
