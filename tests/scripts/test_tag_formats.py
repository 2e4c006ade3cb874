"""tag.py with annotated corpora: PubTator/BioC/brat in (ids and passages kept), and --output_format
pubtator|bioc_xml|bioc_json|brat out, resumable like the JSONL output."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import evaluate_ner
import tag
from bioner.corpora import Document, Mention, Passage, read_documents, write_documents
from bioner.data.text import detokenize
from bioner.tagging.entities import tag_documents
from bioner.tagging.inputs import input_format_of, read_inputs
from bioner.tagging.shards import ShardedOutput
from tests.helpers import LEXICON, LexiconTagger

TITLE = "QX-7 and the ωZQ syndrome"  # no full stop: only the passage ends the sentence
ABSTRACT = "Zolox acid was given. No ωZQ syndrome followed QX-7 ."


def corpus(n: int = 3) -> list[Document]:
    """Title + abstract documents (PubTator layout) with a gold mention that tagging must not reuse."""
    documents = []
    for i in range(n):
        text = f"{TITLE} {i} {ABSTRACT}"
        title = f"{TITLE} {i}"
        passages = [Passage(0, title, "title"), Passage(len(title) + 1, ABSTRACT, "abstract")]
        gold = Mention([(0, 4)], "Gold", "QX-7", ["D1"])
        documents.append(Document(f"{1000 + i}", text, passages, [gold]))
    return documents


def test_passages_end_sentences_and_gold_mentions_are_not_used(tmp_path):
    write_documents(corpus(1), path := tmp_path / "c.PubTator", "pubtator")
    (document,) = read_inputs([path])
    assert (document.id, [p.offset for p in document.passages]) == ("1000", [0, len(TITLE) + 3])
    (record,) = tag_documents(LexiconTagger(LEXICON), [document], "split", with_tags=True)
    starts = [s["start"] for s in record["sentences"]]
    assert starts == [0, len(TITLE) + 3, document.text.index("No ")]  # title, then the abstract's two
    found = [(e["text"], e["type"]) for e in record["entities"]]
    assert found == [("QX-7", "Chemical"), ("ωZQ syndrome", "Disease"), ("Zolox acid", "Chemical"),
                     ("ωZQ syndrome", "Disease"), ("QX-7", "Chemical")]  # fmt: skip
    # Without passages the title runs into the abstract's first sentence.
    (joined,) = tag_documents(LexiconTagger(LEXICON), [Document("d", document.text)], "split", with_tags=True)
    assert [s["start"] for s in joined["sentences"]] == [0, document.text.index("No ")]


def test_input_formats_detected_by_suffix_then_content(tmp_path):
    write_documents(corpus(1), pubtator := tmp_path / "cdr.txt", "pubtator")  # NCBI/CDR files are .txt
    write_documents(corpus(1), xml := tmp_path / "c.xml", "bioc_xml")
    write_documents(corpus(1), bioc := tmp_path / "c.json", "bioc_json")
    write_documents(corpus(1), brat := tmp_path / "brat", "brat")
    (records := tmp_path / "r.json").write_text('{"id": "a", "text": "QX-7"}\n')
    (plain := tmp_path / "plain.txt").write_text("QX-7 only.\n")
    found = {
        p.name: input_format_of(p) for p in (pubtator, xml, bioc, brat, brat / "1000.txt", records, plain)
    }
    assert found == {"cdr.txt": "pubtator", "c.xml": "bioc_xml", "c.json": "bioc_json", "brat": "brat",
                     "1000.txt": "brat", "r.json": "jsonl", "plain.txt": "txt"}  # fmt: skip
    documents = read_inputs([pubtator, xml, bioc, brat, records, plain])
    assert [d.id for d in documents] == ["1000", "1000", "1000", "1000", "a", "plain.txt"]
    assert [d.text for d in documents[:4]] == [corpus(1)[0].text] * 4


@pytest.fixture(scope="module")
def pubtator_input(tmp_path_factory, demo_splits) -> tuple[Path, list[Document]]:
    """12 demo documents (2 test sentences each: a title and an abstract) as PubTator."""
    texts = [detokenize(tokens)[0] for tokens, _ in demo_splits["test"][:24]]
    documents = []
    for i in range(12):
        title, abstract = texts[2 * i], texts[2 * i + 1]
        passages = [Passage(0, title, "title"), Passage(len(title) + 1, abstract, "abstract")]
        documents.append(Document(f"9{i:03d}", f"{title} {abstract}", passages))
    path = tmp_path_factory.mktemp("input") / "demo.PubTator"
    write_documents(documents, path, "pubtator")
    return path, documents


def run_tag(*args) -> dict:
    return tag.main(["--documents_per_step", "4", *map(str, args)])


@pytest.mark.parametrize("output_format", ["pubtator", "bioc_xml", "bioc_json", "brat"])
def test_output_formats_keep_ids_passages_and_the_entities(
    demo_encoder, pubtator_input, tmp_path, output_format
):
    source, documents = pubtator_input
    output = tmp_path / f"tagged.{output_format}"
    run_tag("--model", demo_encoder, "--input", source, "--output", output, "--output_format", output_format)
    records = [json.loads(line) for line in Path(f"{output}.jsonl").read_text().splitlines()]
    tagged = read_documents(output, output_format)
    assert [d.id for d in tagged] == [d.id for d in documents] == [r["id"] for r in records]
    assert [d.text for d in tagged] == [d.text for d in documents]
    if output_format != "brat":  # brat has no passages
        assert [[(p.offset, p.text) for p in d.passages] for d in tagged] == [
            [(p.offset, p.text) for p in d.passages] for d in documents
        ]
    expected = [[(e["start"], e["end"], e["text"], e["type"]) for e in r["entities"]] for r in records]
    assert [[(m.start, m.end, m.text, m.type) for m in d.mentions] for d in tagged] == expected
    assert sum(map(len, expected)) >= 12  # the model finds entities
    if output_format == "pubtator":  # six fields: an empty last one is stripped and misread by some readers
        assert {m.ids[0] for d in tagged for m in d.mentions} == {"-1"}
        assert all(line.count("\t") == 5 for line in output.read_text().splitlines() if "\t" in line)
    if output_format.startswith("bioc"):
        scores = {m.infons["score"] for d in tagged for m in d.mentions}
        assert all(0 < float(score) <= 1 for score in scores)
    if output_format == "bioc_xml":
        head = output.read_text(encoding="utf-8")[:200]
        assert head.startswith(
            "<?xml version='1.0' encoding='UTF-8'?><!DOCTYPE collection SYSTEM 'BioC.dtd'>"
        )
        assert ET.parse(output).getroot().tag == "collection"
    # The output scores against the gold like its JSONL records do.
    by_format = evaluate_ner.main(
        ["--gold", str(source), "--predictions", str(output), "--output_dir", str(tmp_path / "by_format")]
    )
    by_jsonl = evaluate_ner.main(
        [
            "--gold",
            str(source),
            "--predictions",
            f"{output}.jsonl",
            "--output_dir",
            str(tmp_path / "by_jsonl"),
        ]
    )
    assert by_format["scores"]["strict"] == by_jsonl["scores"]["strict"]


def test_formatted_output_resumes_from_its_records(demo_encoder, pubtator_input, tmp_path):
    source, documents = pubtator_input
    output = tmp_path / "tagged.xml"
    args = ["--model", demo_encoder, "--input", source, "--output", output, "--output_format", "bioc_xml"]
    run_tag(*args)
    complete = output.read_text(encoding="utf-8")
    records = Path(f"{output}.jsonl").read_text().splitlines()
    # Stopped after 5 documents: no formatted output yet, the records' part file holds 5 lines.
    output.unlink()
    Path(f"{output}.jsonl").unlink()
    sink = ShardedOutput(f"{output}.jsonl")
    sink.parts.mkdir()
    sink.part(0).write_text(
        "".join(json.dumps({"_index": i, **json.loads(r)}) + "\n" for i, r in enumerate(records[:5]))
    )
    assert run_tag(*args)["tagged"] == 7
    assert output.read_text(encoding="utf-8") == complete and not sink.parts.exists()
    # Stopped after the records were merged but before the formatted output: nothing is tagged again.
    output.unlink()
    assert run_tag(*args)["tagged"] == 0 and output.read_text(encoding="utf-8") == complete


def test_what_a_format_cannot_hold_fails_before_the_model_loads(tmp_path):
    missing = tmp_path / "no-such-model"  # never reached: the inputs are refused first
    (lines := tmp_path / "two.txt").write_text("QX-7 here.\nZolox acid there.\n")
    out = tmp_path / "out"
    with pytest.raises(SystemExit, match="document two.txt: PubTator cannot hold a line break"):
        run_tag("--model", missing, "--input", lines, "--output", out, "--output_format", "pubtator")
    with pytest.raises(SystemExit, match="document id 'two.txt:1' cannot be a brat file name"):
        run_tag(
            "--model",
            missing,
            "--input",
            lines,
            "--txt_unit",
            "line",
            "--output",
            out,
            "--output_format",
            "brat",
        )
    (clash := tmp_path / "d.jsonl").write_text('{"id": "text-0", "text": "b"}\n')
    with pytest.raises(
        SystemExit, match="document id 'text-0' appears twice; bioc_json output needs unique ids"
    ):
        run_tag(
            "--model",
            missing,
            "--text",
            "a",
            "--input",
            clash,
            "--output",
            out,
            "--output_format",
            "bioc_json",
        )
    with pytest.raises(SystemExit, match="--output_format pubtator needs --output"):
        run_tag("--model", missing, "--text", "a", "--output_format", "pubtator")
    with pytest.raises(
        SystemExit, match="--output_format must be one of jsonl, pubtator, bioc_xml, bioc_json, brat"
    ):
        run_tag("--model", missing, "--text", "a", "--output", out, "--output_format", "conll")
    assert not out.exists() and not Path(f"{out}.jsonl").exists()
