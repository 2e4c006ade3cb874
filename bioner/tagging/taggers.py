"""Taggers: anything that maps pre-tokenized sentences to one BIO tag per word.

``evaluate_ner.py`` and the training scripts score every model through this one interface, so encoders and
decoder LLMs (full models or adapters, local or on the Hub) share a single evaluation path.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from bioner.data.text import WORD_STYLE_KEY
from bioner.decoding.generative import ALL_O_DRAFT, make_decoder
from bioner.decoding.prompts import AnswerTokenizer, PromptFormat
from bioner.decoding.viterbi import DECODERS, decode_tags
from bioner.decoding.windows import word_log_probs
from bioner.models.llm import load_trained_decoder, local_model_dir
from bioner.models.onnx import BACKENDS, ONNX, ONNX_INT8, TORCH, TORCH_BF16, check_bf16, load_onnx_model
from bioner.models.registry import (
    DECODER,
    ENCODER,
    LLM_TOKEN_CLASSIFIER,
    ModelLoadError,
    load_token_classifier,
    load_tokenizer,
    model_kind,
    resolve,
)
from bioner.models.token_llm import load_trained_token_llm
from bioner.tagging.cascade import CascadeTagger, load_cascade
from bioner.tagging.ensemble import EnsembleTagger, load_ensemble
from bioner.tagging.manifests import find_manifest


@dataclass
class EncoderTagger:
    """A fine-tuned token classifier (local directory or Hub id)."""

    model: object
    tokenizer: object
    max_length: int = 512
    stride: int = 128
    batch_size: int = 64
    decoding: str = "viterbi"
    kind: str = ENCODER  # or LLM_TOKEN_CLASSIFIER: a decoder LLM read in one pass (bioner.models.token_llm)
    backend: str = TORCH  # bioner.models.onnx.BACKENDS: torch, torch-bf16 (autocast), onnx, onnx-int8
    last_seconds: float = field(default=0.0, init=False)
    _last_scores: list = field(default_factory=list, init=False, repr=False)
    _last_tags: list = field(default_factory=list, init=False, repr=False)

    @property
    def labels(self) -> list[str]:
        config = self.model.config
        return [config.id2label[i] for i in range(config.num_labels)]

    @property
    def word_style(self) -> str | None:
        """How the training corpus cut words (``bioner.data.text``), recorded by ``train_encoder.py``."""
        return getattr(self.model.config, WORD_STYLE_KEY, None)

    def __call__(self, sentences: Sequence[Sequence[str]], progress: bool = True) -> list[list[str]]:
        """Tags per word; ``last_seconds`` holds the inference time (no loading, no scoring)."""
        start = time.perf_counter()
        self._last_scores = self.word_log_probs(sentences, progress=progress)
        self._last_tags = self.redecode(self.decoding)
        self.last_seconds = time.perf_counter() - start
        return self._last_tags

    def redecode(self, decoding: str) -> list[list[str]]:
        """The last call's word scores decoded another way (``viterbi``/``argmax``), without a new forward
        pass."""
        return [decode_tags(word_scores, self.labels, decoding) for word_scores in self._last_scores]

    @property
    def last_tag_probs(self) -> list[list[float]]:
        """The probability of each tag the last call chose (computed on demand: not part of
        ``last_seconds``)."""
        index = {label: i for i, label in enumerate(self.labels)}
        return [
            [
                round(math.exp(float(row[index[tag]])), 4)
                for row, tag in zip(word_scores, sentence, strict=True)
            ]
            for word_scores, sentence in zip(self._last_scores, self._last_tags, strict=True)
        ]

    def word_log_probs(self, sentences: Sequence[Sequence[str]], progress: bool = False) -> list:
        """Per sentence, ``[words, labels]`` log-probabilities (``labels`` order): what a speculative draft
        uses."""
        if self.backend == TORCH_BF16:
            device_type = next(self.model.parameters()).device.type
            with torch.autocast(device_type, dtype=torch.bfloat16):
                return self._word_log_probs(sentences, progress)
        return self._word_log_probs(sentences, progress)

    def _word_log_probs(self, sentences: Sequence[Sequence[str]], progress: bool) -> list:
        return word_log_probs(
            self.model,
            self.tokenizer,
            sentences,
            max_length=self.max_length,
            stride=self.stride,
            batch_size=self.batch_size,
            progress=progress,
        )


@dataclass
class DecoderTagger:
    """A decoder LLM trained by ``train_decoder.py`` (full model or adapter), prompted for one tag per word.

    Instances whose prompt and answer could exceed ``max_length`` tokens (default: the model's context length)
    are split into consecutive windows of words, each decoded on its own; an ``I-X`` that would open a window
    after a non-entity is read as ``B-X`` (counted in ``last_stats``). ``draft`` (``"all-O"`` or an
    ``EncoderTagger``) feeds ``speculative`` decoding; its time is part of ``last_seconds``.
    """

    model: object
    tokenizer: object
    prompt_format: PromptFormat
    decoding: str = "constrained"
    batch_size: int = 8
    max_length: int | None = None
    autocast_dtype: object = None
    draft: object = None
    last_seconds: float = field(default=0.0, init=False)
    last_stats: dict = field(default_factory=dict, init=False)

    def __post_init__(self):
        self.answers = AnswerTokenizer(self.tokenizer, self.prompt_format)
        self.max_length = self.max_length or _context_length(self.model)

    @property
    def labels(self) -> list[str]:
        return list(self.prompt_format.labels)

    @property
    def word_style(self) -> str | None:
        """How the training corpus cut words (``bioner.data.text``), recorded by ``train_decoder.py``."""
        return self.prompt_format.extra.get(WORD_STYLE_KEY)

    def __call__(self, sentences: Sequence[Sequence[str]], progress: bool = True) -> list[list[str]]:
        """Tags per word; ``last_seconds`` is inference time, ``last_stats`` forward passes and alignment."""
        decoder = make_decoder(
            self.decoding, self.model, self.answers, self.batch_size, self.autocast_dtype, draft=self.draft
        )
        spans = [self._windows(words) for words in sentences]
        pieces = [list(sentences[i][a:b]) for i, windows in enumerate(spans) for a, b in windows]
        start = time.perf_counter()
        output = decoder(pieces, progress=progress)
        self.last_seconds = time.perf_counter() - start
        tags, passes, repairs, cursor = [], [], 0, 0
        for windows in spans:
            joined: list[str] = []
            for _ in windows:
                piece_tags = output.tags[cursor]
                if (
                    joined
                    and piece_tags
                    and piece_tags[0].startswith("I-")
                    and joined[-1][2:] != piece_tags[0][2:]
                ):
                    piece_tags = ["B-" + piece_tags[0][2:], *piece_tags[1:]]
                    repairs += 1
                joined += piece_tags
                cursor += 1
            tags.append(joined)
            passes.append(sum(output.forward_passes[cursor - len(windows) : cursor]))
        self.last_stats = {
            "decoding": self.decoding,
            "forward_passes_per_instance": round(sum(passes) / max(len(passes), 1), 2),
            "forward_passes": passes,
            "generated_tokens_per_instance": round(sum(output.generated_tokens) / max(len(sentences), 1), 2),
            "windowed_instances": sum(len(w) > 1 for w in spans),
            "window_boundary_repairs": repairs,
            "alignment": output.alignment,
        }
        if self.decoding == "speculative":
            self.last_stats.update(_draft_stats(output, spans))
        return tags

    def _windows(self, words: Sequence[str]) -> list[tuple[int, int]]:
        """Word spans whose prompt + answer fit ``max_length`` (one span when the instance fits)."""
        longest_tag = max(len(ids) for ids in self.answers.tag_ids.values())
        pieces = self.answers.word_ids(words)
        fixed = len(self.answers.final_ids())
        answer = sum(len(piece) + longest_tag for piece in pieces) + fixed
        if len(self.answers.prompt_ids(words)) + answer <= self.max_length:
            return [(0, len(words))]
        # Too long: split greedily, counting each word twice (prompt and answer) -- a safe over-estimate.
        budget = self.max_length - len(self.answers.prompt_ids([])) - fixed
        windows, start, used = [], 0, 0
        for index, piece in enumerate(pieces):
            cost = 2 * len(piece) + longest_tag
            if used + cost > budget and index > start:
                windows.append((start, index))
                start, used = index, 0
            used += cost
        windows.append((start, len(words)))
        return windows


def _draft_stats(output, spans: list[list[tuple[int, int]]]) -> dict:
    """How far the draft was from the decoder's answer, and what checking it cost, per instance.

    Per instance, ``forward_passes == windows + corrections - final_corrections`` (a correction of a window's
    last decision needs no further pass).
    """
    corrections, finals, cursor = [], [], 0
    for windows in spans:
        corrections.append(sum(output.corrections[cursor : cursor + len(windows)]))
        finals.append(sum(output.final_corrections[cursor : cursor + len(windows)]))
        cursor += len(windows)
    words = sum(len(tags) for tags in output.tags)
    agreeing = sum(
        d == t
        for draft, tags in zip(output.drafts, output.tags, strict=True)
        for d, t in zip(draft, tags, strict=True)
    )
    return {
        "corrections": corrections,
        "final_corrections": finals,
        "windows": [len(windows) for windows in spans],
        "corrections_per_instance": round(sum(corrections) / max(len(corrections), 1), 3),
        "draft_agreeing_tags": agreeing,
        "draft_tags": words,
        "draft_tag_agreement": round(agreeing / max(words, 1), 4),
        "draft_seconds": round(output.draft_seconds, 4),
    }


def _context_length(model) -> int:
    config = getattr(model, "config", None)
    return int(getattr(config, "max_position_embeddings", None) or 2048)


def load_tagger(
    name_or_path: str, **options
) -> EncoderTagger | DecoderTagger | EnsembleTagger | CascadeTagger:
    """Load a trained model as a tagger; ``options`` are the tagger's fields (max_length, decoding, ...).

    ``bio_decoding`` (``--bio_decoding``: viterbi/argmax) is how an encoder turns word scores into tags;
    ``decoding`` (``--decoding``: constrained/speculative/free) is how a decoder LLM answers. One call can
    carry
    both; each kind reads its own and ignores the other. The keywords of older callers still work, with a
    FutureWarning: ``llm_decoding=`` (now ``decoding=``) and ``decoding="viterbi"/"argmax"`` (now
    ``bio_decoding=``).

    Decoders (a ``train_decoder.py`` output dir or Hub repo, adapter or full model) accept ``decoding``,
    ``draft_model`` (``speculative``: an encoder dir/Hub id, or ``"all-O"``), ``batch_size``, ``max_length``,
    ``dtype``, ``load_in_4bit`` and ``autocast_dtype`` (each defaulting to how the model was trained;
    ``autocast_dtype="none"`` turns mixed precision off); encoders take the ``EncoderTagger`` fields
    (``bio_decoding`` sets their ``decoding`` field). ``device`` (default: CUDA when available) places either.

    An ensemble or cascade manifest folder (or Hub repo; ``bioner.tagging.manifests``) loads each of its
    taggers with these same options.
    """
    path = resolve(name_or_path).path
    manifest = find_manifest(path)
    if manifest is not None:
        loader = load_ensemble if manifest.kind == "ensemble" else load_cascade
        return loader(manifest, load_tagger, options)
    kind = model_kind(path)
    bio_decoding, decoding = _decoding_options(options)
    device = _device(options.pop("device", None))
    draft_model = options.pop("draft_model", None)
    backend = options.pop("backend", None) or TORCH
    if backend not in BACKENDS:
        raise ModelLoadError(f"unknown backend {backend!r}; one of {', '.join(BACKENDS)}")
    if kind == DECODER and backend != TORCH:
        raise ModelLoadError(
            f"--backend {backend} is for token classifiers (encoders, LLM token classifiers); "
            f"'{name_or_path}' is a generative decoder, which runs on PyTorch only (--bf16 and --load_in_4bit"
            " set its precision)"
        )
    if backend == TORCH_BF16:
        check_bf16(device)
    if backend in (ONNX, ONNX_INT8) and device.type != "cpu":
        device = torch.device("cpu")  # ONNX Runtime's CPU provider: inputs stay on the CPU
    if kind == DECODER:
        if decoding is not None:
            options["decoding"] = decoding
        return _load_decoder_tagger(path, options, device, draft_model)
    options["backend"] = backend
    if bio_decoding is not None:
        options["decoding"] = bio_decoding  # the EncoderTagger field
    if draft_model is not None:
        raise ModelLoadError(f"--draft_model is for decoder LLMs; '{name_or_path}' is an encoder")
    token_llm_options = {key: options.pop(key, None) for key in ("dtype", "load_in_4bit")}
    options.pop("autocast_dtype", None)
    if options.get("max_length") is None:
        options["max_length"] = 512
    if kind == LLM_TOKEN_CLASSIFIER:
        model, tokenizer = load_trained_token_llm(local_model_dir(path), **token_llm_options)
        if backend in (ONNX, ONNX_INT8):
            model = load_onnx_model(path, backend, model.config)
        elif not _is_quantized(model):
            model.to(device)
        return EncoderTagger(model=model, tokenizer=tokenizer, kind=LLM_TOKEN_CLASSIFIER, **options)
    if backend in (ONNX, ONNX_INT8):  # the config for the labels; the ONNX file for the forward pass
        from transformers import AutoConfig

        model = load_onnx_model(path, backend, AutoConfig.from_pretrained(path))
    else:
        model = load_token_classifier(path)
    if not getattr(model.config, "id2label", None) or _has_default_labels(model.config.id2label):
        raise ModelLoadError(
            f"'{name_or_path}' has no NER label names in its config (id2label ="
            f" {json.dumps(model.config.id2label)});"
            " pass a model trained with train_encoder.py"
        )
    model.to(device).eval()
    return EncoderTagger(model=model, tokenizer=load_tokenizer(path), **options)


def _decoding_options(options: dict) -> tuple[str | None, str | None]:
    """``(bio_decoding, decoding)`` taken out of ``options``, the deprecated keywords mapped
    (`load_tagger`)."""
    bio_decoding, decoding = options.pop("bio_decoding", None), options.pop("decoding", None)
    if decoding in DECODERS:
        warnings.warn(
            f"load_tagger(decoding={decoding!r}) is deprecated: pass bio_decoding={decoding!r} (an encoder's"
            " choice); decoding= is the decoder LLMs' constrained/speculative/free",
            FutureWarning,
            stacklevel=3,
        )
        bio_decoding, decoding = bio_decoding or decoding, None
    llm_decoding = options.pop("llm_decoding", None)
    if llm_decoding is not None:
        warnings.warn(
            "load_tagger(llm_decoding=...) is deprecated: pass decoding=...", FutureWarning, stacklevel=3
        )
        decoding = llm_decoding
    return bio_decoding, decoding


def _device(device: str | None) -> torch.device:
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _load_decoder_tagger(path: str, options: dict, device: torch.device, draft_model: str | None):
    decoding = options.pop("decoding", "constrained")
    if decoding != "speculative" and draft_model is not None:
        raise ModelLoadError("--draft_model is only used by --decoding speculative")
    load_in_4bit = options.pop("load_in_4bit", None)
    model, tokenizer, prompt_format = load_trained_decoder(
        path, dtype=options.pop("dtype", None), load_in_4bit=load_in_4bit
    )
    if not _is_quantized(model):  # bitsandbytes models are placed at load (device_map)
        model.to(device)
    autocast = options.pop("autocast_dtype", "as-trained")
    if autocast == "as-trained":  # training's mixed precision, recorded in bioner_decoder.json
        autocast = prompt_format.extra.get("autocast")
    if isinstance(autocast, str):
        autocast = None if autocast == "none" else getattr(torch, autocast)
    options["autocast_dtype"] = autocast
    options.pop("stride", None)
    if decoding == "speculative":
        options["draft"] = _load_draft(draft_model or ALL_O_DRAFT, device)
    return DecoderTagger(model, tokenizer, prompt_format, decoding=decoding, **options)


def _load_draft(draft_model: str, device: torch.device) -> str | EncoderTagger:
    """The draft for speculative decoding: ``"all-O"`` or an encoder tagger (Viterbi, so drafts are valid
    BIO)."""
    if draft_model == ALL_O_DRAFT:
        return ALL_O_DRAFT
    draft = load_tagger(draft_model, device=str(device))
    if not isinstance(draft, EncoderTagger):
        raise ModelLoadError(f"--draft_model '{draft_model}' is a decoder; the draft must be an encoder")
    # An LLM token classifier also works as a draft (it scores every word in one pass), at an LLM's cost.
    return draft


def _is_quantized(model) -> bool:
    return bool(getattr(getattr(model, "config", None), "quantization_config", None))


def _has_default_labels(id2label: dict) -> bool:
    return all(str(label).startswith("LABEL_") for label in id2label.values())
