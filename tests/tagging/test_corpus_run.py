"""tag.py --output_dir on slices of the real PubMed file (and a real JATS article): one output per input
file, offsets exact in PubTator and BioC, DeleteCitation side files, and a run stopped in its second file
resumed."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest

import tag
from bioner.corpora import read_documents
from bioner.corpora.pubmed import iter_pubmed
from bioner.tagging.arguments import TaggerArguments
from bioner.tagging.corpus_run import expand_inputs, output_stem, plan_files
from bioner.tagging.inputs import InputFormatError
from tests.helpers import PUBMED_DIR, LexiconTagger, pubmed_slice

LEXICON = {
    "sheep": "Species",
    "pig": "Species",
    "anxiety": "Disease",
    "infection": "Disease",
    "hormone": "Chemical",
    "electron microscopy": "Method",
}
DELETE = '<DeleteCitation><PMID Version="1">111</PMID><PMID Version="1">222</PMID></DeleteCitation>'


class StoppingTagger(LexiconTagger):
    """Stops the run (as a kill would) at its ``stop_at``-th call."""

    def __init__(self, stop_at: int):
        super().__init__(LEXICON)
        self.calls, self.stop_at = 0, stop_at

    def __call__(self, sentences, progress=False):
        self.calls += 1
        if self.calls == self.stop_at:
            raise KeyboardInterrupt
        return super().__call__(sentences, progress)


@pytest.fixture
def use_tagger(monkeypatch):
    def use(tagger):
        monkeypatch.setattr(TaggerArguments, "load", lambda self, model, device=None: tagger)

    use(LexiconTagger(LEXICON))
    return use


@pytest.fixture
def inputs(tmp_path) -> Path:
    """20 real citations in two files: a gzipped baseline slice and an update file with deletions."""
    folder = tmp_path / "in"
    folder.mkdir()
    data = pubmed_slice(20).decode()
    articles = re.findall(r"  <PubmedArticle>.*?</PubmedArticle>\n", data, re.S)
    head = '<?xml version="1.0"?>\n<PubmedArticleSet>\n'
    (folder / "base0001.xml.gz").write_bytes(
        gzip.compress((head + "".join(articles[:10]) + "</PubmedArticleSet>").encode())
    )
    (folder / "upd0002.xml").write_text(head + "".join(articles[10:]) + DELETE + "</PubmedArticleSet>")
    return folder


def run(*args) -> dict:
    return tag.main(["--model", "lexicon", "--documents_per_step", "4", *map(str, args)])


def expected_mentions(text: str) -> set[tuple[int, int, str, str]]:
    found = set()
    for word, kind in LEXICON.items():
        for match in re.finditer(rf"(?<![^\W_]){re.escape(word)}(?![^\W_])", text):
            found.add((match.start(), match.end(), word, kind))
    return found


@pytest.mark.parametrize("output_format", ["pubtator", "bioc_xml"])
def test_one_output_per_file_with_exact_offsets(inputs, tmp_path, use_tagger, output_format):
    out = tmp_path / "out"
    summary = run("--input", inputs, "--output_dir", out, "--output_format", output_format)
    suffix = {"pubtator": ".pubtator", "bioc_xml": ".xml"}[output_format]
    assert [f["output"] for f in summary["files"]] == [
        str(out / f"base0001{suffix}"),
        str(out / f"upd0002{suffix}"),
    ]
    assert summary["tagged"] == 20
    found = 0
    for name, source in (("base0001", "base0001.xml.gz"), ("upd0002", "upd0002.xml")):
        written = read_documents(out / f"{name}{suffix}")
        originals = list(iter_pubmed(inputs / source))
        assert [d.id for d in written] == [d.id for d in originals]
        for document, original in zip(written, originals, strict=True):
            assert document.text == original.text
            mentions = {(m.start, m.end, m.text, m.type) for m in document.mentions}
            assert mentions == expected_mentions(original.text)
            assert all(document.text[m.start : m.end] == m.text for m in document.mentions)
            found += len(mentions)
            if output_format == "bioc_xml":
                assert [(p.offset, p.text) for p in document.passages] == [
                    (p.offset, p.text) for p in original.passages
                ]
    assert found > 5
    assert (out / f"upd0002{suffix}.deleted_pmids.txt").read_text() == "111\n222\n"
    assert not (out / f"base0001{suffix}.deleted_pmids.txt").exists()
    assert summary["files"][1]["deleted"] == 2 and summary["files"][0]["records"] == 10
    again = run("--input", inputs, "--output_dir", out, "--output_format", output_format)
    assert again["tagged"] == 0 and all(f["done_before"] for f in again["files"])


def test_a_stopped_run_resumes_in_its_second_file(inputs, tmp_path, use_tagger):
    out, whole = tmp_path / "out", tmp_path / "whole"
    run("--input", inputs, "--output_dir", whole, "--output_format", "pubtator")
    use_tagger(StoppingTagger(stop_at=5))  # file 1: 3 batches of 4; file 2: stopped in its 2nd batch
    with pytest.raises(KeyboardInterrupt):
        run("--input", inputs, "--output_dir", out, "--output_format", "pubtator")
    assert (out / "base0001.pubtator").exists() and not (out / "upd0002.pubtator").exists()
    assert len((out / "upd0002.pubtator.jsonl.parts" / "part-00000.jsonl").read_text().splitlines()) == 4
    use_tagger(LexiconTagger(LEXICON))
    summary = run("--input", inputs, "--output_dir", out, "--output_format", "pubtator")
    assert [f["tagged"] for f in summary["files"]] == [0, 6]
    assert summary["files"][0]["done_before"]
    for name in ("base0001.pubtator", "upd0002.pubtator", "upd0002.pubtator.deleted_pmids.txt"):
        assert (out / name).read_text() == (whole / name).read_text()


def test_jsonl_outputs_jats_inputs_and_title_only_citations(inputs, tmp_path, use_tagger):
    article = PUBMED_DIR / "pmc" / "pntd.0002065.nxml"
    if not article.is_file():
        pytest.skip(f"{article} not found")
    out = tmp_path / "out"
    summary = run("--input", inputs / "upd0002.xml", article, "--output_dir", out, "--skip_without_abstract")
    records = [json.loads(line) for line in (out / "upd0002.jsonl").read_text().splitlines()]
    with_abstract = [d.id for d in iter_pubmed(inputs / "upd0002.xml", without_abstract="skip")]
    assert [r["id"] for r in records] == with_abstract and len(with_abstract) < 10
    assert summary["files"][0]["skipped"] == {"no abstract": 10 - len(with_abstract)}
    (paper,) = [json.loads(line) for line in (out / "pntd.0002065.jsonl").read_text().splitlines()]
    assert paper["id"] == "PMC3585041"
    assert all(paper["text"][e["start"] : e["end"]] == e["text"] for e in paper["entities"])
    assert summary["files"][1]["left_out"]["table-wrap"] == 5


def test_inputs_outputs_and_refusals(inputs, tmp_path, use_tagger):
    assert expand_inputs([str(inputs / "*0002*")]) == [inputs / "upd0002.xml"]
    assert expand_inputs([str(inputs)]) == [inputs / "base0001.xml.gz", inputs / "upd0002.xml"]
    assert output_stem(Path("pubmed24n0001.xml.gz")) == "pubmed24n0001" and output_stem(Path("a")) == "a"
    with pytest.raises(InputFormatError, match="no file matches"):
        expand_inputs([str(inputs / "*.none")])
    (inputs / "base0001.nxml").write_text("<article/>")
    with pytest.raises(InputFormatError, match="would both be written to"):
        plan_files([str(inputs)], tmp_path / "out", "pubtator")
    (inputs / "base0001.nxml").unlink()
    (inputs / "feed.xml").write_text("<rss/>")
    with pytest.raises(SystemExit, match="root element <rss>"):
        run("--input", inputs, "--output_dir", tmp_path / "out")
    with pytest.raises(SystemExit, match="--output_dir"):
        run(
            "--input",
            inputs / "upd0002.xml",
            "--output_dir",
            tmp_path / "o",
            "--output",
            tmp_path / "x.jsonl",
        )


def test_a_pubmed_file_with_one_output_as_before(inputs, tmp_path, use_tagger):
    """Without --output_dir a PubMed file is read whole (--input_format pubmed or auto) into one output."""
    single = tmp_path / "single.pubtator"
    run("--input", inputs / "base0001.xml.gz", "--output", single, "--output_format", "pubtator")
    run("--input", inputs, "--output_dir", tmp_path / "out", "--output_format", "pubtator")
    assert single.read_text() == (tmp_path / "out" / "base0001.pubtator").read_text()
    forced = run(
        "--input", inputs / "upd0002.xml", "--input_format", "pubmed", "--output", tmp_path / "f.jsonl"
    )
    assert forced["documents"] == 10
