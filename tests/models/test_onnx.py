"""CPU backends of token classifiers (bioner.models.onnx): ONNX export and int8, the dev parity gate, bf16
refusal, and the ``--backend`` flag of the prediction scripts."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import HfArgumentParser

from bioner.decoding.prompts import FORMAT_FILE
from bioner.evaluation import backends as gate
from bioner.hub import model_card
from bioner.models import onnx as backends
from bioner.models.errors import ModelLoadError
from bioner.tagging.arguments import TaggerArguments
from bioner.tagging.taggers import load_tagger
from tests.fixtures.models import LABELS


@pytest.fixture(scope="module")
def tiny_classifier(tmp_path_factory, tiny_bert) -> Path:
    """The tiny random BERT with a token-classification head and the demo labels, exported to ONNX."""
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    directory = tmp_path_factory.mktemp("tiny-classifier")
    torch.manual_seed(1)
    model = AutoModelForTokenClassification.from_pretrained(
        tiny_bert, id2label=dict(enumerate(LABELS)), label2id={label: i for i, label in enumerate(LABELS)}
    )
    model.save_pretrained(directory)
    AutoTokenizer.from_pretrained(tiny_bert).save_pretrained(directory)
    backends.export_onnx(directory)
    return directory


@pytest.fixture
def trained_copy(tmp_path, demo_encoder) -> Path:
    """A private copy of the demo-trained encoder (results.json names its dataset: demo)."""
    return Path(shutil.copytree(demo_encoder, tmp_path / "model"))


def _sentences(demo_splits, n: int = 24) -> list[list[str]]:
    return [list(tokens) for tokens, _ in demo_splits["validation"][:n]]


def test_onnx_logits_and_tags_match_torch(tiny_classifier, demo_splits):
    assert (tiny_classifier / "onnx" / "model.onnx").is_file()
    torch_tagger = load_tagger(str(tiny_classifier), device="cpu")
    onnx_tagger = load_tagger(str(tiny_classifier), backend="onnx")
    assert onnx_tagger.backend == "onnx" and onnx_tagger.labels == LABELS
    ids = torch.randint(5, 40, (3, 17))
    mask = torch.ones_like(ids)
    mask[1, 9:] = 0  # a padded row: logits must agree on its real tokens
    with torch.no_grad():
        expected = torch_tagger.model(input_ids=ids, attention_mask=mask).logits
    actual = onnx_tagger.model(input_ids=ids, attention_mask=mask).logits
    assert actual.shape == expected.shape and actual.dtype == torch.float32
    assert torch.allclose(actual[mask.bool()], expected[mask.bool()], atol=1e-4)
    sentences = _sentences(demo_splits)
    assert onnx_tagger(sentences, progress=False) == torch_tagger(sentences, progress=False)
    scores = zip(onnx_tagger.word_log_probs(sentences), torch_tagger.word_log_probs(sentences), strict=True)
    assert all(np.allclose(a, b, atol=1e-4) for a, b in scores)


def test_int8_export_runs_and_loads(tiny_classifier, demo_splits, caplog):
    fp32 = tiny_classifier / "onnx" / "model.onnx"
    groups = backends.node_groups(fp32)
    assert groups["classifier"] and groups["embeddings"] and groups["first"] and groups["last"]
    assert not set(groups["first"]) & set(groups["last"])
    for recipe in backends.INT8_RECIPES:
        path, kept = backends.quantize_int8(fp32, tiny_classifier / "onnx" / "model_int8.onnx", recipe)
        assert path.is_file() and path.stat().st_size > 0
        assert set(groups["classifier"]) <= set(kept) or recipe == "naive"
    with caplog.at_level(logging.WARNING, logger="bioner.models.onnx"):
        tagger = load_tagger(str(tiny_classifier), backend="onnx-int8")
    assert "no dev parity record" in caplog.text  # built without the gate: loads, with a warning
    sentences = _sentences(demo_splits)
    tags = tagger(sentences, progress=False)
    assert [len(t) for t in tags] == [len(s) for s in sentences]
    assert {tag for sentence in tags for tag in sentence} <= set(LABELS)


def _op_types(path: Path) -> set[str]:
    import onnx

    return {node.op_type for node in onnx.load(str(path)).graph.node}


def test_bert_export_fuses_attention_and_int8_quantizes_it(tiny_classifier, tmp_path):
    fp32 = tiny_classifier / "onnx" / "model.onnx"
    ops = _op_types(fp32)
    # eager attention for the export: one fused Attention node per layer, no SDPA mask graph
    assert {"Attention", "SkipLayerNormalization"} <= ops and "IsNaN" not in ops
    path, kept = backends.quantize_int8(fp32, tmp_path / "int8.onnx", backends.DEFAULT_RECIPE)
    assert backends.DEFAULT_RECIPE == "attention" and "QAttention" in _op_types(path)
    assert "QAttention" not in _op_types(backends.quantize_int8(fp32, tmp_path / "mm.onnx", "matmul")[0])
    session = backends.OnnxTokenClassifier(path, None)
    ids = torch.randint(5, 40, (2, 11))
    logits = session(input_ids=ids, attention_mask=torch.ones_like(ids)).logits
    assert logits.shape == (2, 11, len(LABELS)) and torch.isfinite(logits).all()


def test_export_restores_the_models_attention(tiny_classifier, tmp_path):
    from transformers import AutoModelForTokenClassification

    model = AutoModelForTokenClassification.from_pretrained(tiny_classifier, attn_implementation="sdpa")
    backends.export_onnx(tmp_path, model=model)
    assert model.config._attn_implementation == "sdpa"
    assert "Attention" in _op_types(tmp_path / "onnx" / "model.onnx")


def test_sessions_plan_no_memory_per_input_shape(tiny_classifier):
    """ONNX Runtime's memory pattern keeps a block per input shape: tagging would grow with its input."""
    session = backends.OnnxTokenClassifier(tiny_classifier / "onnx" / "model.onnx", None).session
    options = session.get_session_options()
    assert not options.enable_mem_pattern and options.enable_cpu_mem_arena
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_missing_onnx_file_says_how_to_build(tmp_path, tiny_classifier):
    model = Path(shutil.copytree(tiny_classifier, tmp_path / "model", ignore=shutil.ignore_patterns("onnx")))
    with pytest.raises(ModelLoadError, match=r"python -m bioner.evaluation.backends .* --int8"):
        load_tagger(str(model), backend="onnx-int8")


def test_parity_gate_stores_record_and_card_lists_backends(trained_copy):
    parity = gate.build(trained_copy, int8=True, dataset="demo")
    stored = json.loads((trained_copy / "onnx" / "parity.json").read_text())
    assert stored == json.loads(json.dumps(parity))
    for backend in ("onnx", "onnx-int8"):
        entry = stored[backend]
        assert entry["passed"] and entry["split"] == "dev" and entry["dataset"] == "demo"
        assert entry["dev_sentences"] > 0 and entry["fp32_f1"] > 0.5
        assert entry["delta"] == pytest.approx(entry["backend_f1"] - entry["fp32_f1"], abs=1e-3)
        assert "avx2" in entry["flags"] and entry["cpu"]
    assert stored["onnx"]["delta"] == 0
    assert set(backends.passed_backends(trained_copy)) == {"onnx", "onnx-int8"}
    card = model_card(
        base_model="org/bert",
        dataset="demo",
        results={},
        repo_id="org/ner",
        backends=backends.passed_backends(trained_copy),
    )
    assert "## Faster CPU backends" in card and "| `onnx-int8` |" in card


def _broken_quantization(fp32_path, output, recipe=backends.DEFAULT_RECIPE):
    """A "quantized" model whose classifier weights are noise: the gate must catch it."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(fp32_path))
    classifier = next(n for n in model.graph.node if n.name in backends.node_groups(fp32_path)["classifier"])
    for initializer in model.graph.initializer:
        if initializer.name in classifier.input:
            weights = numpy_helper.to_array(initializer)
            noise = np.random.default_rng(0).normal(size=weights.shape).astype(weights.dtype)
            initializer.CopyFrom(numpy_helper.from_array(noise, initializer.name))
    onnx.save(model, str(output))
    return Path(output), []


def test_parity_gate_refuses_broken_quantization(trained_copy, monkeypatch, caplog):
    monkeypatch.setattr(gate, "quantize_int8", _broken_quantization)
    with pytest.raises(backends.ParityError, match="onnx-int8: dev strict F1"):
        gate.build(trained_copy, int8=True, dataset="demo")
    assert not (trained_copy / "onnx" / "model_int8.onnx").exists()  # refused: not kept as usable
    entry = json.loads((trained_copy / "onnx" / "parity.json").read_text())["onnx-int8"]
    assert not entry["passed"] and entry["delta"] < -backends.MAX_F1_DROP
    assert set(backends.passed_backends(trained_copy)) == {"onnx"}
    with pytest.raises(ModelLoadError, match="no onnx/model_int8.onnx"):
        load_tagger(str(trained_copy), backend="onnx-int8")
    # --allow_parity_failure keeps it, and every load says it failed
    gate.build(trained_copy, int8=True, dataset="demo", allow_parity_failure=True)
    assert (trained_copy / "onnx" / "model_int8.onnx").is_file()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="bioner.models.onnx"):
        load_tagger(str(trained_copy), backend="onnx-int8")
    assert "FAILED its dev parity check" in caplog.text
    assert "onnx-int8" not in backends.passed_backends(trained_copy)


def test_parity_gate_falls_back_to_the_next_recipe(trained_copy, monkeypatch):
    real = gate.quantize_int8

    def first_recipe_broken(fp32_path, output, recipe):
        if recipe == "naive":
            return _broken_quantization(fp32_path, output)
        return real(fp32_path, output, recipe)

    monkeypatch.setattr(gate, "quantize_int8", first_recipe_broken)
    parity = gate.build(trained_copy, int8=True, dataset="demo", recipe=["naive", "matmul"])
    entry = parity["onnx-int8"]
    assert entry["passed"] and entry["recipe"] == "matmul"
    assert [t["recipe"] for t in entry["recipes_tried"]] == ["naive", "matmul"]
    assert [t["passed"] for t in entry["recipes_tried"]] == [False, True]
    assert (trained_copy / "onnx" / "model_int8.onnx").is_file()
    with pytest.raises(ValueError, match="unknown int8 recipe"):
        gate.build(trained_copy, int8=True, dataset="demo", recipe=["matmul", "fastest"])


def test_cli_refuses_without_dataset(tmp_path, tiny_classifier, capsys):
    model = Path(shutil.copytree(tiny_classifier, tmp_path / "model"))
    assert gate.main([str(model), "--int8"]) == 1
    assert "pass --dataset" in capsys.readouterr().err


def test_generative_decoder_refuses_onnx(tmp_path):
    decoder = tmp_path / "decoder"
    decoder.mkdir()
    (decoder / FORMAT_FILE).write_text("{}")
    with pytest.raises(ModelLoadError, match="generative decoder"):
        load_tagger(str(decoder), backend="onnx")
    with pytest.raises(ModelLoadError, match="generative decoder"):
        backends.export_onnx(decoder)


def test_unknown_backend(tiny_classifier):
    with pytest.raises(ModelLoadError, match="unknown backend 'tensorrt'"):
        load_tagger(str(tiny_classifier), backend="tensorrt")


def test_bf16_refused_where_the_cpu_lacks_it(tiny_classifier, monkeypatch, demo_splits):
    monkeypatch.setattr(backends, "cpu_has_fast_bf16", lambda: False)
    with pytest.raises(ModelLoadError, match="neither AVX512-BF16 nor AMX"):
        load_tagger(str(tiny_classifier), backend="torch-bf16", device="cpu")
    monkeypatch.setattr(backends, "cpu_has_fast_bf16", lambda: True)
    tagger = load_tagger(str(tiny_classifier), backend="torch-bf16", device="cpu")
    sentences = _sentences(demo_splits, 4)
    assert [len(t) for t in tagger(sentences, progress=False)] == [len(s) for s in sentences]


@pytest.mark.parametrize("backend", ["torch", "torch-bf16", "onnx", "onnx-int8"])
def test_backend_flag_of_the_scripts(backend, monkeypatch):
    import benchmark_latency
    import evaluate_ner
    import tag

    parsed = {}
    for name, dataclasses, extra in [
        ("evaluate_ner", (evaluate_ner.EvaluationArguments, TaggerArguments), ["--model", "m"]),
        ("tag", (tag.TagArguments, TaggerArguments), ["--model", "m"]),
    ]:
        _, tagger_args = HfArgumentParser(dataclasses).parse_args_into_dataclasses(
            args=[*extra, "--backend", backend]
        )
        parsed[name] = tagger_args.backend
    (latency,) = HfArgumentParser(benchmark_latency.LatencyArguments).parse_args_into_dataclasses(
        args=["--models", "m", "--backend", backend]
    )
    parsed["benchmark_latency"] = latency.backend
    assert set(parsed.values()) == {backend}
    seen = {}
    monkeypatch.setattr("bioner.tagging.arguments.load_tagger", lambda model, **options: seen.update(options))
    TaggerArguments(backend=backend).load("m")
    assert seen["backend"] == backend


@pytest.mark.parametrize("attention", ["causal", "bidirectional"])
def test_an_llm_token_classifier_exports_with_its_attention(tiny_llama, tmp_path, attention):
    from bioner.models.token_llm import TokenLLMArguments, load_llm_token_classifier

    model, _ = load_llm_token_classifier(str(tiny_llama), LABELS, TokenLLMArguments(attention=attention))
    model.eval()
    session = backends.OnnxTokenClassifier(backends.export_onnx(tmp_path, model=model), model.config)
    ids = torch.randint(5, 300, (3, 17))
    mask = torch.ones_like(ids)
    mask[1, 9:] = 0
    with torch.no_grad():
        expected = model(input_ids=ids, attention_mask=mask).logits
    actual = session(input_ids=ids, attention_mask=mask).logits
    assert torch.allclose(actual[mask.bool()], expected[mask.bool()], atol=1e-4)
    groups = backends.node_groups(tmp_path / "onnx" / "model.onnx")
    assert groups["classifier"] and groups["first"] and groups["last"] and groups["ffn_out"]
    int8, kept = backends.quantize_int8(tmp_path / "onnx" / "model.onnx", tmp_path / "int8.onnx")
    assert set(groups["classifier"]) <= set(kept) and "MatMulInteger" in _op_types(int8)
    quantized = backends.OnnxTokenClassifier(int8, model.config)(input_ids=ids, attention_mask=mask).logits
    assert quantized.shape == expected.shape and torch.isfinite(quantized).all()


def test_onnx_files_are_pushed_with_the_model_and_load_by_repo_id(
    fake_hub, tiny_classifier, tmp_path, demo_splits
):
    import subprocess
    import sys

    from tests.helpers import ROOT

    staged = Path(shutil.copytree(tiny_classifier, tmp_path / "staged"))
    entry = {"passed": True, "fp32_f1": 0.9, "backend_f1": 0.9, "delta": 0.0, "dev_sentences": 10}
    (staged / "onnx" / "parity.json").write_text(json.dumps({"onnx": entry}))
    sentences = _sentences(demo_splits, 8)
    (tmp_path / "sentences.json").write_text(json.dumps(sentences))
    script = f"""
import json
from bioner.hub import push_model_with_backends
from bioner.tagging.taggers import load_tagger
push_model_with_backends({str(staged)!r}, "testorg/tiny-onnx")
sentences = json.load(open({str(tmp_path / "sentences.json")!r}))
print(json.dumps(load_tagger("testorg/tiny-onnx", backend="onnx")(sentences, progress=False)))
"""
    env = {**fake_hub.env(tmp_path / "home"), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-4000:]
    pushed = fake_hub.store.files("testorg/tiny-onnx")
    assert "onnx/model.onnx" in pushed and "onnx/parity.json" in pushed
    assert "## Faster CPU backends" in pushed["README.md"].decode()
    expected = load_tagger(str(tiny_classifier), device="cpu")(sentences, progress=False)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == expected
