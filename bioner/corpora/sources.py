"""What a dataset name stands for, loaded as the project's train/validation/test ``DatasetDict``: the one
dispatch over every kind of source. A name is, in this order:

1. ``demo``: the generated corpus (``bioner.data.demo``);
2. a registered name (``bioner.data.registry``): the BIO files of ``<data_dir>/<name>``;
3. an existing folder: its JSON Lines / JSON split files of ``tokens``/``ner_tags`` records, the Hugging Face
   convention (``bioner.data.hf_json``); else its PubTator, BioC or brat files named by split, converted to
   BIO (``bioner.corpora.dataset``); else its BIO files (``bioner.data.conll``);
4. a Hub id (``org/name``): a dataset repo of such document files, converted likewise, else a Hub dataset of
   ``tokens``/``ner_tags`` (``bioner.data.hub``).

Anything else is a ``DataFormatError``. The dispatch lives in the corpora layer, not in ``bioner.data``,
because converting documents needs the corpus readers, which are built on the data layer.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import datasets

from bioner.corpora.convert import ConversionReport
from bioner.corpora.dataset import find_split_files, hub_corpus_dir, load_document_corpus
from bioner.data.conll import build_dataset_dict, load_conll_dir
from bioner.data.demo import make_demo_splits
from bioner.data.files import DataFormatError
from bioner.data.hf_json import is_json_dataset_dir, load_json_dir
from bioner.data.hub import load_hub_dataset
from bioner.data.registry import HUB_ID_RE, REGISTERED_DATASETS, dataset_dir, unknown_dataset
from bioner.data.splits import canonical_split

Reports = dict[str, ConversionReport]


def load_dataset_and_reports(
    name: str,
    data_dir: str | os.PathLike[str] | None = None,
    *,
    strict_bio: bool = False,
    files: Mapping[str, str | os.PathLike[str]] | None = None,
    format: str | None = None,
    **conversion: Any,
) -> tuple[datasets.DatasetDict, Reports | None]:
    """The dataset ``name`` stands for (module docstring) and, when it was converted from documents, the
    conversion report of each split (else ``None``).

    ``files`` (``{split: file}``) converts those document files instead of looking ``name`` up. ``format``
    picks the document format of a folder or Hub repo (a folder without such files is then an error, not BIO
    files); ``conversion`` holds the other options of ``load_document_corpus`` (``word_style``, ``composite``,
    ``discontinuous``, ``entity_types``). ``strict_bio`` applies to BIO sources."""
    if files:
        return load_document_corpus(files=files, format=format, **conversion)
    if name == "demo":
        return build_dataset_dict(make_demo_splits()), None
    if name in REGISTERED_DATASETS:
        return load_conll_dir(dataset_dir(name, data_dir), strict_bio=strict_bio), None
    folder = Path(name) if Path(name).is_dir() else None
    if folder is None and HUB_ID_RE.fullmatch(name):
        folder = hub_corpus_dir(name)  # a local copy when the repo holds document files named by split
        if folder is None:
            return load_hub_dataset(name, strict_bio=strict_bio), None
    if folder is None:
        raise unknown_dataset(name)
    if format is None and is_json_dataset_dir(folder):  # train.jsonl... of tokens/ner_tags records
        return load_json_dir(folder, strict_bio=strict_bio), None
    found = find_split_files(folder, format)
    if found is not None:  # PubTator, BioC or brat files named by split: converted to BIO
        return load_document_corpus(files=found, format=format, **conversion)
    if format:
        raise DataFormatError(name, f"no {format} files named by split (train, dev/valid, test)")
    return load_conll_dir(folder, strict_bio=strict_bio), None


def load_ner_dataset(
    name: str, data_dir: str | os.PathLike[str] | None = None, *, strict_bio: bool = False
) -> datasets.DatasetDict:
    """Load a dataset by registered name, folder path or Hub id (``org/name``), as train/validation/test; a
    folder or Hub dataset repo of PubTator, BioC or brat files named by split is converted to BIO."""
    return load_dataset_and_reports(name, data_dir, strict_bio=strict_bio)[0]


def check_dataset(name: str, data_dir: str | os.PathLike[str] | None = None) -> None:
    """Raise ``DataFormatError`` unless ``load_ner_dataset`` can find ``name`` (a registered name whose folder
    exists, a folder, or a Hub id; Hub ids are not looked up)."""
    if name in REGISTERED_DATASETS:
        if name != "demo":
            dataset_dir(name, data_dir)
    elif not (Path(name).is_dir() or HUB_ID_RE.fullmatch(name)):
        raise unknown_dataset(name)


def load_run_dataset(
    name: str,
    data_dir: str | os.PathLike[str] | None = None,
    *,
    strict_bio: bool = False,
    max_train_samples: int | None = None,
    max_eval_samples: int | None = None,
) -> datasets.DatasetDict:
    """``load_ner_dataset`` for the training scripts: splits cut to their first instances, and a bad corpus
    ends the script with its ``file:line`` message instead of a traceback."""
    try:
        dataset = load_ner_dataset(name, data_dir, strict_bio=strict_bio)
    except DataFormatError as error:
        raise SystemExit(f"error: {error}") from None
    limits = {"train": max_train_samples, "validation": max_eval_samples, "test": max_eval_samples}
    for split, limit in limits.items():
        if limit is not None:
            dataset[split] = dataset[split].select(range(min(limit, len(dataset[split]))))
    return dataset


def load_split(
    name: str, data_dir: str | os.PathLike[str] | None, split: str, max_instances: int | None = None
) -> datasets.Dataset:
    """One split of a dataset (``dev`` and the other names of ``bioner.data.splits`` mean ``validation``),
    optionally its first N instances. An unknown split is a :class:`ValueError` naming the splits there
    are."""
    dataset = load_ner_dataset(name, data_dir)
    key = canonical_split(split)
    if key not in dataset:
        raise ValueError(f"--split {split!r}: dataset has splits {list(dataset)}")
    data = dataset[key]
    if max_instances is not None:
        data = data.select(range(min(max_instances, len(data))))
    return data
