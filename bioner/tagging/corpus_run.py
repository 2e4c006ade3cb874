"""Corpus-scale tagging (``tag.py --output_dir``): many input files (PubMed baseline/update files, JATS
articles, any input tag.py reads), one output per input file, streamed, resumable file by file.

    summary = tag_corpus(args, load_tagger, style_of)      # args: tag.py's TagArguments (or alike)

For each input file, in order, ``DIR/<stem><suffix>`` is written (``pubmed24n0001.xml.gz`` ->
``pubmed24n0001.pubtator``; a brat output is a folder ``DIR/<stem>``):

- documents are read as a stream (PubMed and JATS: one citation or article at a time) and tagged
  ``--documents_per_step`` at a time; the records go to ``<output>.jsonl`` (the output itself for
  ``--output_format jsonl``) through `bioner.tagging.shards.ShardedOutput`, so a stopped run goes on from the
  last record written; a file whose output exists is done and left alone (``--overwrite_output`` redoes it);
- a formatted output is then written from the records and a second read of the input (for the passages),
  to ``<output>.partial`` first and renamed, so an output that exists is whole. Memory is bounded by one input
  file's records (a PubMed file: 30,000 citations), never the corpus;
- PubMed ``<DeleteCitation>`` PMIDs go to ``<output>.deleted_pmids.txt`` (written before the output);
- every citation is accounted for: the summary (and the log) gives per file the documents read, skipped by
  reason and the parts left out (`bioner.corpora.xmlfiles.ReadReport`).

A progress bar per file counts documents (abstracts) per second. Under ``accelerate launch`` the files are
shared between the processes (each process writes whole files).
"""

from __future__ import annotations

import glob
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from bioner.corpora import detect_format, write_documents
from bioner.corpora.jats import iter_jats
from bioner.corpora.model import Document
from bioner.corpora.pubmed import iter_pubmed, write_deleted_pmids
from bioner.corpora.xmlfiles import ReadReport
from bioner.data.files import DataFormatError
from bioner.data.jsonl import read_jsonl_objects
from bioner.models.registry import ModelLoadError
from bioner.tagging import outputs
from bioner.tagging.entities import tag_documents
from bioner.tagging.inputs import InputFormatError, input_format_of, read_inputs
from bioner.tagging.shards import OutputMergeError, ShardedOutput

logger = logging.getLogger(__name__)

OUTPUT_SUFFIXES = {
    "jsonl": ".jsonl",
    "pubtator": ".pubtator",
    "bioc_xml": ".xml",
    "bioc_json": ".json",
    "brat": "",
}
DELETED_SUFFIX = ".deleted_pmids.txt"


@dataclass
class FileJob:
    """One input file and where its outputs go."""

    source: Path
    format: str
    output: Path
    records: Path

    @property
    def deleted(self) -> Path:
        return self.output.with_name(self.output.name + DELETED_SUFFIX)


def expand_inputs(inputs: Sequence[str]) -> list[Path]:
    """The input files, in order: a folder (other than a brat folder) gives its files (sorted, hidden ones
    left out), a pattern with ``*``, ``?`` or ``[`` that names no file gives its matches (sorted)."""
    paths: list[Path] = []
    for name in inputs:
        path = Path(name)
        if not path.exists() and any(c in name for c in "*?["):
            matches = sorted(Path(m) for m in glob.glob(name))
            if not matches:
                raise InputFormatError(f"{name}: no file matches this pattern")
            paths += matches
        elif path.is_dir() and detect_format(path) != "brat":
            paths += sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
        elif not path.exists():
            raise InputFormatError(f"{name}: file or folder not found")
        else:
            paths.append(path)
    if not paths:
        raise InputFormatError("no input files (the folders given are empty)")
    return paths


def output_stem(path: Path) -> str:
    """``pubmed24n0001.xml.gz`` -> ``pubmed24n0001``; ``PMC123.nxml`` -> ``PMC123``."""
    name = path.name[: -len(".gz")] if path.name.endswith(".gz") else path.name
    return Path(name).stem if "." in name.lstrip(".") else name


def plan_files(
    inputs: Sequence[str], output_dir: str | os.PathLike[str], output_format: str, input_format: str = "auto"
) -> list[FileJob]:
    """One job per input file; the format of each is detected (or ``input_format``) before any tagging, and
    two inputs with one output name are an error."""
    if output_format not in OUTPUT_SUFFIXES:
        raise ValueError(
            f"--output_format must be one of {', '.join(OUTPUT_SUFFIXES)}, not {output_format!r}"
        )
    jobs, seen = [], {}
    for path in expand_inputs(inputs):
        kind = input_format_of(path) if input_format == "auto" else input_format
        output = Path(output_dir) / (output_stem(path) + OUTPUT_SUFFIXES[output_format])
        if output in seen:
            raise InputFormatError(f"{path} and {seen[output]} would both be written to {output}")
        seen[output] = path
        records = output if output_format == "jsonl" else output.with_name(output.name + ".jsonl")
        jobs.append(FileJob(path, kind, output, records))
    return jobs


def stream_documents(
    job: FileJob, report: ReadReport, without_abstract: str = "keep", **options
) -> Iterator[Document]:
    """The documents of one input: PubMed and JATS streamed; any other input as tag.py reads it (``options``:
    ``txt_unit``, ``text_field``, ``tokens_field``, ``id_field``)."""
    if job.format == "pubmed":
        yield from iter_pubmed(job.source, report, without_abstract=without_abstract)
    elif job.format == "jats":
        yield from iter_jats(job.source, report)
    else:
        documents = read_inputs([job.source], input_format=job.format, **options)
        report.records += len(documents)
        report.documents += len(documents)
        yield from documents


def check_writable(documents: Sequence[Document], output_format: str) -> None:
    """`bioner.tagging.outputs.check_writable` for a batch, naming the output of the input it came from."""
    sources = sorted({d.source.rpartition(":")[0] or d.source for d in documents if d.source})[:1]
    where = f"the {output_format} output" + (f" of {sources[0]}" if sources else "")
    outputs.check_writable(documents, output_format, where)


@dataclass
class RunOptions:
    output_format: str = "jsonl"
    documents_per_step: int = 64
    with_tags: bool = False
    overwrite: bool = False
    without_abstract: str = "keep"
    show_progress: bool = True
    input_options: dict | None = None


def tag_file(job: FileJob, tagger, style: str, options: RunOptions) -> dict:
    """Tag one input file into its output (see the module's description); returns what was done."""
    sink = ShardedOutput(job.records)
    if options.overwrite:
        sink.remove()
        _remove(job.output)
        job.deleted.unlink(missing_ok=True)
    summary: dict = {"input": str(job.source), "output": str(job.output), "tagged": 0}
    if job.output.exists():  # written whole (renamed into place, or merged)
        if sink.parts.is_dir():  # stopped between the merge and the clean-up
            shutil.rmtree(sink.parts)
        logger.info("%s: done before (%s exists)", job.source, job.output)
        return {**summary, "done_before": True}
    report = ReadReport()
    input_options = options.input_options or {}
    if not sink.output.exists():
        done = sink.done()
        if done:
            logger.info("%s: resuming, %d document(s) already written", job.source, len(done))
        total = 0
        with (
            sink.open(0) as handle,
            tqdm(unit="doc", desc=job.source.name, disable=not options.show_progress) as bar,
        ):
            batch: list[tuple[int, Document]] = []
            for index, document in enumerate(
                stream_documents(job, report, options.without_abstract, **input_options)
            ):
                total += 1
                if index not in done:
                    batch.append((index, document))
                if len(batch) == options.documents_per_step:
                    summary["tagged"] += _tag_batch(batch, tagger, style, options, sink, handle, bar)
                    batch = []
            summary["tagged"] += _tag_batch(batch, tagger, style, options, sink, handle, bar)
        if report.deleted and job.output == job.records:  # before the output: one that exists is complete
            write_deleted_pmids(report.deleted, job.deleted)
        sink.merge(total)
    if job.output != job.records:
        second = _write_formatted(job, options)
        report = report if report.records else second  # the records were tagged by an earlier run
    report.log(job.source)
    return {**summary, **report.as_dict()}


def _tag_batch(batch, tagger, style, options: RunOptions, sink: ShardedOutput, handle, bar) -> int:
    if not batch:
        return 0
    documents = [document for _, document in batch]
    check_writable(documents, options.output_format)
    records = tag_documents(tagger, documents, style, with_tags=options.with_tags)
    for (index, _), record in zip(batch, records, strict=True):
        sink.write(handle, index, record)
    handle.flush()
    bar.update(len(batch))
    return len(batch)


def _write_formatted(job: FileJob, options: RunOptions) -> ReadReport:
    """The formatted output from the records and the input's passages (read again), written whole."""
    tagged, report = [], ReadReport()
    documents = stream_documents(job, report, options.without_abstract, **(options.input_options or {}))
    records = read_jsonl_objects(job.records, InputFormatError)
    for document, (where, record) in zip(documents, records, strict=False):
        if str(record.get("id")) != document.id:
            raise OutputMergeError(
                f"{where}: record of {record.get('id')!r} where {document.id!r} was expected"
            )
        tagged.append(outputs.tagged_document(document, record, where, options.output_format))
    if len(tagged) != report.documents or next(records, None) is not None:
        raise OutputMergeError(f"{job.records} does not hold one record per document of {job.source}")
    if report.deleted:
        write_deleted_pmids(report.deleted, job.deleted)
    partial = job.output.with_name(job.output.name + ".partial")
    _remove(partial)
    write_documents(tagged, partial, options.output_format)
    os.replace(partial, job.output)
    return report


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def tag_corpus(
    args, load_tagger: Callable[[], object], style_of: Callable[[object], str], state=None
) -> dict:
    """tag.py ``--output_dir``: plan the files (formats detected, errors before the model loads), load the
    tagger, tag every file (shared between processes under ``accelerate launch``). ``args`` has tag.py's
    ``input``, ``output_dir``, ``input_format``, ``output_format``, ``documents_per_step``, ``with_tags``,
    ``overwrite_output``, ``skip_without_abstract`` and the JSONL/txt input options."""
    if args.text:
        raise SystemExit("error: --output_dir tags --input files (one output each), not --text")
    if args.output is not None:
        raise SystemExit(
            "error: pass --output (one output for all inputs) or --output_dir (one per input file)"
        )
    if not args.input:
        raise SystemExit("error: nothing to tag: pass --input FILE... (files, folders or patterns)")
    without_abstract = "skip" if args.skip_without_abstract else "keep"
    try:
        jobs = plan_files(args.input, args.output_dir, args.output_format, args.input_format)
        tagger = load_tagger()
    except (DataFormatError, ModelLoadError, ValueError) as error:
        raise SystemExit(f"error: {error}") from None
    style = style_of(tagger)
    options = RunOptions(
        output_format=args.output_format,
        documents_per_step=args.documents_per_step,
        with_tags=args.with_tags,
        overwrite=args.overwrite_output,
        without_abstract=without_abstract,
        show_progress=state is None or state.is_local_main_process,
        input_options={
            "txt_unit": args.txt_unit,
            "text_field": args.text_field,
            "tokens_field": args.tokens_field,
            "id_field": args.id_field,
        },
    )
    Path(args.output_dir).mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    files = []
    try:
        if state is None or state.num_processes == 1:
            files = [tag_file(job, tagger, style, options) for job in jobs]
        else:
            with state.split_between_processes(jobs) as mine:
                files = [tag_file(job, tagger, style, options) for job in mine]
            state.wait_for_everyone()
    except (DataFormatError, OutputMergeError, ValueError) as error:
        raise SystemExit(f"error: {error}") from None
    seconds = time.perf_counter() - start
    tagged = sum(f["tagged"] for f in files)
    logger.info(
        "%d file(s), %d document(s) tagged in %.1f s (%.1f documents/s)",
        len(files), tagged, seconds, tagged / seconds if seconds else 0,
    )  # fmt: skip
    return {
        "files": files,
        "tagged": tagged,
        "seconds": round(seconds, 2),
        "documents_per_second": round(tagged / seconds, 2) if seconds else None,
    }
