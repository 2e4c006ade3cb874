"""benchmarks/cascade_curve.py on tiny models: real cascade runs between the two single-model ends; and
benchmark_latency.py timing ensemble and cascade folders like any model."""

from __future__ import annotations

import importlib.util
import json

import pytest

import benchmark_latency
from bioner.tagging.cascade import save_cascade
from bioner.tagging.ensemble import save_ensemble
from tests.fixtures.models import LABELS
from tests.helpers import ROOT

SPEC = importlib.util.spec_from_file_location("cascade_curve", ROOT / "benchmarks/cascade_curve.py")
bench = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(bench)


def test_the_curve_runs_the_cascade_for_real_between_its_two_ends(member_a, member_b, tmp_path):
    argv = [
        "--small",
        str(member_a),
        "--large",
        str(member_b),
        "--dataset",
        "demo",
        "--max_instances",
        "10",
        "--thresholds",
        "0.0,1.01",
        "--output_dir",
        str(tmp_path),
        "--name",
        "tiny",
        "--device",
        "cpu",
    ]
    result = bench.main(argv)
    never, always = result["cascade"]
    assert never["routed_fraction"] == 0.0 and never["strict_f1"] == result["small"]["strict_f1"]
    assert always["routed_fraction"] == 1.0 and always["strict_f1"] == result["large"]["strict_f1"]
    assert always["large_seconds"] > 0 and never["large_seconds"] == 0
    saved = json.loads((tmp_path / "cascade_tiny.json").read_text())
    assert saved["cascade"] == result["cascade"]
    assert "| cascade threshold 1.01 | 100.0% |" in (tmp_path / "cascade_tiny.md").read_text()
    assert (tmp_path / "cascade_tiny_curve.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(SystemExit, match="exists"):
        bench.main(argv)
    fractions = bench.main([*argv[:-4], "--name", "fractions", "--fractions", "0.5", "--calibrate"])
    assert fractions["cascade"][0]["routed_fraction"] == 0.5 and fractions["temperature"] > 0
    spans = bench.main(
        [
            *argv[:-4],
            "--name",
            "spans",
            "--routing",
            "sentence,span",
            "--span_radius",
            "0",
            "--span_context",
            "0",
        ]
    )
    assert [row["routing"] for row in spans["cascade"]] == ["sentence", "span"] * 2
    never_span, always_span = spans["cascade"][1], spans["cascade"][3]
    assert (
        never_span["large_words_fraction"] == 0.0 and never_span["strict_f1"] == spans["small"]["strict_f1"]
    )
    # every word under 1.01: adjacent one-word cores merge, so the large tagger reads every word
    assert always_span["large_words_fraction"] == 1.0 and always_span["routed_fraction"] == 1.0
    assert "spans r0+c0" in (tmp_path / "cascade_spans.md").read_text()
    with pytest.raises(SystemExit, match="span routing takes --thresholds"):
        bench.main([*argv[:-4], "--name", "bad", "--routing", "span", "--fractions", "0.5"])


def test_benchmark_latency_times_ensemble_and_cascade_folders(member_a, member_b, tmp_path):
    ensemble, cascade = tmp_path / "ensemble", tmp_path / "cascade"
    save_ensemble(ensemble, [str(member_a), str(member_b)], [0.5, 0.5], LABELS)
    save_cascade(cascade, str(member_a), str(ensemble), fraction=0.5)
    out = benchmark_latency.main(
        [
            "--models",
            str(ensemble),
            str(cascade),
            "--dataset",
            "demo",
            "--max_instances",
            "4",
            "--warmup",
            "1",
            "--batch_size",
            "2",
            "--with_f1",
            "--device",
            "cpu",
            "--output_dir",
            str(tmp_path / "latency"),
        ]
    )
    text = json.dumps(out)
    assert "ensemble" in text and "cascade" in text
    assert (tmp_path / "latency" / "latency.json").is_file()
