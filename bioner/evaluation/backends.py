"""The dev parity gate of the faster CPU backends (``bioner.models.onnx``): build, score, keep or refuse.

    python -m bioner.evaluation.backends runs/bc5cdr-minilm --int8 [--recipe attention,ffn_out]

Exports the model to ``onnx/model.onnx`` (and ``onnx/model_int8.onnx`` with ``--int8``), tags the model's own
dev split (the dataset in its ``results.json``, or ``--dataset``) with fp32 PyTorch and with each backend, and
writes ``onnx/parity.json``. A backend more than 0.5 strict-F1 points below fp32 is refused: its file is
deleted and the command fails, unless ``--allow_parity_failure`` keeps it (every load then warns).
``--recipe`` may list int8 recipes in order of preference (fastest first): each is built and scored until one
passes; the first that passes is kept, and the record lists what was tried. A smoothing recipe (``smooth``)
is calibrated on the first 512 dev sentences of the same split.
``bioner.hub`` lists the backends that passed on the model card; the folder, ``onnx/`` included, is
pushed as it is (``bioner.hub.push_model_with_backends``).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from bioner.corpora.sources import load_split
from bioner.data.conll import label_names
from bioner.models.errors import ModelLoadError
from bioner.models.onnx import (
    CALIBRATION_SENTENCES,
    DEFAULT_RECIPE,
    FILES,
    INT8_RECIPES,
    MAX_F1_DROP,
    ONNX,
    ONNX_INT8,
    TORCH,
    TORCH_BF16,
    ActivationRecorder,
    Calibration,
    ParityError,
    export_onnx,
    onnx_dir,
    parity_entry,
    quantize_int8,
    read_parity,
    warn_parity,
    write_parity,
)
from bioner.tagging.taggers import load_tagger
from metrics.bio_ner.scoring import compute_ner_scores

logger = logging.getLogger(__name__)


def dev_data(model_dir: str | Path, dataset: str | None, data_dir: str | None, max_instances: int | None):
    """``(dataset name, sentences, gold tags)`` of the model's own dev split (``results.json``'s dataset)."""
    if dataset is None:
        results = Path(model_dir) / "results.json"
        if results.is_file():
            dataset = json.loads(results.read_text()).get("meta", {}).get("dataset")
    if dataset is None:
        raise ModelLoadError(
            f"'{model_dir}' does not record its dataset (results.json): pass --dataset for the parity check"
        )
    data = load_split(dataset, data_dir, "dev", max_instances)
    labels = label_names(data)
    return dataset, list(data["tokens"]), [[labels[i] for i in tags] for tags in data["ner_tags"]]


def calibration(model_dir: str | Path, sentences: Sequence[Sequence[str]]) -> Calibration:
    """A :data:`~bioner.models.onnx.Calibration` that runs ``sentences`` through the model's own windows and
    tokenizer (the ONNX tagger, its forward pass answered by an :class:`ActivationRecorder`)."""

    def run(probe: Path, tensors: list[str]) -> dict:
        tagger = load_tagger(str(model_dir), backend=ONNX)
        tagger.model = ActivationRecorder(probe, tagger.model.config, tensors)
        tagger(sentences, progress=False)
        return tagger.model.maxima

    return run


def strict_f1(tagger, sentences, gold) -> tuple[float, float]:
    """Strict F1 of ``tagger`` on ``sentences`` and its inference seconds."""
    predictions = tagger(sentences, progress=False)
    return float(compute_ner_scores(predictions, gold)["strict"]["f1"]), tagger.last_seconds


def build(
    model_dir: str | Path,
    *,
    int8: bool = True,
    bf16: bool = False,
    recipe: str | Sequence[str] = DEFAULT_RECIPE,
    dataset: str | None = None,
    data_dir: str | None = None,
    max_instances: int | None = None,
    allow_parity_failure: bool = False,
) -> dict:
    """Export ``model_dir`` to ONNX (and int8), score each backend against fp32 PyTorch on dev and write
    ``onnx/parity.json``. A backend more than :data:`MAX_F1_DROP` below fp32 raises :class:`ParityError` and
    its file is deleted, unless ``allow_parity_failure`` (then it is kept and every load warns).
    ``recipe``: one int8 recipe, or several tried in order until one passes (the last is kept when none does
    and ``allow_parity_failure``)."""
    recipes = [recipe] if isinstance(recipe, str) else list(recipe)
    unknown = [r for r in recipes if r not in INT8_RECIPES]
    if not recipes or unknown:
        choices = ", ".join(sorted(INT8_RECIPES))
        raise ValueError(f"unknown int8 recipe(s) {unknown or recipes}: choose from {choices}")
    model_dir = Path(model_dir)
    fp32_path = export_onnx(model_dir)
    name, sentences, gold = dev_data(model_dir, dataset, data_dir, max_instances)
    reference = strict_f1(load_tagger(str(model_dir), backend=TORCH, device="cpu"), sentences, gold)
    logger.info(
        "dev strict F1 torch fp32: %.4f (%d sentences, %.1fs)", reference[0], len(sentences), reference[1]
    )
    parity = read_parity(model_dir)
    failures = []

    def gate(backend: str, score, path: Path | None, **extra) -> None:
        entry = parity_entry(backend, reference, score, name, len(sentences), **extra)
        logger.info("dev strict F1 %s: %.4f (delta %+.4f, %s)", backend, entry["backend_f1"], entry["delta"],
                    "passed" if entry["passed"] else "FAILED")  # fmt: skip
        if not entry["passed"]:
            entry["kept"] = allow_parity_failure or path is None
            if allow_parity_failure:
                warn_parity(str(model_dir), backend, entry)
            else:
                failures.append(entry)
                if path is not None:
                    path.unlink(missing_ok=True)
        parity[backend] = entry

    gate(ONNX, strict_f1(load_tagger(str(model_dir), backend=ONNX), sentences, gold), fp32_path)
    if int8:
        tried: list[dict] = []
        for i, candidate in enumerate(recipes):
            int8_path, excluded = quantize_int8(
                fp32_path,
                onnx_dir(model_dir) / FILES[ONNX_INT8],
                candidate,
                calibration(model_dir, sentences[:CALIBRATION_SENTENCES]),
            )
            score = strict_f1(load_tagger(str(model_dir), backend=ONNX_INT8), sentences, gold)
            entry = parity_entry(ONNX_INT8, reference, score, name, len(sentences))
            tried.append({"recipe": candidate, "backend_f1": entry["backend_f1"], "delta": entry["delta"],
                          "passed": entry["passed"]})  # fmt: skip
            if entry["passed"] or i == len(recipes) - 1:
                break
            logger.info("int8 recipe %s: dev strict F1 %+.4f below fp32, trying %s", candidate,
                        entry["delta"], recipes[i + 1])  # fmt: skip
            int8_path.unlink(missing_ok=True)
        extra = {"recipes_tried": tried} if len(recipes) > 1 else {}
        gate(ONNX_INT8, score, int8_path, recipe=candidate, fp32_nodes=len(excluded), **extra)
    if bf16:
        score = strict_f1(load_tagger(str(model_dir), backend=TORCH_BF16, device="cpu"), sentences, gold)
        gate(TORCH_BF16, score, None)
    write_parity(model_dir, parity)
    if failures:
        raise ParityError(
            "; ".join(
                f"{e['backend']}: dev strict F1 {e['backend_f1']:.4f} vs fp32 {e['fp32_f1']:.4f}"
                f" (delta {e['delta']:+.4f}, limit -{MAX_F1_DROP})"
                for e in failures
            )
            + " -- file deleted; --allow_parity_failure keeps it with a warning; or try another --recipe"
        )
    return parity


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bioner.evaluation.backends", description=__doc__.split("\n")[0]
    )
    parser.add_argument("model_dir", help="a trained token-classifier folder (train_encoder.py output)")
    parser.add_argument("--int8", action="store_true", help="also build onnx/model_int8.onnx")
    parser.add_argument("--bf16", action="store_true", help="also check torch-bf16 (needs AVX512-BF16/AMX)")
    parser.add_argument(
        "--recipe",
        default=DEFAULT_RECIPE,
        type=lambda text: [r.strip() for r in text.split(",") if r.strip()],
        help="int8 recipe, or several, comma-separated, in order of preference (the first passing is kept): "
        + ", ".join(sorted(INT8_RECIPES)),
    )
    parser.add_argument("--dataset", help="dataset of the dev parity check (default: results.json's)")
    parser.add_argument("--data_dir", help="folder of registered datasets (env BIONER_DATA_DIR)")
    parser.add_argument("--max_instances", type=int, help="score only the first N dev sentences")
    parser.add_argument(
        "--allow_parity_failure", action="store_true", help="keep a backend that fails parity"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    try:
        parity = build(
            args.model_dir,
            int8=args.int8,
            bf16=args.bf16,
            recipe=args.recipe,
            dataset=args.dataset,
            data_dir=args.data_dir,
            max_instances=args.max_instances,
            allow_parity_failure=args.allow_parity_failure,
        )
    except (ModelLoadError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(
        json.dumps(
            {b: {k: e[k] for k in ("fp32_f1", "backend_f1", "delta", "passed")} for b, e in parity.items()}
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
