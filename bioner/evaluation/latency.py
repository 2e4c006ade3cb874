"""Timing taggers honestly: inference only, per instance, after warm-up, synchronised on GPU.

The seed timed its evaluation loop with the metric inside; here a run times only the tagger call on each batch
(prompt building, tokenization, the forward passes and, for ``speculative``, the encoder's draft), never model
loading, warm-up or scoring. Decoder cost is also counted in forward passes, which do not depend on the hardware.
"""

from __future__ import annotations

import math
import platform
import resource
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch


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
    peak_memory_mb: float | None = None
    device: str = "cpu"
    dtype: str = "float32"
    scores: dict | None = None
    predictions: list[list[str]] = field(default_factory=list, repr=False)

    @property
    def name(self) -> str:
        mode = self.mode if self.draft is None else f"{self.mode} ({Path(self.draft).name} draft)"
        if self.kind == "llm-token-classifier":
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
            "p50_s": _quantile(ordered, 0.50),
            "p95_s": _quantile(ordered, 0.95),
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
            "peak_memory_mb": self.peak_memory_mb,
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
    """Peak memory while the block runs: CUDA allocator peak on GPU, the process's resident peak on CPU.

    On Linux the resident high-water mark is reset first (``/proc/self/clear_refs``), so each run reports its
    own peak; where that is not allowed the number is the process's peak so far (stated in ``how``).
    """

    def __init__(self, device: torch.device):
        self.device, self.mb, self.how = device, None, ""

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
            self.mb = torch.cuda.max_memory_allocated(self.device) / 2**20
            return
        self.mb = _peak_rss_mb()


def _peak_rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


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


def _quantile(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank quantile of sorted values."""
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]
