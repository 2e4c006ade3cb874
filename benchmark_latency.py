#!/usr/bin/env python
"""Inference latency of encoders and decoder LLMs side by side (the seed's Table IV, measured honestly).

    python benchmark_latency.py --models runs/bc5cdr-minilm runs/bc5cdr-smollm2 --dataset bc5cdr \\
        --max_instances 200 --batch_size 1,16 --decoding free,constrained,speculative \\
        --draft_model runs/bc5cdr-minilm,all-O --with_f1

Every model is loaded once, warmed up, then timed on the same instances in every decoding mode and batch size:
inference only (the seed's timings included the metric), per instance, synchronised on GPU. Decoders also get
their one-pass floor (one teacher-forced pass over prompt + gold answer). ``speculative`` is checked against
``constrained`` on every instance (same tags; passes = 1 + corrections). Writes ``latency.json``, ``latency.md``
and, with ``--with_f1``, ``time_vs_f1.png`` to ``--output_dir``.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import HfArgumentParser

from bioner.data.conll import SPLIT_ALIASES, label_names, load_split
from bioner.decoding.generative import ALL_O_DRAFT, DECODING_MODES, SpeculativeDecoder
from bioner.evaluation.latency import LatencyRun, PeakMemory, machine, runs_to_json, time_batches
from bioner.evaluation.report import format_latency_report, plot_time_vs_f1
from bioner.models.registry import ModelLoadError
from bioner.tagging.taggers import DecoderTagger, EncoderTagger, load_tagger
from metrics.bio_ner.scoring import compute_ner_scores

logger = logging.getLogger("benchmark_latency")


@dataclass
class LatencyArguments:
    models: list[str] = field(
        default_factory=list, metadata={"help": "Trained encoders and decoders (dirs or Hub ids), mixed."}
    )
    dataset: str = field(default="demo", metadata={"help": "Registered name, data directory or Hub id."})
    data_dir: str | None = field(default=None, metadata={"help": "Folder of registered datasets."})
    split: str = field(default="test", metadata={"help": "train, validation (dev) or test."})
    max_instances: int | None = field(default=None, metadata={"help": "Time the first N instances only."})
    batch_size: str = field(default="1", metadata={"help": "Comma-separated batch sizes, e.g. 1,16."})
    decoding: str = field(
        default="constrained", metadata={"help": f"Decoder modes, comma-separated, of {DECODING_MODES}."}
    )
    draft_model: str | None = field(
        default=None,
        metadata={
            "aliases": ["--draft"],
            "help": "Drafts for speculative, comma-separated: encoder dirs/Hub ids and/or 'all-O'"
            " (default: the first encoder in --models, else all-O).",
        },
    )
    warmup: int = field(default=2, metadata={"help": "Untimed batches before each timed run."})
    with_f1: bool = field(default=False, metadata={"help": "Also score every run (strict/relaxed F1)."})
    one_pass_floor: bool = field(default=True, metadata={"help": "Time decoders' one-pass floor."})
    device: str = field(default="auto", metadata={"help": "cuda, cpu, or auto."})
    dtype: str | None = field(default=None, metadata={"help": "Decoder weights dtype (default: as trained)."})
    bf16: bool | None = field(default=None, metadata={"help": "Decoder bf16 autocast (default: as trained)."})
    load_in_4bit: bool | None = field(default=None, metadata={"help": "Decoder 4-bit (default: as trained)."})
    output_dir: str = field(default="runs/latency", metadata={"help": "Where latency.json/.md go."})


def _split_list(value: str, name: str) -> list[str]:
    items = [item.strip() for item in value.split(",") if item.strip()]
    if not items:
        raise SystemExit(f"--{name}: empty list")
    return items


def _batch_sizes(value: str) -> list[int]:
    try:
        sizes = [int(item) for item in _split_list(value, "batch_size")]
    except ValueError:
        raise SystemExit(f"--batch_size: expected comma-separated integers, got {value!r}") from None
    if any(size < 1 for size in sizes):
        raise SystemExit(f"--batch_size: sizes must be >= 1, got {value!r}")
    return sizes


def _dtype(tagger) -> str:
    model = tagger.model
    dtype = str(next(model.parameters()).dtype).replace("torch.", "")
    if getattr(getattr(model, "config", None), "quantization_config", None):
        dtype = f"4-bit ({dtype} compute)"
    if isinstance(tagger, DecoderTagger) and tagger.autocast_dtype is not None:
        dtype += f" + {str(tagger.autocast_dtype).replace('torch.', '')} autocast"
    return dtype


class Benchmark:
    """Times every model/mode/batch size on the same instances and keeps the runs."""

    def __init__(self, args: LatencyArguments, words: list[list[str]], gold: list[list[str]]):
        self.args, self.words, self.gold = args, words, gold
        self.device = torch.device(
            ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
        )
        self.runs: list[LatencyRun] = []
        self.batch_sizes = _batch_sizes(args.batch_size)

    def _run(self, tagger, model: str, kind: str, mode: str, size: int, draft=None) -> LatencyRun:
        tagger.batch_size = size
        stats: list[dict] = []

        def call(batch: list[int]) -> list[list[str]]:
            tags = tagger([self.words[i] for i in batch], progress=False)
            stats.append(dict(getattr(tagger, "last_stats", {})))
            return tags

        with PeakMemory(self.device) as memory:
            seconds, results = time_batches(call, range(len(self.words)), size, self.args.warmup, self.device)
        stats = stats[-len(results) :]  # drop the warm-up calls
        run = LatencyRun(
            model, kind, mode, size, len(self.words), seconds, device=str(self.device), dtype=_dtype(tagger)
        )
        run.predictions = [tags for batch in results for tags in batch]
        run.peak_memory_mb = memory.mb
        if kind == "decoder":
            run.forward_passes = [p for s in stats for p in s["forward_passes"]]
            run.generated_tokens = sum(
                s["generated_tokens_per_instance"] * len(s["forward_passes"]) for s in stats
            )
            run.generated_tokens /= len(self.words)
        if mode == "speculative":
            run.draft = draft if isinstance(draft, str) else draft_name(draft)
            run.corrections = [c for s in stats for c in s["corrections"]]
            run.draft_seconds = sum(s["draft_seconds"] for s in stats)
            agreeing = sum(s["draft_agreeing_tags"] for s in stats)
            run.draft_tag_agreement = agreeing / max(sum(s["draft_tags"] for s in stats), 1)
            _check_passes(run, stats)
        if self.args.with_f1:
            run.scores = compute_ner_scores(run.predictions, self.gold)
        self.runs.append(run)
        logger.info("%s b=%d: %.4f s/instance", run.name, size, sum(seconds) / len(seconds))
        return run

    def encoder(self, model: str, tagger: EncoderTagger) -> None:
        for size in self.batch_sizes:
            self._run(tagger, model, tagger.kind, tagger.decoding, size)

    def decoder(self, model: str, tagger: DecoderTagger, modes: list[str], drafts: list) -> None:
        for size in self.batch_sizes:
            if self.args.one_pass_floor:
                self.floor(model, tagger, size)
            reference = None
            for mode in modes:
                for draft in drafts if mode == "speculative" else [None]:
                    tagger.decoding, tagger.draft = mode, draft
                    run = self._run(tagger, model, "decoder", mode, size, draft)
                    if mode == "constrained":
                        reference = run
                    elif mode == "speculative" and reference is not None:
                        _check_identical(run, reference)

    def floor(self, model: str, tagger: DecoderTagger, size: int) -> None:
        """One teacher-forced pass over prompt + gold answer per instance: the speculative pass with a perfect
        draft, without checking it."""
        current: list[int] = []
        decoder = SpeculativeDecoder(
            tagger.model,
            tagger.answers,
            draft=lambda sentences, progress=False: [self.gold[i] for i in current],
            batch_size=size,
            autocast_dtype=tagger.autocast_dtype,
        )

        def call(batch: list[int]) -> None:
            current[:] = batch
            decoder.single_pass([self.words[i] for i in batch])

        with PeakMemory(self.device) as memory:
            seconds, _ = time_batches(call, range(len(self.words)), size, self.args.warmup, self.device)
        run = LatencyRun(
            model, "floor", "one-pass floor", size, len(self.words), seconds, device=str(self.device)
        )
        run.dtype, run.peak_memory_mb = _dtype(tagger), memory.mb
        run.forward_passes = [1] * len(self.words)
        self.runs.append(run)


def draft_name(draft) -> str:
    return getattr(draft, "name_or_path", None) or "encoder"


def _check_passes(run: LatencyRun, stats: list[dict]) -> None:
    """Speculative decoding costs one pass per window plus one per correction that something follows."""
    windows = [w for s in stats for w in s["windows"]]
    finals = [f for s in stats for f in s["final_corrections"]]
    for index, (passes, corrections, window, final) in enumerate(
        zip(run.forward_passes, run.corrections, windows, finals, strict=True)
    ):
        if passes != window + corrections - final:
            raise AssertionError(
                f"instance {index}: {passes} passes for {window} window(s), {corrections} corrections"
            )


def _check_identical(run: LatencyRun, reference: LatencyRun) -> None:
    same = sum(a == b for a, b in zip(run.predictions, reference.predictions, strict=True))
    run.identical_to_constrained = same
    if same != len(run.predictions):
        logger.warning(
            "%s: %d of %d instances differ from constrained (floating-point near-ties?)",
            run.name,
            len(run.predictions) - same,
            len(run.predictions),
        )


def main(argv: list[str] | None = None) -> dict:
    (args,) = HfArgumentParser(LatencyArguments).parse_args_into_dataclasses(args=argv)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    if not args.models:
        raise SystemExit("--models: pass at least one trained model")
    modes = _split_list(args.decoding, "decoding")
    unknown = sorted(set(modes) - set(DECODING_MODES))
    if unknown:
        raise SystemExit(f"--decoding: unknown mode(s) {unknown}; choose from {DECODING_MODES}")
    try:
        data = load_split(args.dataset, args.data_dir, args.split, args.max_instances)
    except ValueError as error:  # DataFormatError included
        raise SystemExit(f"error: {error}") from None
    labels = label_names(data)
    words = [list(tokens) for tokens in data["tokens"]]
    gold = [[labels[i] for i in tags] for tags in data["ner_tags"]]
    bench = Benchmark(args, words, gold)
    try:
        taggers = {name: _load(name, args, bench.device) for name in args.models}
        drafts = _drafts(args, taggers, bench.device) if "speculative" in modes else []
        for name, tagger in taggers.items():
            if isinstance(tagger, EncoderTagger):
                bench.encoder(name, tagger)
            else:
                bench.decoder(name, tagger, modes, drafts)
    except (ModelLoadError, ValueError) as error:
        raise SystemExit(f"error: {error}") from None
    return write_results(args, bench, SPLIT_ALIASES.get(args.split, args.split))


def _load(name: str, args: LatencyArguments, device: torch.device):
    tagger = load_tagger(
        name,
        device=str(device),
        dtype=args.dtype,
        load_in_4bit=args.load_in_4bit,
        autocast_dtype={None: "as-trained", True: "bfloat16", False: "none"}[args.bf16],
    )
    tagger.name_or_path = name
    return tagger


def _drafts(args: LatencyArguments, taggers: dict, device: torch.device) -> list:
    if args.draft_model is None:
        encoders = [t for t in taggers.values() if isinstance(t, EncoderTagger) and t.kind == "encoder"]
        return encoders[:1] or [ALL_O_DRAFT]
    drafts = []
    for name in _split_list(args.draft_model, "draft_model"):
        if name == ALL_O_DRAFT:
            drafts.append(ALL_O_DRAFT)
        elif isinstance(taggers.get(name), EncoderTagger):
            drafts.append(taggers[name])
        else:
            draft = _load(name, args, device)
            if not isinstance(draft, EncoderTagger):
                raise SystemExit(f"--draft_model {name}: a draft must be an encoder or 'all-O'")
            drafts.append(draft)
    return drafts


def write_results(args: LatencyArguments, bench: Benchmark, split: str) -> dict:
    memory = "CUDA max_memory_allocated" if bench.device.type == "cuda" else "process peak RSS per run"
    meta = {
        "command": " ".join(["benchmark_latency.py", *sys.argv[1:]]),
        "dataset": args.dataset,
        "split": split,
        "instances": len(bench.words),
        "device": str(bench.device),
        "machine": machine(),
        "memory": memory,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
    rows = [run.summary() for run in bench.runs]
    output = Path(args.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    payload = {"meta": meta, "summary": rows, "runs": runs_to_json(bench.runs)}
    (output / "latency.json").write_text(json.dumps(payload, indent=2) + "\n")
    markdown = format_latency_report(rows, Path(args.dataset).name, meta)
    (output / "latency.md").write_text(markdown)
    if args.with_f1:
        plot_time_vs_f1(rows, output / "time_vs_f1.png")
    print(markdown)
    logger.info("wrote %s", output)
    return payload


if __name__ == "__main__":
    main()
