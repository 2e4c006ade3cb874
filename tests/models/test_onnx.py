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
    calibration = gate.calibration(tiny_classifier, _sentences(demo_splits, 8))
    for recipe in backends.INT8_RECIPES:
        path, kept = backends.quantize_int8(
            fp32, tiny_classifier / "onnx" / "model_int8.onnx", recipe, calibration
        )
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


def _matmul_model(weight: np.ndarray):
    """``y = x @ weight`` as an ONNX graph, its MatMul named ``/layer.0/output/dense/MatMul``."""
    from onnx import TensorProto, helper, numpy_helper

    node = helper.make_node("MatMul", ["x", "w"], ["y"], name="/layer.0/output/dense/MatMul")
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, weight.shape[0]])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, weight.shape[1]])],
        [numpy_helper.from_array(weight, "w")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _run(model_or_path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    source = model_or_path if isinstance(model_or_path, (str, Path)) else model_or_path.SerializeToString()
    session = ort.InferenceSession(str(source) if isinstance(source, Path) else source)
    return session.run(["y"], {"x": x})[0]


def test_smoothing_keeps_the_product_and_shrinks_int8_error_of_outlier_channels(tmp_path):
    """SmoothQuant: the fp32 graph computes the same product; dynamic int8 of it loses much less where a few
    activation channels are outliers (one per-tensor scale)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    rng = np.random.default_rng(0)
    weight = rng.normal(size=(64, 16)).astype(np.float32) * 0.1
    x = rng.normal(size=(200, 64)).astype(np.float32)
    x[:, [3, 17]] *= 80.0  # two outlier channels, as GELU outputs of BERT-style encoders have
    maxima = {"x": np.abs(x).max(axis=0)}
    plain = _matmul_model(weight)
    smoothed = _matmul_model(weight)
    assert backends.smooth_activations(smoothed, ["/layer.0/output/dense/MatMul"], maxima, alpha=0.5) == 1
    assert [n.op_type for n in smoothed.graph.node] == ["Mul", "MatMul"]
    exact = x @ weight
    assert np.allclose(_run(smoothed, x), exact, rtol=1e-4, atol=1e-4)
    errors = {}
    for name, model in (("plain", plain), ("smoothed", smoothed)):
        onnx.save(model, str(tmp_path / f"{name}.onnx"))
        quantize_dynamic(str(tmp_path / f"{name}.onnx"), str(tmp_path / f"{name}-int8.onnx"),
                         weight_type=QuantType.QInt8, per_channel=True)  # fmt: skip
        errors[name] = float(np.abs(_run(tmp_path / f"{name}-int8.onnx", x) - exact).mean())
    assert errors["smoothed"] < errors["plain"] / 3
    # a node not asked for, or whose input has no calibrated range, is left alone
    untouched = _matmul_model(weight)
    assert backends.smooth_activations(untouched, ["/other/MatMul"], maxima) == 0
    assert backends.smooth_activations(untouched, ["/layer.0/output/dense/MatMul"], {}) == 0
    assert [n.op_type for n in untouched.graph.node] == ["MatMul"]


def test_smooth_recipe_calibrates_and_records_activation_ranges(tiny_classifier, demo_splits, tmp_path):
    import onnx

    fp32 = tiny_classifier / "onnx" / "model.onnx"
    with pytest.raises(ValueError, match="needs calibration sentences"):
        backends.quantize_int8(fp32, tmp_path / "int8.onnx", "smooth")
    seen = {}
    real = gate.calibration(tiny_classifier, _sentences(demo_splits, 8))

    def recording(probe, tensors):
        seen["tensors"] = tensors
        seen["maxima"] = real(probe, tensors)
        return seen["maxima"]

    path, kept = backends.quantize_int8(fp32, tmp_path / "int8.onnx", "smooth", recording)
    ffn_out = backends.node_groups(fp32)["ffn_out"]
    assert ffn_out and not set(ffn_out) & set(kept)  # the FFN output projections are int8 too
    assert len(seen["tensors"]) == len(ffn_out) and set(seen["maxima"]) == set(seen["tensors"])
    intermediate = json.loads((tiny_classifier / "config.json").read_text())["intermediate_size"]
    assert all(m.shape == (intermediate,) and (m > 0).all() for m in seen["maxima"].values())
    assert [p.name for p in tmp_path.iterdir()] == ["int8.onnx"]  # no calibration/smoothed copy left
    ops = _op_types(path)
    smooth_nodes = [n for n in onnx.load(str(path)).graph.node if n.name.endswith("/Smooth")]
    assert len(smooth_nodes) == len(ffn_out)
    assert "MatMulInteger" in ops or "DynamicQuantizeMatMul" in ops
    session = backends.OnnxTokenClassifier(path, None)
    ids = torch.randint(5, 40, (2, 9))
    reference = backends.OnnxTokenClassifier(fp32, None)(input_ids=ids, attention_mask=torch.ones_like(ids))
    logits = session(input_ids=ids, attention_mask=torch.ones_like(ids)).logits
    assert logits.shape == reference.logits.shape and torch.isfinite(logits).all()


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


def _broken_quantization(fp32_path, output, recipe=backends.DEFAULT_RECIPE, calibration=None):
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

    def first_recipe_broken(fp32_path, output, recipe, calibration=None):
        if recipe == "naive":
            return _broken_quantization(fp32_path, output)
        return real(fp32_path, output, recipe, calibration)

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
