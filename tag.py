#!/usr/bin/env python
"""Tag raw text (or pre-tokenized words) with any trained model: entities with character offsets, as JSONL.

    python tag.py --model runs/bc5cdr-minilm --text "Cisplatin-induced nephrotoxicity in rats."
    python tag.py --model org/bc5cdr-biomedbert --input abstracts/*.txt --output entities.jsonl
    python tag.py --model runs/bc5cdr-llama --input pubmed.jsonl --text_field abstract --output out.jsonl \
        --decoding speculative --draft_model runs/bc5cdr-biomedbert
    accelerate launch --num_processes 4 tag.py --model ... --input corpus.jsonl --output out.jsonl

    python tag.py --model runs/bc5cdr-minilm --input CDR_TestSet.PubTator.txt --output tagged.pubtator \
        --output_format pubtator                                  # or bioc_xml, bioc_json, brat (a folder)

Each output line is one input document, in input order: ``{"id", "text", "entities": [{"start", "end", "text",
"type", "score"}]}`` with ``text[start:end] == entity["text"]`` (``score``, the mean tag probability, for
encoders only); ``--with_tags`` adds every word's span and tag and the sentence spans. Raw text is cut into
words the way the model's training corpus was (``bioner/data/text.py``) and into sentences; long sentences are
windowed by the model, never truncated. Under ``accelerate launch`` each process tags its share of the
documents; a stopped run resumes where it stopped when started again with the same arguments.

Annotated corpora (PubTator, BioC XML/JSON, brat) are read as documents with their ids and passages (a
sentence never crosses a passage); their own mentions are not used. ``--output_format
pubtator|bioc_xml|bioc_json|brat`` writes the predicted mentions in that format, with the input's ids and
passages (docs/tagging-formats.md). The records go to ``<output>.jsonl`` first, which resumes and shares the
work as above and keeps the scores; the formatted output is written from it once every document is tagged (a
run stopped before that resumes from the JSONL and writes it then).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import torch
from accelerate import PartialState
from tqdm.auto import tqdm
from transformers import HfArgumentParser

from bioner.corpora import FORMATS, Document, write_documents
from bioner.data.jsonl import read_jsonl_objects
from bioner.data.text import DEFAULT_WORD_STYLE, WORD_STYLES
from bioner.models.registry import ModelLoadError
from bioner.tagging.arguments import TaggerArguments
from bioner.tagging.corpus_run import tag_corpus
from bioner.tagging.entities import tag_documents
from bioner.tagging.inputs import INPUT_FORMATS, TXT_UNITS, InputFormatError, read_inputs
from bioner.tagging.outputs import check_writable, tagged_document
from bioner.tagging.shards import OutputMergeError, ShardedOutput

logger = logging.getLogger("tag")
OUTPUT_FORMATS = ("jsonl", *FORMATS)


@dataclass
class TagArguments:
    model: str = field(metadata={"help": "Trained model directory or Hub id (encoder or decoder LLM)."})
    input: list[str] = field(
        default_factory=list,
        metadata={
            "help": "Input files: .txt, .jsonl, CoNLL (.tsv/.conll), or annotated corpora: PubTator, BioC"
            " XML/JSON, brat (a folder or .txt/.ann pair); their ids and passages are kept."
        },
    )
    text: list[str] = field(
        default_factory=list, metadata={"help": "Texts to tag, given on the command line."}
    )
    output: str | None = field(
        default=None,
        metadata={
            "help": "Output file (a folder for brat); default: print JSONL records to standard output."
        },
    )
    output_format: str = field(
        default="jsonl",
        metadata={
            "help": f"One of {', '.join(OUTPUT_FORMATS)}. Other than jsonl, needs --output: the records go to"
            " <output>.jsonl (resumable, data-parallel, with scores) and the formatted output is written"
            " whole from it once every document is tagged (a stopped run resumes from <output>.jsonl, not"
            " the formatted"
            " file)."
        },
    )
    input_format: str = field(
        default="auto",
        metadata={
            "help": f"{INPUT_FORMATS}; auto goes by the suffix (.jsonl, .tsv/.conll, .xml), then by content"
            " (PubTator, BioC JSON, brat), else .txt."
        },
    )
    txt_unit: str = field(
        default="file", metadata={"help": f"{TXT_UNITS}: one document per .txt file or line."}
    )
    text_field: str = field(default="text", metadata={"help": "JSONL field holding raw text."})
    tokens_field: str = field(
        default="tokens",
        metadata={"help": "JSONL field holding pre-tokenized words (used when no text field)."},
    )
    id_field: str = field(
        default="id", metadata={"help": "JSONL field holding the document id (default: file:line)."}
    )
    word_style: str = field(
        default="auto",
        metadata={
            "help": f"How raw text is cut into words: {WORD_STYLES}, or auto (the style the model recorded at"
            f" training; {DEFAULT_WORD_STYLE} when it recorded none)."
        },
    )
    with_tags: bool = field(default=False, metadata={"help": "Also write each word's span and BIO tag."})
    documents_per_step: int = field(
        default=64, metadata={"help": "Documents whose sentences are tagged together (then written)."}
    )
    overwrite_output: bool = field(
        default=False, metadata={"help": "Tag everything again over an old output."}
    )
    output_dir: str | None = field(
        default=None,
        metadata={
            "help": "One output per input file (files, folders or patterns: e.g. PubMed baseline files),"
            " streamed and resumable file by file: DIR/<stem>.<format suffix> (docs/pubmed.md); not with"
            " --output."
        },
    )
    skip_without_abstract: bool = field(
        default=False,
        metadata={"help": "PubMed: skip (and count) citations without an abstract, not tag their titles."},
    )


def word_style(args: TagArguments, tagger) -> str:
    if args.word_style != "auto":
        if tagger.word_style and tagger.word_style != args.word_style:
            logger.warning(
                "--word_style %s differs from the model's training data (%s)",
                args.word_style,
                tagger.word_style,
            )
        return args.word_style
    if tagger.word_style is None:
        logger.warning(
            "%s does not record its corpus's word style; using '%s'", args.model, DEFAULT_WORD_STYLE
        )
    return tagger.word_style or DEFAULT_WORD_STYLE


def load_inputs(args: TagArguments) -> list[Document]:
    if not args.input and not args.text:
        raise SystemExit("error: nothing to tag: pass --input FILE... or --text TEXT...")
    documents = [Document(id=f"text-{i}", text=text) for i, text in enumerate(args.text)]
    return documents + read_inputs(
        args.input,
        input_format=args.input_format,
        txt_unit=args.txt_unit,
        text_field=args.text_field,
        tokens_field=args.tokens_field,
        id_field=args.id_field,
    )


def main(argv: list[str] | None = None) -> dict:
    args, tagger_args = HfArgumentParser((TagArguments, TaggerArguments)).parse_args_into_dataclasses(
        args=argv
    )
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    # Launched processes without CUDA (accelerate launch on a CPU box) share the work over gloo.
    state = PartialState(cpu="LOCAL_RANK" in os.environ and not torch.cuda.is_available())
    if args.word_style not in ("auto", *WORD_STYLES):
        raise SystemExit(f"error: --word_style must be auto or one of {', '.join(WORD_STYLES)}")
    if args.output_dir is not None:  # one output per input file, streamed (bioner/tagging/corpus_run.py)
        load = partial(tagger_args.load, args.model, device=str(state.device))
        return tag_corpus(args, load, partial(word_style, args), state)
    if args.output is None and state.num_processes > 1:
        raise SystemExit("error: --output is needed when several processes tag (accelerate launch)")
    if args.output_format not in OUTPUT_FORMATS:
        raise SystemExit(f"error: --output_format must be one of {', '.join(OUTPUT_FORMATS)}")
    if args.output_format != "jsonl" and args.output is None:
        raise SystemExit(f"error: --output_format {args.output_format} needs --output")
    try:
        documents = load_inputs(args)
        if args.output_format != "jsonl":
            check_writable(documents, args.output_format, args.output)
        tagger = tagger_args.load(args.model, device=str(state.device))
    except (InputFormatError, ModelLoadError, ValueError) as error:
        raise SystemExit(f"error: {error}") from None
    style = word_style(args, tagger)
    if args.output is not None:
        summary = tag_to_file(args, tagger, documents, style, state)
        if args.output_format != "jsonl" and state.is_main_process:
            try:
                write_formatted(documents, records_path(args), args.output, args.output_format)
            except ValueError as error:  # InputFormatError and the corpus writers' CorpusFormatError
                raise SystemExit(f"error: {error}") from None
            logger.info("wrote %s (%s) from %s", args.output, args.output_format, records_path(args))
        return summary
    records = []
    for _, record in tag_in_steps(args, tagger, documents, range(len(documents)), style):
        print(json.dumps(record, ensure_ascii=False), flush=True)
        records.append(record)
    return {"documents": len(records), "records": records}


def tag_in_steps(
    args: TagArguments,
    tagger,
    documents: list[Document],
    indices: Sequence[int],
    style: str,
    show: bool = True,
) -> Iterator[tuple[int, dict]]:
    """``(index, record)`` for the documents at ``indices``, tagged ``--documents_per_step`` at a time, with a
    progress bar over documents."""
    with tqdm(total=len(indices), unit="doc", desc="tagging", disable=not show) as bar:
        for offset in range(0, len(indices), args.documents_per_step):
            step = indices[offset : offset + args.documents_per_step]
            records = tag_documents(tagger, [documents[i] for i in step], style, with_tags=args.with_tags)
            yield from zip(step, records, strict=True)
            bar.update(len(step))


def tag_to_file(
    args: TagArguments, tagger, documents: list[Document], style: str, state: PartialState
) -> dict:
    """Tag this process's share of the documents not yet written; the main process merges all shares."""
    sink = ShardedOutput(records_path(args))
    if state.is_main_process and args.overwrite_output:
        sink.remove()
    state.wait_for_everyone()
    if sink.output.exists():
        written = sink.output.read_text(encoding="utf-8").count("\n")
        if written != len(documents):
            raise SystemExit(
                f"error: {sink.output} exists with {written} records for {len(documents)} documents; pass"
                " --overwrite_output to tag again, or choose another --output"
            )
        logger.info("%s already holds all %d documents; nothing to do", sink.output, written)
        if state.is_main_process and sink.parts.is_dir():  # stopped between the merge and the clean-up
            shutil.rmtree(sink.parts)
        return {"documents": len(documents), "tagged": 0}
    done = sink.done()
    state.wait_for_everyone()  # every process has read the parts before any writes to them
    pending = [index for index in range(len(documents)) if index not in done]
    if done and state.is_main_process:
        logger.info(
            "resuming: %d of %d documents already written, %d to go", len(done), len(documents), len(pending)
        )
    start = time.perf_counter()
    characters = entities = 0
    with state.split_between_processes(pending) as mine, sink.open(state.process_index) as handle:
        show = state.is_local_main_process
        for index, record in tag_in_steps(args, tagger, documents, mine, style, show):
            sink.write(handle, index, record)
            handle.flush()
            entities += len(record["entities"])
            characters += len(record["text"])
    logger.info("process %d of %d tagged %d documents", state.process_index, state.num_processes, len(mine))
    state.wait_for_everyone()
    seconds = time.perf_counter() - start
    summary = {"documents": len(documents), "tagged": len(pending), "seconds": round(seconds, 2)}
    if state.is_main_process:
        try:
            sink.merge(len(documents))
        except OutputMergeError as error:
            raise SystemExit(f"error: {error}") from None
        summary["documents_per_second"] = round(len(pending) / seconds, 2) if seconds else None
        logger.info(
            "tagged %d documents in %.1f s (%.1f documents/s over %d process(es)); this process: %d entities"
            " in %d characters; wrote %s",
            len(pending), seconds, summary["documents_per_second"] or 0, state.num_processes, entities,
            characters, sink.output,
        )  # fmt: skip
    return summary


def records_path(args: TagArguments) -> str:
    """Where the JSONL records go: the output itself, or ``<output>.jsonl`` beside a formatted output."""
    return args.output if args.output_format == "jsonl" else f"{args.output}.jsonl"


def write_formatted(documents: list[Document], records: str, output: str, output_format: str) -> None:
    """Write the tagged records (in input order, one per document) as ``output_format`` at ``output``."""
    lines = list(read_jsonl_objects(Path(records), InputFormatError))
    if len(lines) != len(documents):
        raise SystemExit(f"error: {records} holds {len(lines)} records for {len(documents)} documents")
    tagged = [
        tagged_document(d, r, where, output_format) for d, (where, r) in zip(documents, lines, strict=True)
    ]
    write_documents(tagged, output, output_format)


if __name__ == "__main__":
    try:
        main()
    except BrokenPipeError:  # e.g. piped into head
        sys.exit(0)
