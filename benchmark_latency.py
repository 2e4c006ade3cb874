#!/usr/bin/env python
"""Inference latency of encoders and decoder LLMs side by side (the seed's Table IV, measured honestly).

    python benchmark_latency.py --models runs/bc5cdr-minilm runs/bc5cdr-smollm2 --dataset bc5cdr \\
        --max_instances 200 --batch_size 1,16 --decoding free,constrained,speculative \\
        --draft_model runs/bc5cdr-minilm,all-O --with_f1

Every model is loaded once, warmed up, then timed on the same instances in every decoding mode and batch size:
inference only (the seed's timings included the metric), per instance, synchronised on GPU. Decoders also get
their one-pass floor (one teacher-forced pass over prompt + gold answer). ``speculative`` is checked against
``constrained`` on every instance (same tags; passes = 1 + corrections). Writes ``latency.json``,
``latency.md`` and, with ``--with_f1``, ``time_vs_f1.png`` to ``--output_dir``.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field

from transformers import HfArgumentParser

from bioner.corpora.sources import load_split
from bioner.data.conll import label_names
from bioner.data.splits import canonical_split
from bioner.data.tags import tag_names
from bioner.decoding.generative import DECODING_MODES
from bioner.evaluation.latency import Benchmark, load_drafts, load_timed_tagger, resolve_device
from bioner.models.onnx import BACKENDS, TORCH
from bioner.models.registry import ModelLoadError

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
    backend: str = field(
        default=TORCH,
        metadata={"help": f"Token classifiers' forward pass: {', '.join(BACKENDS)} (decoders: torch)."},
    )
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
    bench = Benchmark(
        [list(tokens) for tokens in data["tokens"]],
        tag_names(data["ner_tags"], label_names(data)),
        device=resolve_device(args.device),
        batch_sizes=_batch_sizes(args.batch_size),
        warmup=args.warmup,
        with_f1=args.with_f1,
        one_pass_floor=args.one_pass_floor,
    )

    def load(name: str):
        return load_timed_tagger(name, bench.device, args.dtype, args.load_in_4bit, args.bf16, args.backend)

    try:
        taggers = {name: load(name) for name in args.models}
        draft_names = None if args.draft_model is None else _split_list(args.draft_model, "draft_model")
        drafts = load_drafts(draft_names, taggers, load) if "speculative" in modes else []
        bench.time_all(taggers, modes, drafts)
    except (ModelLoadError, ValueError) as error:
        raise SystemExit(f"error: {error}") from None
    command = " ".join(["benchmark_latency.py", *sys.argv[1:]])
    return bench.write(args.output_dir, args.dataset, canonical_split(args.split), command)


if __name__ == "__main__":
    main()
