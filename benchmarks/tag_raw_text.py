#!/usr/bin/env python
"""Raw text vs pre-tokenized input: does tag.py's text path lose anything against the benchmark's tokens?

Rebuilds raw text from a BIO split (``bioner.data.text.detokenize``: ``56 - year - old`` -> ``56-year-old``,
no space before ``.``/``,``/``)``...), tags it through the raw-text path (word cutting + sentence splitting)
and through the pre-tokenized path (the split's own tokens and sentences), and scores both as character-offset
entities against the gold ones (strict: same start, end and type). Two layouts: one document per sentence, and
documents of ``--sentences_per_document`` consecutive sentences joined by a space (the sentence splitter must
find the boundaries). Prints figures and writes them as JSON.

    BIONER_DATA_DIR=../shared/data python benchmarks/tag_raw_text.py --model runs/bench/minilm-bc5cdr \
        --dataset bc5cdr --output benchmarks/results/tag_raw_text_bc5cdr_cpu.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bioner.corpora.model import Document  # noqa: E402
from bioner.corpora.sources import load_split  # noqa: E402
from bioner.data.conll import label_names  # noqa: E402
from bioner.data.tags import tag_names  # noqa: E402
from bioner.data.text import detokenize  # noqa: E402
from bioner.evaluation.latency import machine  # noqa: E402
from bioner.tagging.entities import segment, tag_documents  # noqa: E402
from bioner.tagging.taggers import load_tagger  # noqa: E402
from metrics.bio_ner.scoring import compute_ner_scores, extract_entities  # noqa: E402


def char_scores(gold: set, predicted: set) -> dict:
    correct = len(gold & predicted)
    precision = correct / len(predicted) if predicted else 0.0
    recall = correct / len(gold) if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
            "gold": len(gold), "predicted": len(predicted), "correct": correct}  # fmt: skip


def run_layout(tagger, sentences, gold_tags, group: int, style: str) -> dict:
    """Tag documents of ``group`` sentences both ways; entities as (document, start, end, type)."""
    gold, raw_docs, token_docs, token_spans, offsets = set(), [], [], [], []
    for number, first in enumerate(range(0, len(sentences), group)):
        block = range(first, min(first + group, len(sentences)))
        text, spans = "", []
        for i in block:
            piece, piece_spans = detokenize(sentences[i])
            shift = len(text) + (1 if text else 0)
            text = f"{text} {piece}" if text else piece
            spans.append([(a + shift, b + shift) for a, b in piece_spans])
        for i, sentence_spans in zip(block, spans, strict=True):
            for entity_type, start, end in extract_entities(gold_tags[i]):
                gold.add((number, sentence_spans[start][0], sentence_spans[end - 1][1], entity_type))
            token_docs.append(Document.from_words(f"{number}/{i}", sentences[i]))
            token_spans.append((number, sentence_spans))
        raw_docs.append(Document(id=str(number), text=text))
        offsets.append(spans)
    start = time.perf_counter()
    raw = tag_documents(tagger, raw_docs, style)
    raw_seconds = time.perf_counter() - start
    start = time.perf_counter()
    pre = tag_documents(tagger, token_docs, style, with_tags=True)
    pre_seconds = time.perf_counter() - start
    raw_entities = {(n, e["start"], e["end"], e["type"]) for n, r in enumerate(raw) for e in r["entities"]}
    pre_entities, pre_tags = set(), []
    for (number, sentence_spans), record in zip(token_spans, pre, strict=True):
        tags = [token["tag"] for token in record["tokens"]]
        pre_tags.append(tags)
        for entity_type, s, e in extract_entities(tags):
            pre_entities.add((number, sentence_spans[s][0], sentence_spans[e - 1][1], entity_type))
    same_words = sentence_count = 0
    for document, spans in zip(raw_docs, offsets, strict=True):
        cut = segment(document, style)
        same_words += cut.words == [span for sentence in spans for span in sentence]
        sentence_count += len(cut.sentences)
    return {
        "sentences_per_document": group,
        "documents": len(raw_docs),
        "raw_text": {
            **char_scores(gold, raw_entities),
            "seconds": round(raw_seconds, 2),
            "documents_per_second": round(len(raw_docs) / raw_seconds, 2),
            "sentences_found": sentence_count,
        },  # fmt: skip
        "pre_tokenized": {
            **char_scores(gold, pre_entities),
            "seconds": round(pre_seconds, 2),
            "metric_strict_f1": round(compute_ner_scores(pre_tags, gold_tags)["strict"]["f1"], 4),
        },  # fmt: skip
        "documents_with_identical_words": same_words,
        "entities_only_raw": len(raw_entities - pre_entities),
        "entities_only_pre_tokenized": len(pre_entities - raw_entities),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--dataset", default="bc5cdr")
    parser.add_argument("--split", default="test")
    parser.add_argument("--max_instances", type=int)
    parser.add_argument("--sentences_per_document", type=int, default=10)
    parser.add_argument("--word_style", default=None, help="default: the model's own, else split")
    parser.add_argument("--output")
    args = parser.parse_args()
    data = load_split(args.dataset, None, args.split, args.max_instances)
    labels = label_names(data)
    sentences = [list(tokens) for tokens in data["tokens"]]
    gold_tags = tag_names(data["ner_tags"], labels)
    tagger = load_tagger(args.model)
    style = args.word_style or tagger.word_style or "split"
    results = {"model": args.model, "dataset": args.dataset, "split": args.split, "sentences": len(sentences),
               "word_style": style, "machine": machine(), "layouts": []}  # fmt: skip
    for group in (1, args.sentences_per_document):
        layout = run_layout(tagger, sentences, gold_tags, group, style)
        results["layouts"].append(layout)
        print(json.dumps(layout, indent=1), flush=True)
    if args.output:
        Path(args.output).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
