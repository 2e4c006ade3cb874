"""Timing taggers honestly: inference only, per instance, after warm-up, synchronised on GPU.

The seed timed its evaluation loop with the metric inside; here a run times only the tagger call on each batch
(prompt building, tokenization, the forward passes and, for ``speculative``, the encoder's draft), never model
loading, warm-up or scoring. Decoder cost is also counted in forward passes, which do not depend on the
hardware.
"""

from __future__ import annotations

import json
import logging
import math
import platform
import resource
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from bioner.decoding.generative import ALL_O_DRAFT, SpeculativeDecoder
from bioner.evaluation.report import format_latency_report, plot_time_vs_f1
from bioner.models.registry import LLM_TOKEN_CLASSIFIER
from bioner.tagging.taggers import DecoderTagger, EncoderTagger, load_tagger
from metrics.bio_ner.scoring import compute_ner_scores

logger = logging.getLogger(__name__)


@dataclass
class LatencyRun:
    """One model in one decoding mode at one batch size: per-instance seconds and decoder costs."""

    model: str
    kind: str  # encoder, llm-token-classifier, decoder, or floor (the one-pass floor of a decoder)
    mode: str
    batch_size: int
    instances: int
    seconds: list[float] = field(repr=False)  # per instance (a batch's time shared by its instances)
    forward_passes: list[int] = field(default_factory=list, repr=False)
    generated_tokens: float | None = None
    corrections: list[int] = field(default_factory=list, repr=False)
    draft: str | None = None
    draft_tag_agreement: float | None = None
    draft_seconds: float | None = None
    identical_to_constrained: int | None = None  # speculative: instances with constrained's exact tags
    peak_memory_gb: float | None = None
    device: str = "cpu"
    dtype: str = "float32"
    scores: dict | None = None
    predictions: list[list[str]] = field(default_factory=list, repr=False)

    @property
    def name(self) -> str:
        mode = self.mode if self.draft is None else f"{self.mode} ({Path(self.draft).name} draft)"
        if self.kind == LLM_TOKEN_CLASSIFIER:
            mode = f"one-pass token classifier, {mode}"
        return f"{Path(self.model).name} · {mode}"

    def summary(self) -> dict:
        """Mean, p50 and p95 seconds per instance, instances/s and mean costs (what the tables show)."""
        ordered = sorted(self.seconds)
        mean = statistics.fmean(ordered)
        row = {
            "name": self.name,
            "model": self.model,
            "kind": self.kind,
            "mode": self.mode,
            "draft": self.draft,
            "batch_size": self.batch_size,
            "instances": self.instances,
            "mean_s": mean,
            "p50_s": quantile(ordered, 0.50),
            "p95_s": quantile(ordered, 0.95),
            "instances_per_s": 1.0 / mean if mean > 0 else float("inf"),
            "forward_passes": _mean(self.forward_passes),
            "median_forward_passes": statistics.median(self.forward_passes) if self.forward_passes else None,
            "generated_tokens": self.generated_tokens,
            "corrections": _mean(self.corrections),
            "draft_tag_agreement": self.draft_tag_agreement,
            "identical_to_constrained": self.identical_to_constrained,
            "draft_seconds_per_instance": (
                self.draft_seconds / self.instances if self.draft_seconds is not None else None
            ),
            "peak_memory_gb": self.peak_memory_gb,
            "device": self.device,
            "dtype": self.dtype,
        }
        if self.scores is not None:
            row["strict_f1"] = self.scores["strict"]["f1"]
            row["relaxed_f1"] = self.scores["partial"]["f1"]  # SemEval partial = the seed's relaxed
        return row


def time_batches(
    call: Callable[[list], object], items: Sequence, batch_size: int, warmup: int, device: torch.device
) -> tuple[list[float], list]:
    """Run ``call`` on consecutive batches; per-instance seconds (batch time / size) and the results.

    ``warmup`` batches from the start are run first and not timed (kernels, allocator, caches).
    """
    for start in range(0, min(warmup * batch_size, len(items)), batch_size):
        call(list(items[start : start + batch_size]))
    seconds, results = [], []
    for start in range(0, len(items), batch_size):
        batch = list(items[start : start + batch_size])
        _synchronize(device)
        begin = time.perf_counter()
        results.append(call(batch))
        _synchronize(device)
        seconds += [(time.perf_counter() - begin) / len(batch)] * len(batch)
    return seconds, results


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class PeakMemory:
    """Peak memory while the block runs, in GB: CUDA allocator peak on GPU, the process's resident peak on
    CPU.

    On Linux the resident high-water mark is reset first (``/proc/self/clear_refs``), so each run reports its
    own peak; where that is not allowed the number is the process's peak so far (stated in ``how``).
    """

    def __init__(self, device: torch.device):
        self.device, self.gb, self.how = device, None, ""

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            self.how = "CUDA max_memory_allocated"
        else:
            try:
                Path("/proc/self/clear_refs").write_text("5")
                self.how = "process peak RSS (reset per run)"
            except OSError:
                self.how = "process peak RSS so far"
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            self.gb = torch.cuda.max_memory_allocated(self.device) / 2**30
            return
        self.gb = peak_memory_gb(digits=None)


def peak_memory_gb(digits: int | None = 2) -> float:
    """This process's peak resident memory so far (training included), in GB (GiB), rounded to ``digits``.

    The one measure of process memory: Linux's ``VmHWM`` (which `PeakMemory` may reset), else ``ru_maxrss``.
    """
    kilobytes = None
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                kilobytes = int(line.split()[1])
    except OSError:
        pass
    if kilobytes is None:
        kilobytes = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    gigabytes = kilobytes / 1024**2
    return gigabytes if digits is None else round(gigabytes, digits)


def machine() -> dict:
    """Where the figures were taken."""
    info = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def runs_to_json(runs: Sequence[LatencyRun]) -> list[dict]:
    """Everything measured, per-instance lists included (predictions left out)."""
    rows = []
    for run in runs:
        data = asdict(run)
        data.pop("predictions")
        data["summary"] = run.summary()
        rows.append(data)
    return rows


def _mean(values: Sequence[float]) -> float | None:
    return statistics.fmean(values) if values else None


def quantile(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank quantile of sorted values."""
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def resolve_device(device: str = "auto") -> torch.device:
    """``auto``: CUDA when available, else CPU; otherwise the named device."""
    return torch.device(("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device)


def tagger_dtype(tagger) -> str:
    """How a tagger's weights are held, as the tables show it (``bfloat16``, ``4-bit (...)``, ``+
    autocast``); an ensemble's or cascade's, its parts' (``/``-joined)."""
    if hasattr(tagger, "parts"):
        return "/".join(dict.fromkeys(tagger_dtype(part) for part in tagger.parts))
    model = tagger.model
    dtype = str(next(model.parameters()).dtype).replace("torch.", "")
    if getattr(getattr(model, "config", None), "quantization_config", None):
        dtype = f"4-bit ({dtype} compute)"
    if isinstance(tagger, DecoderTagger) and tagger.autocast_dtype is not None:
        dtype += f" + {str(tagger.autocast_dtype).replace('torch.', '')} autocast"
    return dtype


def draft_name(draft) -> str:
    return getattr(draft, "name_or_path", None) or "encoder"


def load_timed_tagger(
    name: str,
    device: torch.device,
    dtype: str | None = None,
    load_in_4bit: bool | None = None,
    bf16: bool | None = None,
    backend: str | None = None,
):
    """A tagger to time; ``dtype``, ``load_in_4bit`` and ``bf16`` (None: as trained) apply to decoders,
    ``backend`` (``bioner.models.onnx.BACKENDS``) to token classifiers."""
    tagger = load_tagger(
        name,
        device=str(device),
        dtype=dtype,
        load_in_4bit=load_in_4bit,
        autocast_dtype={None: "as-trained", True: "bfloat16", False: "none"}[bf16],
        backend=backend,
    )
    tagger.name_or_path = name
    return tagger


def load_drafts(names: Sequence[str] | None, taggers: dict, load: Callable[[str], object]) -> list:
    """Speculative drafts: ``names`` (encoder dirs/Hub ids, ``all-O``; taken from ``taggers`` when loaded
    already, else ``load(name)``), or by default the first encoder of ``taggers``, else ``all-O``."""
    if names is None:
        encoders = [t for t in taggers.values() if isinstance(t, EncoderTagger) and t.kind == "encoder"]
        return encoders[:1] or [ALL_O_DRAFT]
    drafts = []
    for name in names:
        if name == ALL_O_DRAFT:
            drafts.append(ALL_O_DRAFT)
        elif isinstance(taggers.get(name), EncoderTagger):
            drafts.append(taggers[name])
        else:
            draft = load(name)
            if not isinstance(draft, EncoderTagger):
                raise ValueError(f"--draft_model {name}: a draft must be an encoder or 'all-O'")
            drafts.append(draft)
    return drafts


class Benchmark:
    """Times every model/mode/batch size on the same instances and keeps the runs."""

    def __init__(
        self,
        words: list[list[str]],
        gold: list[list[str]],
        *,
        device: torch.device | str = "auto",
        batch_sizes: Sequence[int] = (1,),
        warmup: int = 2,
        with_f1: bool = False,
        one_pass_floor: bool = True,
    ):
        self.words, self.gold = words, gold
        self.device = device if isinstance(device, torch.device) else resolve_device(device)
        self.batch_sizes, self.warmup = list(batch_sizes), warmup
        self.with_f1, self.one_pass_floor = with_f1, one_pass_floor
        self.runs: list[LatencyRun] = []

    def time_all(self, taggers: dict, modes: Sequence[str], drafts: Sequence) -> list[LatencyRun]:
        """Every tagger (name -> tagger) at every batch size; decoders in every mode (and draft)."""
        for name, tagger in taggers.items():
            if not isinstance(tagger, DecoderTagger):  # encoders, ensembles, cascades: one mode each
                self.encoder(name, tagger)
            else:
                self.decoder(name, tagger, list(modes), list(drafts))
        return self.runs

    def _run(self, tagger, model: str, kind: str, mode: str, size: int, draft=None) -> LatencyRun:
        tagger.batch_size = size
        stats: list[dict] = []

        def call(batch: list[int]) -> list[list[str]]:
            tags = tagger([self.words[i] for i in batch], progress=False)
            stats.append(dict(getattr(tagger, "last_stats", {})))
            return tags

        with PeakMemory(self.device) as memory:
            seconds, results = time_batches(call, range(len(self.words)), size, self.warmup, self.device)
        stats = stats[-len(results) :]  # drop the warm-up calls
        run = LatencyRun(
            model,
            kind,
            mode,
            size,
            len(self.words),
            seconds,
            device=str(self.device),
            dtype=tagger_dtype(tagger),
        )
        run.predictions = [tags for batch in results for tags in batch]
        run.peak_memory_gb = memory.gb
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
            check_passes(run, stats)
        if self.with_f1:
            run.scores = compute_ner_scores(run.predictions, self.gold)
        self.runs.append(run)
        logger.info("%s b=%d: %.4f s/instance", run.name, size, sum(seconds) / len(seconds))
        return run

    def encoder(self, model: str, tagger: EncoderTagger) -> None:
        for size in self.batch_sizes:
            self._run(tagger, model, tagger.kind, tagger.decoding, size)

    def decoder(self, model: str, tagger: DecoderTagger, modes: list[str], drafts: list) -> None:
        for size in self.batch_sizes:
            if self.one_pass_floor:
                self.floor(model, tagger, size)
            reference = None
            for mode in modes:
                for draft in drafts if mode == "speculative" else [None]:
                    tagger.decoding, tagger.draft = mode, draft
                    run = self._run(tagger, model, "decoder", mode, size, draft)
                    if mode == "constrained":
                        reference = run
                    elif mode == "speculative" and reference is not None:
                        check_identical(run, reference)

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
            seconds, _ = time_batches(call, range(len(self.words)), size, self.warmup, self.device)
        run = LatencyRun(
            model, "floor", "one-pass floor", size, len(self.words), seconds, device=str(self.device)
        )
        run.dtype, run.peak_memory_gb = tagger_dtype(tagger), memory.gb
        run.forward_passes = [1] * len(self.words)
        self.runs.append(run)

    def write(self, output_dir: str | Path, dataset: str, split: str, command: str) -> dict:
        """``latency.json``, ``latency.md`` and (with F1) ``time_vs_f1.png`` in ``output_dir``; the JSON
        payload."""
        memory = "CUDA max_memory_allocated" if self.device.type == "cuda" else "process peak RSS per run"
        meta = {
            "command": command,
            "dataset": dataset,
            "split": split,
            "instances": len(self.words),
            "device": str(self.device),
            "machine": machine(),
            "memory": memory,
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        }
        rows = [run.summary() for run in self.runs]
        output = Path(output_dir)
        output.mkdir(parents=True, exist_ok=True)
        payload = {"meta": meta, "summary": rows, "runs": runs_to_json(self.runs)}
        (output / "latency.json").write_text(json.dumps(payload, indent=2) + "\n")
        markdown = format_latency_report(rows, Path(dataset).name, meta)
        (output / "latency.md").write_text(markdown)
        if self.with_f1:
            plot_time_vs_f1(rows, output / "time_vs_f1.png")
        print(markdown)
        logger.info("wrote %s", output)
        return payload


def check_passes(run: LatencyRun, stats: list[dict]) -> None:
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


def check_identical(run: LatencyRun, reference: LatencyRun) -> None:
    """Count the instances where ``run`` (speculative) has exactly ``reference``'s (constrained) tags."""
    same = sum(a == b for a, b in zip(run.predictions, reference.predictions, strict=True))
    run.identical_to_constrained = same
    if same != len(run.predictions):
        logger.warning(
            "%s: %d of %d instances differ from constrained (floating-point near-ties?)",
            run.name,
            len(run.predictions) - same,
            len(run.predictions),
        )
