"""Faster CPU backends for token classifiers: ONNX Runtime fp32 and dynamic int8, and bf16 autocast.

PyTorch fp32 runs near this kind of CPU's matmul limit, so more speed has to come from lower precision. A
trained token-classifier folder gets, next to its weights::

    onnx/model.onnx         fp32 export (dynamic batch and sequence axes), backend ``onnx``
    onnx/model_int8.onnx    dynamic int8 weights (per-channel), backend ``onnx-int8``
    onnx/parity.json        per backend: dev strict F1 of fp32 PyTorch and of the backend, the delta, the
                            dev sentences scored and the CPU it was measured on

Build them with::

    python -m bioner.evaluation.backends runs/bc5cdr-minilm --int8 [--dataset bc5cdr] [--recipe attention]

Every backend is scored on the model's own dev split when it is built (the dataset recorded in
``results.json``, or ``--dataset``): one whose strict F1 is more than :data:`MAX_F1_DROP` below fp32
PyTorch is refused (its file is deleted) unless ``--allow_parity_failure`` keeps it, with a warning at
every load. ``load_tagger(model, backend="onnx-int8")`` (``--backend`` of ``tag.py``, ``evaluate_ner.py``
and ``benchmark_latency.py``) then runs the same windows, merging and Viterbi as PyTorch:
:class:`OnnxTokenClassifier` answers the forward pass with the same ``.logits``. ``torch-bf16`` autocasts
PyTorch to bfloat16 and is refused on a CPU without AVX512-BF16/AMX, where PyTorch's bf16 matmul falls
back to a loop ~40x slower than fp32 (``bioner.models.precision``).

Naive dynamic int8 (every MatMul and the embedding Gathers, per-tensor) loses F1 on BERT-style encoders;
the default ``attention`` recipe keeps the embeddings and the classifier head in fp32 and quantizes the other
MatMul weights per output channel and the fused self-attention (``QAttention``); ``matmul`` leaves the fused
attention in fp32, ``edges`` also keeps the first and last layers in fp32, ``ffn_out`` the feed-forward
output projections. ``smooth`` quantizes those too, after SmoothQuant moves their input activations' outlier
channels into the weights (:func:`smooth_activations`; ranges calibrated on the first
:data:`CALIBRATION_SENTENCES` dev sentences). ``benchmarks/onnx_backends.py`` measures them.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from bioner.models.errors import ModelLoadError
from bioner.models.precision import cpu_has_fast_bf16
from bioner.models.registry import LLM_TOKEN_CLASSIFIER, is_hub_id, load_token_classifier, model_kind
from bioner.models.token_llm import load_trained_token_llm

logger = logging.getLogger(__name__)

TORCH, TORCH_BF16, ONNX, ONNX_INT8 = "torch", "torch-bf16", "onnx", "onnx-int8"
BACKENDS = (TORCH, TORCH_BF16, ONNX, ONNX_INT8)
ONNX_DIR = "onnx"
FILES = {ONNX: "model.onnx", ONNX_INT8: "model_int8.onnx"}
PARITY_FILE = "parity.json"
MAX_F1_DROP = 0.005
"""The most strict F1 (absolute, 0.5 points) a backend may lose against fp32 PyTorch on dev."""
OPSET = 17
CPU_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8", "amx_tile")


class ParityError(ModelLoadError):
    """A backend scored more than :data:`MAX_F1_DROP` strict F1 below fp32 PyTorch on dev."""


@dataclass(frozen=True)
class Int8Recipe:
    """How dynamic int8 quantization treats a model's graph."""

    per_channel: bool = True
    op_types: tuple[str, ...] | None = ("MatMul",)  # None: every op type ONNX Runtime can quantize
    exclude: tuple[str, ...] = ()  # node groups kept in fp32: embeddings, classifier, first, last, ffn_out
    reduce_range: bool = False
    smooth: tuple[str, ...] = ()  # node groups whose input activations are smoothed first (SmoothQuant)
    alpha: float = 0.5  # SmoothQuant's migration strength: how much of an outlier's range moves to the weight


INT8_RECIPES = {
    # everything ONNX Runtime quantizes by default (MatMul and the embedding Gathers), per-tensor
    "naive": Int8Recipe(per_channel=False, op_types=None),
    # MatMul weights per channel; embeddings (Gather) stay fp32; the classifier head too
    "matmul": Int8Recipe(exclude=("classifier",)),
    # also the first and last transformer layers in fp32
    "edges": Int8Recipe(exclude=("classifier", "first", "last")),
    # also every feed-forward output projection (the activations with outliers in BERT-style encoders)
    "ffn_out": Int8Recipe(exclude=("classifier", "ffn_out")),
    # MatMul weights per channel and the fused self-attention (ONNX Runtime's Attention -> QAttention: the
    # Q/K/V projections in int8 too); the classifier head stays fp32
    "attention": Int8Recipe(op_types=("MatMul", "Attention"), exclude=("classifier",)),
    # as ``attention``, with the feed-forward output projections int8 too after SmoothQuant: their input
    # channels are rescaled (calibrated on dev): the outliers no longer set the one dynamic scale per tensor.
    # alpha 0.75 (most of the range moved into the weights): on MPNet/BC5CDR (first 800 dev sentences) 0.75
    # and 0.9 kept F1 (+0.12, 0.00), 0.5 lost 2.3 points and 0.25 everything
    "smooth": Int8Recipe(
        op_types=("MatMul", "Attention"), exclude=("classifier",), smooth=("ffn_out",), alpha=0.75
    ),
}
CALIBRATION_SENTENCES = 512
"""Dev sentences whose activation ranges calibrate a smoothing recipe."""

Calibration = Callable[[Path, list[str]], dict[str, np.ndarray]]
"""Runs a calibration copy of the fp32 model (path) over calibration sentences and returns, per named
tensor, the per-channel absolute maximum (:class:`ActivationRecorder` records them)."""
DEFAULT_RECIPE = "attention"


# --- the folder layout ---------------------------------------------------------------------------------


def onnx_dir(model_dir: str | Path) -> Path:
    return Path(model_dir) / ONNX_DIR


def read_parity(model_dir: str | Path) -> dict:
    """``onnx/parity.json`` of a local folder (``{}`` when there is none)."""
    path = onnx_dir(model_dir) / PARITY_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def passed_backends(model_dir: str | Path) -> dict[str, dict]:
    """The backends of a local folder that passed the dev parity gate and whose file is there."""
    return {
        backend: entry
        for backend, entry in read_parity(model_dir).items()
        if entry.get("passed") and (backend not in FILES or (onnx_dir(model_dir) / FILES[backend]).is_file())
    }


def _model_file(name_or_path: str, backend: str) -> tuple[Path, dict]:
    """The ONNX file of ``backend`` in a local folder or Hub repo, and that folder's parity record."""
    relative = f"{ONNX_DIR}/{FILES[backend]}"
    build = f"build it with: python -m bioner.evaluation.backends {name_or_path}" + (
        " --int8" if backend == ONNX_INT8 else ""
    )
    if not is_hub_id(name_or_path):
        path = Path(name_or_path) / relative
        if not path.is_file():
            raise ModelLoadError(f"--backend {backend}: '{name_or_path}' has no {relative}; {build}")
        return path, read_parity(name_or_path).get(backend, {})
    from huggingface_hub import hf_hub_download

    try:
        path = Path(hf_hub_download(name_or_path, relative))
    except Exception as error:  # noqa: BLE001 - offline, no such file: say what to do
        raise ModelLoadError(
            f"--backend {backend}: could not get {relative} from the Hub repo '{name_or_path}'"
            f" ({type(error).__name__}); {build} and push the folder"
        ) from error
    try:
        parity = json.loads(Path(hf_hub_download(name_or_path, f"{ONNX_DIR}/{PARITY_FILE}")).read_text())
    except Exception:  # noqa: BLE001 - no parity record: warned about below
        parity = {}
    return path, parity.get(backend, {})


def warn_parity(name: str, backend: str, entry: dict) -> None:
    if not entry:
        logger.warning(
            "%s: the %s backend has no dev parity record (onnx/parity.json): its F1 is unchecked",
            name,
            backend,
        )
    elif not entry.get("passed"):
        logger.warning(
            "!!! %s: the %s backend FAILED its dev parity check (strict F1 %.4f, fp32 %.4f, delta %+.4f) and"
            " was"
            " kept with --allow_parity_failure: expect worse tags than the PyTorch model !!!",
            name, backend, entry.get("backend_f1", float("nan")), entry.get("fp32_f1", float("nan")),
            entry.get("delta", float("nan")),
        )  # fmt: skip


# --- running an ONNX model --------------------------------------------------------------------------


class OnnxTokenClassifier:
    """An ONNX Runtime session that answers like a transformers token classifier.

    ``model(input_ids=..., attention_mask=...).logits`` is a float32 CPU tensor and ``config`` is the model's
    config, so ``bioner.decoding.windows`` (windows, merging) and the Viterbi decoding run unchanged.
    """

    def __init__(
        self,
        path: str | Path,
        config,
        threads: int | None = None,
        memory_pattern: bool = False,
        spin: bool = False,
    ):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # ONNX Runtime's memory pattern keeps one planned block per input shape it has seen; tagging feeds a
        # new (batch, sequence) shape with nearly every batch, so with it on the process grew with the input
        # (peak RSS 1.36x for the same PubMed file given twice; 1.00x without it, and no slower). The arena
        # stays on: without it every run allocates afresh (higher peak, slower).
        options.enable_mem_pattern = memory_pattern
        # Threads that wait for work sleep instead of spinning: on a CPU shared with other jobs a spinning
        # thread steals the core its sibling needs (int8 MiniLM 2.57x vs 2.33x torch fp32 here).
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
        if threads:
            options.intra_op_num_threads = threads
        self.path = Path(path)
        self.config = config
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]
        self._device_probe = torch.empty(0)

    def __call__(self, input_ids, attention_mask=None, **_):
        (logits,) = self.session.run(["logits"], self._feed(input_ids, attention_mask))
        return SimpleNamespace(logits=torch.from_numpy(logits))

    def _feed(self, input_ids, attention_mask) -> dict[str, np.ndarray]:
        feed = {"input_ids": _numpy(input_ids)}
        if "attention_mask" in self.input_names:
            feed["attention_mask"] = (
                np.ones_like(feed["input_ids"]) if attention_mask is None else _numpy(attention_mask)
            )
        return feed

    def parameters(self):  # where windows.py puts its inputs: the CPU
        yield self._device_probe

    def eval(self):
        return self

    def to(self, device):
        if torch.device(device).type != "cpu":
            raise ModelLoadError(f"ONNX backends run on the CPU, not on {device}")
        return self


class ActivationRecorder(OnnxTokenClassifier):
    """An ONNX session (of a model whose graph outputs include ``tensors``) that answers like
    :class:`OnnxTokenClassifier` and keeps, per tensor, the absolute maximum of each channel (last axis) over
    every batch it ran: the activation ranges a smoothing recipe is calibrated on. Padding positions count:
    dynamic quantization scales the whole tensor, padding included."""

    def __init__(self, path: str | Path, config, tensors: Sequence[str]):
        super().__init__(path, config)
        self.tensors = list(tensors)
        self.maxima: dict[str, np.ndarray] = {}

    def __call__(self, input_ids, attention_mask=None, **_):
        logits, *values = self.session.run(["logits", *self.tensors], self._feed(input_ids, attention_mask))
        for name, value in zip(self.tensors, values, strict=True):
            channel_max = np.abs(value).reshape(-1, value.shape[-1]).max(axis=0)
            self.maxima[name] = np.maximum(self.maxima.get(name, channel_max), channel_max)
        return SimpleNamespace(logits=torch.from_numpy(logits))


def _numpy(tensor) -> np.ndarray:
    return (
        tensor.detach().cpu().numpy().astype(np.int64)
        if isinstance(tensor, torch.Tensor)
        else np.asarray(tensor, np.int64)
    )


def load_onnx_model(
    name_or_path: str, backend: str, config, threads: int | None = None
) -> OnnxTokenClassifier:
    """The :class:`OnnxTokenClassifier` of ``backend`` from a local folder or Hub repo; warns about parity."""
    path, parity = _model_file(name_or_path, backend)
    warn_parity(name_or_path, backend, parity)
    return OnnxTokenClassifier(path, config, threads=threads)


def check_bf16(device: torch.device) -> None:
    """Refuse ``torch-bf16`` where bf16 matmuls are slow, naming the CPU feature that is missing."""
    if device.type == "cuda":
        if not torch.cuda.is_bf16_supported():
            raise ModelLoadError("--backend torch-bf16: this GPU has no bfloat16 support")
        return
    if not cpu_has_fast_bf16():
        raise ModelLoadError(
            "--backend torch-bf16: this CPU has neither AVX512-BF16 nor AMX (PyTorch CPU capability: "
            f"{torch.backends.cpu.get_cpu_capability()}), so PyTorch would multiply bf16 matrices with a slow"
            " fallback (~40x slower than float32); use --backend onnx-int8 or torch"
        )


# --- building ------------------------------------------------------------------------------------------


class _LogitsOnly(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask):
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits


def _load_torch_model(model_dir: Path):
    kind = model_kind(str(model_dir))
    if kind == LLM_TOKEN_CLASSIFIER:
        model, _ = load_trained_token_llm(model_dir, load_in_4bit=False, dtype="float32")
        if getattr(model, "peft_config", None):
            model = model.merge_and_unload()
        return model.eval()
    if kind != "encoder":
        raise ModelLoadError(
            f"'{model_dir}' is a {kind or 'model of unknown kind'}: ONNX backends are for token classifiers"
            " (encoders and LLM token classifiers), not generative decoders"
        )
    return load_token_classifier(str(model_dir)).eval()


def export_onnx(model_dir: str | Path, model=None, opset: int = OPSET) -> Path:
    """Export a token-classifier folder to ``onnx/model.onnx`` (fp32, dynamic batch and sequence axes)."""
    model_dir = Path(model_dir)
    model = model if model is not None else _load_torch_model(model_dir)
    target = onnx_dir(model_dir) / FILES[ONNX]
    target.parent.mkdir(parents=True, exist_ok=True)
    ids = torch.tensor([[1, 2, 3, 4], [5, 6, 7, 8]], dtype=torch.long).clamp(max=model.config.vocab_size - 1)
    mask = torch.ones_like(ids)
    axes = {0: "batch", 1: "sequence"}
    started = time.perf_counter()
    attention = _eager_attention(model)
    try:
        import warnings

        with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _LogitsOnly(model).eval(),
                (ids, mask),
                str(target),
                input_names=["input_ids", "attention_mask"],
                output_names=["logits"],
                dynamic_axes={"input_ids": axes, "attention_mask": axes, "logits": axes},
                opset_version=opset,
                dynamo=False,
            )
    except Exception as error:
        target.unlink(missing_ok=True)
        raise ModelLoadError(
            f"ONNX export of '{model_dir}' failed: {type(error).__name__}: {error}"
        ) from error
    finally:
        if attention is not None:
            model.set_attn_implementation(attention)
    logger.info("exported %s in %.1fs", target, time.perf_counter() - started)
    _fuse(target, model.config)
    return target


FUSABLE_MODEL_TYPES = ("bert", "roberta", "xlm-roberta", "electra", "distilbert", "mpnet")


def _eager_attention(model) -> str | None:
    """Switch a BERT-like model to eager attention for the export; returns the implementation to restore.

    ONNX Runtime's optimizer recognises the eager attention graph (and fuses it into one ``Attention`` node,
    which int8 turns into ``QAttention``), not the masked SDPA graph, whose mask handling (IsNaN/Where over
    batch x heads x length x length) cost ~11% of the int8 forward. Other models (LLM token classifiers with
    their own attention masks) are exported as they are.
    """
    current = getattr(model.config, "_attn_implementation", None)
    if (
        getattr(model.config, "model_type", None) not in FUSABLE_MODEL_TYPES
        or current in (None, "eager")
        or not hasattr(model, "set_attn_implementation")
    ):
        return None
    try:
        model.set_attn_implementation("eager")
    except (ValueError, ImportError) as error:  # a model without an eager path: export as it is
        logger.info("kept %s attention for the export (%s)", current, error)
        return None
    return current


def _fuse(path: Path, config) -> bool:
    """Fuse GELU and residual + LayerNorm nodes with ONNX Runtime's transformer optimizer (BERT-like models).

    The fused graph replaces ``path`` only when its logits match the plain export's (max abs difference below
    1e-4 on a random probe); returns whether it did.
    """
    if getattr(config, "model_type", None) not in FUSABLE_MODEL_TYPES:
        return False
    import onnxruntime as ort
    from onnxruntime.transformers.optimizer import optimize_model

    fused_path = path.with_suffix(".fused.onnx")
    try:
        fused = optimize_model(
            str(path),
            model_type="bert",
            num_heads=int(getattr(config, "num_attention_heads", 0) or 0),
            hidden_size=int(getattr(config, "hidden_size", 0) or 0),
            opt_level=1,
        )
        fused.save_model_to_file(str(fused_path))
        generator = np.random.default_rng(0)
        ids = generator.integers(5, max(6, min(config.vocab_size, 1000)), size=(3, 24), dtype=np.int64)
        mask = np.ones_like(ids)
        mask[1, 12:] = 0
        feed = {"input_ids": ids, "attention_mask": mask}
        outputs = [
            ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(["logits"], feed)[0]
            for p in (path, fused_path)
        ]
        difference = float(np.abs(outputs[0] - outputs[1])[mask.astype(bool)].max())
    except Exception as error:  # noqa: BLE001 - an optimizer that cannot read the graph: keep the export
        logger.info("kept the unfused export (%s: %s)", type(error).__name__, error)
        fused_path.unlink(missing_ok=True)
        return False
    if difference > 1e-4:
        logger.warning("kept the unfused export: the fused graph's logits differ by %.2g", difference)
        fused_path.unlink(missing_ok=True)
        return False
    fused_path.replace(path)
    logger.info("fused %s (logits within %.1g)", path, difference)
    return True


def node_groups(model_path: str | Path) -> dict[str, list[str]]:
    """Names of the weight-carrying nodes of an exported encoder, by group: ``embeddings``, ``classifier``,
    ``first`` and ``last`` (transformer layers), ``ffn_out`` (each layer's feed-forward output projection)."""
    import onnx

    graph = onnx.load(str(model_path), load_external_data=False).graph
    nodes = [node.name for node in graph.node if node.op_type in ("MatMul", "Gemm", "Gather")]
    layer_of = {name: int(m.group(1)) for name in nodes if (m := re.search(r"/layers?\.(\d+)/", name))}
    layers = sorted(set(layer_of.values()))
    groups: dict[str, list[str]] = {
        "embeddings": [],
        "classifier": [],
        "first": [],
        "last": [],
        "ffn_out": [],
    }
    for name in nodes:
        if "embed" in name.lower():
            groups["embeddings"].append(name)
        if re.search(r"classifier|score|/lm_head", name) and name not in layer_of:
            groups["classifier"].append(name)
        if layers and layer_of.get(name) == layers[0]:
            groups["first"].append(name)
        if layers and layer_of.get(name) == layers[-1]:
            groups["last"].append(name)
        if re.search(r"/layers?\.\d+/(output/dense|mlp/down_proj|ffn/output|output_dense|mlp/fc2)/", name):
            groups["ffn_out"].append(name)
    return groups


def quantize_int8(
    fp32_path: str | Path,
    output: str | Path,
    recipe: str | Int8Recipe = DEFAULT_RECIPE,
    calibration: Calibration | None = None,
) -> tuple[Path, list[str]]:
    """Dynamic int8 quantization of an exported model (weights int8, activations quantized on the fly);
    returns the output path and the nodes kept in fp32. A recipe that smooths (``smooth``) needs
    ``calibration`` (``bioner.evaluation.backends`` passes one over dev sentences)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    recipe = INT8_RECIPES[recipe] if isinstance(recipe, str) else recipe
    groups = node_groups(fp32_path)
    excluded = sorted({name for group in recipe.exclude for name in groups[group]})
    output = Path(output)
    source = Path(fp32_path)
    if recipe.smooth:
        if calibration is None:
            raise ValueError(
                "an int8 recipe that smooths activations needs calibration sentences: build it with"
                " python -m bioner.evaluation.backends MODEL --int8 --recipe ..."
            )
        targets = [name for group in recipe.smooth for name in groups[group] if name not in excluded]
        smoothed = output.with_suffix(".smooth.onnx")
        source = smooth_model(fp32_path, targets, calibration, recipe.alpha, smoothed)
    try:
        quantize_dynamic(
            str(source),
            str(output),
            weight_type=QuantType.QInt8,
            per_channel=recipe.per_channel,
            reduce_range=recipe.reduce_range,
            op_types_to_quantize=list(recipe.op_types) if recipe.op_types else None,
            nodes_to_exclude=excluded,
            extra_options={"DefaultTensorType": 1},  # FLOAT: the type of outputs of fused (com.microsoft) ops
        )
    finally:
        if source != Path(fp32_path):
            source.unlink(missing_ok=True)
    return output, excluded


def smooth_model(
    fp32_path: str | Path, nodes: Sequence[str], calibration: Calibration, alpha: float, output: Path
) -> Path:
    """A copy of the model at ``output`` with the input activations of the MatMul ``nodes`` smoothed
    (:func:`smooth_activations`), their ranges measured by ``calibration`` on a copy with those activations
    as extra graph outputs."""
    import onnx

    model = onnx.load(str(fp32_path))
    wanted = set(nodes)
    tensors = sorted({node.input[0] for node in model.graph.node if node.name in wanted})
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    probe.graph.output.extend(
        onnx.helper.make_tensor_value_info(tensor, onnx.TensorProto.FLOAT, None) for tensor in tensors
    )
    probe_path = output.with_suffix(".calibration.onnx")
    onnx.save(probe, str(probe_path))
    del probe
    try:
        maxima = calibration(probe_path, tensors)
    finally:
        probe_path.unlink(missing_ok=True)
    smoothed = smooth_activations(model, nodes, maxima, alpha)
    logger.info("smoothed the inputs of %d MatMuls (alpha %.2f)", smoothed, alpha)
    onnx.save(model, str(output))
    return output


def smooth_activations(model, nodes: Sequence[str], maxima: dict[str, np.ndarray], alpha: float = 0.5) -> int:
    """SmoothQuant (Xiao et al., ICML 2023) on the MatMul ``nodes`` of an ONNX model, in place; returns how
    many were smoothed.

    Dynamic int8 gives each activation tensor one scale, so a few outlier channels (GELU outputs in BERT-style
    encoders) leave the rest with a handful of levels. Channel j of the input is divided by
    ``s_j = max|X_j|^alpha / max|W_j|^(1-alpha)`` (a ``Mul`` before the MatMul) and row j of the weight
    multiplied by it: the product is unchanged in exact arithmetic, and the ranges of activation and weight
    are balanced. Nodes whose weight is not an initializer of their own are left alone."""
    from onnx import helper, numpy_helper

    graph = model.graph
    initializers = {init.name: init for init in graph.initializer}
    uses: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            uses[name] = uses.get(name, 0) + 1
    wanted, rebuilt, smoothed = set(nodes), [], 0
    for node in graph.node:
        copy = type(node)()
        copy.CopyFrom(node)
        weight_name = node.input[1] if len(node.input) > 1 else ""
        if (
            node.name in wanted
            and node.op_type == "MatMul"
            and weight_name in initializers
            and uses[weight_name] == 1
            and node.input[0] in maxima
        ):
            weight = numpy_helper.to_array(initializers[weight_name])
            activation = np.asarray(maxima[node.input[0]], dtype=np.float64)
            weight_max = np.abs(weight).max(axis=1).astype(np.float64)
            scale = np.maximum(activation, 1e-5) ** alpha / np.maximum(weight_max, 1e-5) ** (1 - alpha)
            scale = np.where((activation > 0) & np.isfinite(scale) & (scale > 0), scale, 1.0)
            initializers[weight_name].CopyFrom(
                numpy_helper.from_array((weight * scale[:, None]).astype(weight.dtype), weight_name)
            )
            inverse, smoothed_input = f"{node.name}/smooth_inverse_scale", f"{node.name}/smoothed_input"
            graph.initializer.append(numpy_helper.from_array((1.0 / scale).astype(np.float32), inverse))
            inputs = [node.input[0], inverse]
            rebuilt.append(helper.make_node("Mul", inputs, [smoothed_input], name=f"{node.name}/Smooth"))
            copy.input[0] = smoothed_input
            smoothed += 1
        rebuilt.append(copy)
    del graph.node[:]
    graph.node.extend(rebuilt)
    return smoothed


def cpu_info() -> dict:
    """The CPU model and the instruction-set flags that decide int8/bf16 speed."""
    model, flags = "unknown", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and model == "unknown":
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    return {
        "cpu": model,
        "flags": {flag: flag in flags for flag in CPU_FLAGS},
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }


def parity_entry(
    backend: str, fp32: tuple[float, float], other: tuple[float, float], dataset: str, n: int, **extra
):
    delta = other[0] - fp32[0]
    return {
        "backend": backend,
        "dataset": dataset,
        "split": "dev",
        "dev_sentences": n,
        "fp32_f1": round(fp32[0], 4),
        "backend_f1": round(other[0], 4),
        "delta": round(delta, 4),
        "max_drop": MAX_F1_DROP,
        "passed": delta >= -MAX_F1_DROP,
        "speedup_vs_torch_fp32": round(fp32[1] / other[1], 2) if other[1] else None,
        **extra,
        **cpu_info(),
    }


def write_parity(model_dir: str | Path, parity: dict) -> Path:
    """Write ``onnx/parity.json`` (all backends' records)."""
    path = onnx_dir(model_dir) / PARITY_FILE
    path.write_text(json.dumps(parity, indent=2) + "\n")
    return path
