#!/usr/bin/env python
"""Score a trained NER model, or a predictions file, with the SemEval measures of the seed study.

    python evaluate_ner.py --model runs/bc5cdr-minilm --dataset bc5cdr --split test
    python evaluate_ner.py --model org/bc5cdr-biomedbert --dataset org/bc5cdr       # by Hub id
    python evaluate_ner.py --predictions runs/bc5cdr-minilm/predictions_test.jsonl   # no model needed
    python evaluate_ner.py --model org/bc5cdr-mistral-qlora --dataset bc5cdr --decoding free --load_in_4bit
    python evaluate_ner.py --model runs/bc5cdr-mistral --dataset bc5cdr --decoding speculative \
        --draft_model runs/bc5cdr-biomedbert                    # the LLM's tags at near-encoder cost
    python evaluate_ner.py --gold CDR_TestSet.PubTator.txt --predictions tagged.pubtator   # documents

Writes ``results.json``, ``predictions.jsonl``, ``report.md`` (Table III layout: overall and by entity length
1/2/3+, plus the relaxed Table V columns) and ``f1_by_length.png`` to ``--output_dir``, by default a folder of
its own under ``runs/``; another run's ``results.json`` is never replaced without ``--overwrite``.

With ``--gold``, ``--predictions`` holds documents rather than tags (PubTator, BioC XML/JSON, brat, or
tag.py's JSONL; formats detected) and mentions are scored by character offsets over whole documents, as the
BioCreative V CDR evaluation does (docs/scoring-documents.md), into the same report.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import HfArgumentParser

from bioner.corpora.records import DOCUMENT_FORMATS, read_any_documents
from bioner.corpora.scoring import score_documents
from bioner.corpora.sources import load_split
from bioner.data.conll import label_names
from bioner.data.files import DataFormatError
from bioner.data.splits import canonical_split
from bioner.data.tags import tag_names
from bioner.data.text import DEFAULT_WORD_STYLE, WORD_STYLES
from bioner.evaluation.records import (
    PredictionsFileError,
    claim_output_dir,
    eval_output_dir,
    headline,
    predictions_records,
    read_predictions,
    score_records,
    write_jsonl,
    write_outputs,
)
from bioner.models.registry import ModelLoadError
from bioner.tagging.arguments import TaggerArguments
from bioner.tagging.taggers import DecoderTagger

logger = logging.getLogger("evaluate_ner")


@dataclass
class EvaluationArguments:
    model: str | None = field(default=None, metadata={"help": "Trained model directory or Hub id."})
    predictions: str | None = field(
        default=None,
        metadata={
            "help": "Score this predictions JSONL instead of a model; with --gold, predicted documents (a"
            " file or brat folder in any of --predictions_format's formats)."
        },
    )
    gold: str | None = field(
        default=None,
        metadata={
            "help": "Gold documents (PubTator, BioC XML/JSON, brat folder or tag.py JSONL): score"
            " --predictions by mention character offsets over whole documents."
        },
    )
    gold_format: str = field(
        default="auto", metadata={"help": f"auto or one of {', '.join(DOCUMENT_FORMATS)}."}
    )
    predictions_format: str = field(
        default="auto",
        metadata={"help": f"With --gold: auto or one of {', '.join(DOCUMENT_FORMATS)} (.jsonl is tag.py's)."},
    )
    word_style: str = field(
        default=DEFAULT_WORD_STYLE,
        metadata={"help": f"With --gold: words counted for the entity-length bins, one of {WORD_STYLES}."},
    )
    dataset: str = field(
        default="demo", metadata={"help": "Registered name, data directory or Hub dataset id."}
    )
    data_dir: str | None = field(
        default=None, metadata={"help": "Folder of registered datasets (env BIONER_DATA_DIR)."}
    )
    split: str = field(default="test", metadata={"help": "train, validation (dev) or test."})
    max_instances: int | None = field(default=None, metadata={"help": "Score only the first N instances."})
    output_dir: str | None = field(
        default=None,
        metadata={
            "help": "Where results.json, report.md, f1_by_length.png (and predictions.jsonl) go. Default:"
            " a folder of its own: runs/eval-<model>-<dataset>[-<split> unless test],"
            " runs/eval-<folder>-<predictions file> or runs/eval-<predictions>-<gold>; never a training"
            " run's folder."
        },
    )
    overwrite: bool = field(
        default=False,
        metadata={
            "help": "Replace a results.json in --output_dir that another run wrote (refused otherwise)."
        },
    )


def predict_records(args: EvaluationArguments, tagger_args: TaggerArguments) -> tuple[list[dict], dict]:
    """Run the model over the chosen split; returns prediction records and timing metadata."""
    split = canonical_split(args.split)
    data = load_split(args.dataset, args.data_dir, args.split, args.max_instances)
    labels = label_names(data)
    tagger = tagger_args.load(args.model)
    unknown = sorted(set(labels) - set(tagger.labels))
    if unknown:
        logger.warning("the model cannot predict gold tags %s (trained on another label set?)", unknown)
    gold = tag_names(data["ner_tags"], labels)
    predictions = tagger(data["tokens"])
    meta = {
        "model": args.model,
        "dataset": args.dataset,
        "split": split,
        "instances": len(gold),
        "inference_seconds": round(tagger.last_seconds, 3),
        "sentences_per_second": round(len(gold) / tagger.last_seconds, 1),
    }
    if isinstance(tagger, DecoderTagger):
        meta.update({k: v for k, v in tagger.last_stats.items() if not isinstance(v, list)})
        if tagger_args.draft_model:
            meta["draft_model"] = tagger_args.draft_model
        meta["bf16_autocast"] = tagger.autocast_dtype == torch.bfloat16
    else:
        meta["bio_decoding"] = tagger_args.bio_decoding
        meta["backend"] = tagger_args.backend
        meta.update(
            {k: v for k, v in getattr(tagger, "last_stats", {}).items() if not isinstance(v, (list, dict))}
        )
    return predictions_records(data["id"], data["tokens"], gold, predictions), meta


def main(argv: list[str] | None = None) -> dict:
    args, tagger_args = HfArgumentParser((EvaluationArguments, TaggerArguments)).parse_args_into_dataclasses(
        args=argv
    )
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    if (args.model is None) == (args.predictions is None):
        raise SystemExit("pass exactly one of --model or --predictions")
    if args.gold is not None:
        if args.predictions is None:
            raise SystemExit("--gold scores documents: pass them with --predictions (tag them with tag.py)")
        return score_document_files(args)
    try:
        if args.predictions:
            identity = {"predictions": args.predictions}
            predictions = Path(args.predictions)
            default_dir = eval_output_dir(predictions.resolve().parent, predictions.stem)
        else:
            identity = {"model": args.model, "dataset": args.dataset, "split": canonical_split(args.split)}
            split = canonical_split(args.split)
            cascade = tagger_args.cascade_identity()  # a cascade is another evaluation than its small model
            identity.update(cascade)
            default_dir = eval_output_dir(
                args.model, cascade and "cascade", cascade.get("cascade_to"), args.dataset,
                None if split == "test" else split,
            )  # fmt: skip
        output_dir = claim_output_dir(args.output_dir or default_dir, identity, args.overwrite)
        if args.predictions:
            records, meta = read_predictions(args.predictions), {"predictions": args.predictions}
        else:
            records, meta = predict_records(args, tagger_args)
        scores = score_records(records)
    except (DataFormatError, PredictionsFileError, ModelLoadError, ValueError) as error:
        raise SystemExit(f"error: {error}") from None
    name = meta.get("split", "test")
    logger.info("%s: %s", name, headline(scores))
    meta["evaluation"] = identity
    write_outputs(output_dir, {name: scores}, {}, f"{args.model or args.predictions}", meta)
    if args.model:
        write_jsonl(records, output_dir / "predictions.jsonl")
    logger.info("wrote %s", output_dir)
    return {"scores": scores, "meta": meta}


def score_document_files(args: EvaluationArguments) -> dict:
    """Mention-level scores of the predicted documents against the gold ones (bioner.corpora.scoring)."""
    if args.word_style not in WORD_STYLES:
        raise SystemExit(f"error: --word_style must be one of {', '.join(WORD_STYLES)}")
    identity = {"gold": args.gold, "predictions": args.predictions}
    try:
        output_dir = claim_output_dir(
            args.output_dir or eval_output_dir(Path(args.predictions).stem, Path(args.gold).stem),
            identity,
            args.overwrite,
        )
        gold = read_any_documents(args.gold, args.gold_format)
        predicted = read_any_documents(args.predictions, args.predictions_format)
        scores = score_documents(gold, predicted, args.word_style)
    except ValueError as error:  # the format errors of every reader, and unpaired documents
        raise SystemExit(f"error: {error}") from None
    name = canonical_split(args.split)
    logger.info("%s: %s", name, headline(scores))
    meta = {
        "gold": args.gold,
        "predictions": args.predictions,
        "scoring": "mentions by document, type and character offsets (BioCreative V CDR)",
        "word_style": args.word_style,
        "documents": scores["num_documents"],
        **{kind: item["count"] for kind, item in scores["counted"].items()},
        "evaluation": identity,
    }
    title = f"{Path(args.predictions).name} against {Path(args.gold).name}"
    write_outputs(output_dir, {name: scores}, {}, title, meta)
    logger.info("wrote %s", output_dir)
    return {"scores": scores, "meta": meta}


if __name__ == "__main__":
    main()
