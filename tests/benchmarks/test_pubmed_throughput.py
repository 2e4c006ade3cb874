"""benchmarks/pubmed_throughput.py end to end on the first 20 citations of the real PubMed file, with a tiny
random token classifier: the report's structure, stages adding up to the wall time, every citation counted."""

from __future__ import annotations

import json

import pytest

from tests.helpers import PUBMED_DIR

PUBMED = PUBMED_DIR / "pubmed20n0014.xml.gz"
pytestmark = pytest.mark.skipif(not PUBMED.is_file(), reason=f"{PUBMED} not found (set BIONER_PUBMED_DIR)")


@pytest.fixture(scope="module")
def tiny_tagger(tmp_path_factory, tiny_bert):
    """The tiny random BERT of tests/fixtures/models.py with a random token-classification head."""
    from transformers import AutoTokenizer, BertForTokenClassification

    from tests.fixtures.models import LABELS

    folder = tmp_path_factory.mktemp("tiny-tagger")
    model = BertForTokenClassification.from_pretrained(
        tiny_bert, id2label=dict(enumerate(LABELS)), label2id={label: i for i, label in enumerate(LABELS)}
    )
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(tiny_bert).save_pretrained(folder)
    return folder


def test_report_on_20_citations(tmp_path, tiny_tagger):
    from benchmarks import pubmed_throughput as bench

    results = tmp_path / "results"
    report = bench.main(
        ["--input", str(PUBMED), "--models", str(tiny_tagger), "--backends", "torch", "--limit", "20",
         "--memory_limit", "20", "--memory_repeats", "2", "--matmul_size", "128",
         "--output_dir", str(results), "--work_dir", str(tmp_path / "work")]
    )  # fmt: skip
    assert report["limit"] == 20 and report["input_description"].startswith("the first 20 citations")
    (row,) = report["runs"]
    assert row["backend"] == "torch"
    # every citation tagged or skipped; the documents tagged have an abstract or a title only
    assert row["citations"] == 20 == row["tagged"] + sum(row["skipped"].values())
    assert row["abstracts"] + row["title_only"] == row["tagged"]
    assert row["deleted"] == 0
    # the stages are exclusive and cover the wall time of tag_file
    assert set(row["stage_seconds"]) == set(bench.STAGES)
    assert sum(row["stage_seconds"].values()) == pytest.approx(row["wall_seconds"], abs=0.02)
    assert sum(row["stage_share"].values()) == pytest.approx(1.0, abs=0.01)
    assert all(seconds >= 0 for seconds in row["stage_seconds"].values())
    assert row["stage_seconds"]["forward"] > 0 and row["stage_seconds"]["read"] > 0
    assert row["non_forward_share"] == pytest.approx(1 - row["stage_share"]["forward"], abs=1e-3)
    assert row["sentences"] >= row["tagged"] and row["windows"] >= row["sentences"]
    assert row["padded_tokens"] >= row["tokens"] > 0
    assert row["citations_per_second"] > 0 and row["peak_rss_mib"] > 0
    assert row["projection_16_cores_hours"] < row["projection_all_pubmed_hours"]
    # the PubTator output holds every document
    (output,) = row["output"]
    assert sum(line.count("|t|") for line in open(output, encoding="utf-8")) == row["tagged"]
    peaks = report["matmul_peaks"]
    assert peaks["fp32_gflops"] > 0 and "int8_how" in peaks
    memory = report["memory"]
    assert memory["two_files_tagged"] == 2 * row["tagged"]
    assert memory["one_file_peak_rss_mib"] > 0 and memory["two_files_peak_rss_mib"] > 0
    assert (
        memory["repeats"] == 2 and len(memory["one_file_runs_mib"]) == len(memory["two_files_runs_mib"]) == 2
    )
    assert memory["two_files_peak_rss_mib"] == pytest.approx(sum(memory["two_files_runs_mib"]) / 2)  # median
    for after_each in memory["two_files_peak_after_each_file_mib"]:  # a peak only grows, one entry per file
        assert len(after_each) == 2 and 0 < after_each[0] <= after_each[1]
    assert all(growth >= 1 for growth in memory["second_file_growth"])
    assert "MPNet" in report["not_run"] and "SmolLM2 token classifier" in report["not_run"]
    assert report["machine"]["gpu"].startswith("no GPU was lent")
    saved = json.loads((results / "pubmed_throughput_cpu.json").read_text())
    assert saved["runs"][0]["citations"] == 20
    table = (results / "pubmed_throughput_cpu.md").read_text()
    assert "| tiny-tagger" in table and "no GPU was lent" in table
