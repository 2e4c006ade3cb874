"""benchmark_latency.py on tiny models: inference-only timing, all modes side by side, the speculative
checks."""

from __future__ import annotations

import json

import pytest

import benchmark_latency
from bioner.evaluation.latency import PeakMemory, peak_memory_gb, quantile, time_batches


def test_time_batches_excludes_warmup_and_shares_batch_time():
    calls = []

    def call(batch):
        calls.append(list(batch))
        return len(batch)

    seconds, results = time_batches(call, list(range(7)), batch_size=3, warmup=2, device=_cpu())
    assert calls[:2] == [[0, 1, 2], [3, 4, 5]]  # warm-up, untimed
    assert calls[2:] == [[0, 1, 2], [3, 4, 5], [6]]
    assert results == [3, 3, 1]
    assert len(seconds) == 7 and seconds[0] == seconds[1] == seconds[2]


def test_quantiles_are_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert quantile(values, 0.5) == 50.0
    assert quantile(values, 0.95) == 95.0
    assert quantile([3.0], 0.95) == 3.0


def test_peak_memory_is_measured_on_cpu():
    import torch

    with PeakMemory(_cpu()) as memory:
        block = torch.ones(64 * 2**20 // 4)  # 64 MB
        block += 1
    assert memory.gb is not None and memory.gb > 64 / 1024
    assert memory.how
    assert peak_memory_gb() >= round(memory.gb, 2) > 0  # the process peak so far, in the same unit


def _cpu():
    import torch

    return torch.device("cpu")


def test_benchmark_encoder_and_decoder_side_by_side(overfit_run, demo_encoder, tmp_path):
    output = tmp_path / "latency"
    payload = benchmark_latency.main(
        ["--models", str(demo_encoder), str(overfit_run[0]), "--dataset", "demo", "--split", "train",
         "--max_instances", "10", "--batch_size", "1,4", "--decoding", "free,constrained,speculative",
         "--draft_model", f"{demo_encoder},all-O", "--with_f1", "--warmup", "1", "--output_dir", str(output)]
    )  # fmt: skip
    rows = payload["summary"]
    assert (output / "latency.md").is_file() and (output / "time_vs_f1.png").stat().st_size > 1000
    assert json.loads((output / "latency.json").read_text())["summary"] == rows
    kinds = {(row["kind"], row["mode"], row["draft"] is not None, row["batch_size"]) for row in rows}
    for size in (1, 4):
        assert ("encoder", "viterbi", False, size) in kinds
        assert ("floor", "one-pass floor", False, size) in kinds
        for mode in ("free", "constrained"):
            assert ("decoder", mode, False, size) in kinds
    speculative = [row for row in rows if row["mode"] == "speculative"]
    assert len(speculative) == 4  # two drafts x two batch sizes
    for row in speculative:
        assert row["identical_to_constrained"] == 10
        assert row["median_forward_passes"] >= 1 and 0 <= row["draft_tag_agreement"] <= 1
    for row in rows:
        assert 0 < row["p50_s"] <= row["p95_s"] and row["instances"] == 10
        assert row["peak_memory_gb"] > 0
        if row["kind"] != "floor":
            assert 0 <= row["strict_f1"] <= 1
    constrained = {r["batch_size"]: r for r in rows if r["mode"] == "constrained"}
    for row in speculative:
        assert row["forward_passes"] < constrained[row["batch_size"]]["forward_passes"]
        assert row["strict_f1"] == constrained[row["batch_size"]]["strict_f1"]
    markdown = (output / "latency.md").read_text()
    assert "Table IV layout" in markdown and "× fastest encoder" in markdown and "one-pass floor" in markdown


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        (["--batch_size", "0"], "--batch_size"),
        (["--batch_size", "1,x"], "--batch_size"),
        (["--decoding", "beam"], "unknown mode"),
        (["--split", "nope"], "--split"),
    ],
)
def test_bad_arguments_are_clear_errors(demo_encoder, argument, message, capsys):
    with pytest.raises(SystemExit) as error:
        benchmark_latency.main(["--models", str(demo_encoder), "--max_instances", "2", *argument])
    assert message in str(error.value)


def test_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(SystemExit) as error:
        benchmark_latency.main(["--models", str(tmp_path / "nope"), "--max_instances", "2"])
    assert "nope" in str(error.value)
