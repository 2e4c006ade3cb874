"""tag.py: raw text and pre-tokenized words in, entities with character offsets out (files, resume, 2
ranks)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tag
from bioner.corpora.model import Document
from bioner.data.text import detokenize, tokenize
from bioner.tagging.entities import tag_documents
from bioner.tagging.inputs import InputFormatError, read_inputs
from bioner.tagging.shards import ShardedOutput
from bioner.tagging.taggers import load_tagger
from tests.helpers import LAUNCH, LEXICON, ROOT, LexiconTagger, free_port

FILLER = st.lists(
    st.sampled_from([*"abc9é.,;()-+/%'\"\t\n \u00a0\u200b中🙂", "e\u0301", ". ", "\n\n", "et al. ", "2.5"]),
    max_size=12,
).map("".join)


@settings(max_examples=150, deadline=None)
@given(pieces=st.lists(st.tuples(FILLER, st.sampled_from(sorted(LEXICON))), max_size=6), tail=FILLER)
def test_inserted_entities_come_back_with_their_offsets(pieces, tail):
    """Random text (Unicode, tabs, blank lines, punctuation) with mentions inserted, repeats included."""
    text, inserted = "", set()
    for filler, mention in pieces:
        text += filler + " "
        inserted.add((len(text), len(text) + len(mention), mention, LEXICON[mention]))
        text += mention + " "
    text += tail
    (record,) = tag_documents(LexiconTagger(LEXICON), [Document("d", text)], "split", with_tags=True)
    found = {(e["start"], e["end"], e["text"], e["type"]) for e in record["entities"]}
    assert found == inserted
    assert all(text[e["start"] : e["end"]] == e["text"] for e in record["entities"])
    assert [(t["start"], t["end"]) for t in record["tokens"]] == tokenize(text)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=120))
def test_real_encoder_offsets_hold_on_any_text(demo_tagger, text):
    (record,) = tag_documents(demo_tagger, [Document("d", text)], "split", with_tags=True)
    assert record["text"] == text
    for entity in record["entities"]:
        assert text[entity["start"] : entity["end"]] == entity["text"]
        assert 0 < entity["score"] <= 1
    assert [(t["start"], t["end"]) for t in record["tokens"]] == tokenize(text)


@pytest.fixture(scope="module")
def demo_tagger(demo_encoder):
    return load_tagger(str(demo_encoder), device="cpu")


def demo_texts(demo_splits, split="test", n=20) -> list[tuple[str, list[str], list]]:
    """Demo sentences rejoined as raw text (``5 - fluorouracil`` -> ``5-fluorouracil``), with token spans."""
    return [(*detokenize(tokens), tokens) for tokens, _ in demo_splits[split][:n]]


def run_tag(*args: str) -> dict:
    return tag.main(["--documents_per_step", "8", *map(str, args)])


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_model_records_its_word_style(demo_encoder, demo_tagger):
    assert json.loads((demo_encoder / "config.json").read_text())["bioner_word_style"] == "split"
    assert demo_tagger.word_style == "split"


def test_raw_text_and_pre_tokenized_words_give_the_same_entities(demo_encoder, demo_splits, tmp_path):
    texts = demo_texts(demo_splits)
    raw = tmp_path / "raw.jsonl"
    raw.write_text(
        "".join(json.dumps({"id": i, "text": text}) + "\n" for i, (text, _, _) in enumerate(texts))
    )
    pre = tmp_path / "pre.jsonl"
    pre.write_text("".join(json.dumps({"id": i, "tokens": t}) + "\n" for i, (_, _, t) in enumerate(texts)))
    from_raw = run_tag("--model", demo_encoder, "--input", raw, "--output", tmp_path / "raw.out.jsonl")
    from_pre = run_tag("--model", demo_encoder, "--input", pre, "--output", tmp_path / "pre.out.jsonl")
    assert from_raw["documents"] == from_pre["documents"] == len(texts)
    raw_records, pre_records = read_jsonl(tmp_path / "raw.out.jsonl"), read_jsonl(tmp_path / "pre.out.jsonl")
    assert sum(len(r["entities"]) for r in raw_records) >= len(texts) // 2  # the model finds entities
    for (text, spans, tokens), raw_record, pre_record in zip(texts, raw_records, pre_records, strict=True):
        assert raw_record["id"] == pre_record["id"]
        # Map pre-tokenized offsets (into the space-joined words) onto the raw text through the token spans.
        joined_starts = {sum(len(t) + 1 for t in tokens[:i]): spans[i][0] for i in range(len(tokens))}
        joined_ends = {
            sum(len(t) + 1 for t in tokens[:i]) + len(tokens[i]): spans[i][1] for i in range(len(tokens))
        }
        mapped = [
            (joined_starts[e["start"]], joined_ends[e["end"]], e["type"], e["score"])
            for e in pre_record["entities"]
        ]
        assert [(e["start"], e["end"], e["type"], e["score"]) for e in raw_record["entities"]] == mapped
        for entity in raw_record["entities"]:
            assert text[entity["start"] : entity["end"]] == entity["text"]


def test_document_longer_than_the_model_input_is_tagged_whole(demo_encoder, demo_splits, tmp_path):
    """20 sentences plus one of 200+ words, with 32-sub-word windows: every word gets a tag, none is lost."""
    texts = [text for text, _, _ in demo_texts(demo_splits, n=20)]
    run_on = " , ".join(text.rstrip(" .") for text in texts) + " ."  # one long sentence, no full stops inside
    document = "\n\n".join([*texts, run_on])
    (path := tmp_path / "long.txt").write_text(document)
    result = run_tag("--model", demo_encoder, "--input", path, "--with_tags", "--max_seq_length", "32")
    (record,) = result["records"]
    assert len(record["tokens"]) == len(tokenize(document)) > 400
    assert len(record["sentences"]) == 21
    assert record["sentences"][-1] == {"start": len(document) - len(run_on), "end": len(document)}
    # An encoder tags each sentence on its own, so the document's entities are those of its sentences.
    alone = run_tag("--model", demo_encoder, "--max_seq_length", "32", "--text", *texts, run_on)["records"]
    offset, expected = 0, []
    for text, sentence in zip([*texts, run_on], alone, strict=True):
        expected += [(e["start"] + offset, e["text"], e["type"]) for e in sentence["entities"]]
        offset += len(text) + 2
    assert [(e["start"], e["text"], e["type"]) for e in record["entities"]] == expected
    assert any(
        e["start"] > len(document) - len(run_on) // 4 for e in record["entities"]
    )  # the tail is tagged


def test_empty_inputs_give_empty_records(demo_encoder, tmp_path):
    (empty := tmp_path / "empty.txt").write_text("")
    (spaces := tmp_path / "spaces.txt").write_text(" \n\t\n")
    records = run_tag("--model", demo_encoder, "--input", empty, spaces, "--text", "", "--with_tags")[
        "records"
    ]
    assert [(r["id"], r["entities"], r["tokens"]) for r in records] == [
        ("text-0", [], []), ("empty.txt", [], []), ("spaces.txt", [], [])
    ]  # fmt: skip


def test_txt_files_one_document_per_line(tmp_path):
    (path := tmp_path / "lines.txt").write_text("first doc\n\nsecond doc\n")
    documents = read_inputs([path], txt_unit="line")
    assert [(d.id, d.text) for d in documents] == [
        ("lines.txt:1", "first doc"),
        ("lines.txt:3", "second doc"),
    ]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"text": "ok"', "not valid JSON"),
        ('["a list"]', "expected a JSON object, got list"),
        ('{"body": "x"}', "no 'text' (raw text) or 'tokens' (words) field; the record has 'body'"),
        ('{"text": 5}', "'text' must be a string, got int"),
        ('{"tokens": ["two words"]}', "'tokens' must be a list of non-empty strings without whitespace"),
    ],
)
def test_malformed_jsonl_line_is_named(demo_encoder, tmp_path, line, message):
    path = tmp_path / "docs.jsonl"
    path.write_text('{"id": "a", "text": "fine"}\n\n' + line + "\n")
    with pytest.raises(InputFormatError, match=re.escape(f"docs.jsonl:3: {message}")):
        read_inputs([path])
    with pytest.raises(SystemExit, match="docs.jsonl:3"):
        run_tag("--model", demo_encoder, "--input", path)


def test_undecodable_text_file_names_the_line(tmp_path):
    (path := tmp_path / "latin1.txt").write_bytes(b"fine\ncaf\xe9\n")
    with pytest.raises(InputFormatError, match=r"latin1.txt:2: not valid UTF-8"):
        read_inputs([path])


def test_missing_model_and_missing_input_are_clear(demo_encoder, tmp_path):
    with pytest.raises(SystemExit, match="model directory not found: '.*no-such-model'"):
        run_tag("--model", tmp_path / "no-such-model", "--text", "x")
    with pytest.raises(SystemExit, match="--word_style must be auto or one of split, genia"):
        run_tag("--model", demo_encoder, "--text", "x", "--word_style", "spacy")
    with pytest.raises(SystemExit, match="nothing to tag"):
        run_tag("--model", demo_encoder)
    with pytest.raises(SystemExit, match="absent.jsonl: file not found"):
        run_tag("--model", demo_encoder, "--input", tmp_path / "absent.jsonl")


def write_documents(path: Path, demo_splits, n: int) -> list[str]:
    texts = [text for text, _, _ in demo_texts(demo_splits, split="train", n=n)]
    path.write_text("".join(json.dumps({"id": f"doc{i}", "text": t}) + "\n" for i, t in enumerate(texts)))
    return [f"doc{i}" for i in range(n)]


def test_stopped_run_resumes_without_losing_or_repeating_documents(demo_encoder, demo_splits, tmp_path):
    ids = write_documents(source := tmp_path / "docs.jsonl", demo_splits, 30)
    output = tmp_path / "out.jsonl"
    run_tag("--model", demo_encoder, "--input", source, "--output", output)
    complete = read_jsonl(output)
    assert [r["id"] for r in complete] == ids

    # A run stopped after 11 documents, in the middle of writing the 12th line.
    sink = ShardedOutput(output)
    output.unlink()
    sink.parts.mkdir()
    marked = [{**record, "marker": "first run"} for record in complete[:11]]
    lines = "".join(json.dumps({"_index": i, **r}) + "\n" for i, r in enumerate(marked))
    sink.part(0).write_text(lines + json.dumps({"_index": 11, **complete[11]})[:25])
    result = run_tag("--model", demo_encoder, "--input", source, "--output", output)
    assert result["tagged"] == 19
    resumed = read_jsonl(output)
    assert [r["id"] for r in resumed] == ids
    assert resumed[:11] == marked  # kept, not tagged again
    assert [{k: v for k, v in r.items() if k != "marker"} for r in resumed] == complete
    assert not sink.parts.exists()

    sink.parts.mkdir()
    sink.part(0).write_text("{")  # as if stopped between the merge and the clean-up
    again = run_tag("--model", demo_encoder, "--input", source, "--output", output)  # finished: nothing to do
    assert again["tagged"] == 0 and read_jsonl(output) == resumed and not sink.parts.exists()
    output.write_text(output.read_text().split("\n", 1)[1])  # an output that does not match the inputs
    with pytest.raises(SystemExit, match="exists with 29 records for 30 documents; pass --overwrite_output"):
        run_tag("--model", demo_encoder, "--input", source, "--output", output)
    run_tag("--model", demo_encoder, "--input", source, "--output", output, "--overwrite_output")
    assert read_jsonl(output) == complete


def test_two_processes_share_the_documents_under_accelerate(demo_encoder, demo_splits, tmp_path):
    ids = write_documents(source := tmp_path / "docs.jsonl", demo_splits, 25)
    single = tmp_path / "single.jsonl"
    run_tag("--model", demo_encoder, "--input", source, "--output", single)
    output = tmp_path / "parallel.jsonl"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}
    command = [*LAUNCH, "--main_process_port", str(free_port()), "tag.py", "--model", str(demo_encoder),
               "--input", str(source), "--output", str(output), "--documents_per_step", "4"]  # fmt: skip
    result = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "process 0 of 2 tagged 13 documents" in result.stderr
    assert "process 1 of 2 tagged 12 documents" in result.stderr
    records = read_jsonl(output)
    assert [r["id"] for r in records] == ids
    assert records == read_jsonl(single)


def test_decoder_tags_raw_text_in_every_decoding_mode(overfit_run, demo_encoder, tmp_path):
    """The memorised decoder finds the gold entities of its training sentences from their raw text."""
    model, _ = overfit_run
    from tests.fixtures.decoders import train_instances

    sentences, gold_tags = train_instances(16)
    source = tmp_path / "train.jsonl"
    source.write_text("".join(json.dumps({"text": detokenize(s)[0]}) + "\n" for s in sentences))
    expected = []
    for tokens, tags in zip(sentences, gold_tags, strict=True):
        text, spans = detokenize(tokens)
        from metrics.bio_ner.scoring import extract_entities

        expected.append([(spans[a][0], spans[b - 1][1], kind) for kind, a, b in extract_entities(tags)])
    for decoding, extra in [("constrained", []), ("speculative", ["--draft_model", str(demo_encoder)])]:
        records = run_tag("--model", model, "--input", source, "--decoding", decoding, *extra)["records"]
        assert [[(e["start"], e["end"], e["type"]) for e in r["entities"]] for r in records] == expected, (
            decoding
        )
        assert all("score" not in e for r in records for e in r["entities"])


def test_tag_script_runs_as_a_command(demo_encoder):
    result = subprocess.run(
        [sys.executable, "tag.py", "--model", str(demo_encoder), "--text", "Aspirin induced hepatitis ."],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (record,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert record["id"] == "text-0" and record["text"] == "Aspirin induced hepatitis ."
