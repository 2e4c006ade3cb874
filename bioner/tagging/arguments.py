"""How a trained model is loaded and run for prediction: the arguments shared by ``evaluate_ner.py``,
``tag.py`` and ``benchmark_latency.py``."""

from __future__ import annotations

from dataclasses import dataclass, field

from bioner.decoding.generative import DECODING_MODES
from bioner.decoding.viterbi import DECODERS
from bioner.models.errors import ModelLoadError
from bioner.models.onnx import BACKENDS, TORCH
from bioner.tagging.cascade import CONFIDENCES, MIN_PROB, CascadeTagger
from bioner.tagging.taggers import load_tagger


@dataclass
class TaggerArguments:
    """How a trained model is loaded and run for prediction (``evaluate_ner.py``, ``tag.py``)."""

    batch_size: int = field(default=64, metadata={"help": "Instances per forward pass."})
    max_seq_length: int | None = field(
        default=None,
        metadata={
            "help": "Tokens per window; longer instances are windowed (default: 512 for encoders, the length"
            " a decoder was trained with)."
        },
    )
    stride: int = field(default=128, metadata={"help": "Sub-words shared by consecutive windows."})
    bio_decoding: str = field(
        default="viterbi", metadata={"help": f"Encoders: how word scores become tags: {DECODERS}."}
    )
    decoding: str = field(
        default="constrained",
        metadata={
            "help": f"Decoder LLMs: {DECODING_MODES} (greedy always; speculative gives constrained's tags in"
            " fewer passes)."
        },
    )
    draft_model: str | None = field(
        default=None,
        metadata={
            "aliases": ["--draft"],
            "help": "--decoding speculative: the draft, an encoder trained on the same labels (dir or Hub id)"
            " or 'all-O' (default).",
        },
    )
    load_in_4bit: bool | None = field(
        default=None,
        metadata={"help": "Decoder LLMs: load the base model in 4-bit NF4 (default: as in training)."},
    )
    dtype: str | None = field(
        default=None,
        metadata={"help": "Decoder LLMs: weights dtype (float32, bfloat16; default: as in training)."},
    )
    bf16: bool | None = field(
        default=None,
        metadata={
            "help": "Decoder LLMs: bfloat16 autocast on (true) or off (false); default: as in training."
        },
    )
    backend: str = field(
        default=TORCH,
        metadata={
            "help": f"Token classifiers: how the forward pass runs, one of {', '.join(BACKENDS)}. onnx and"
            " onnx-int8 need the model's onnx/ folder (python -m bioner.evaluation.backends MODEL --int8);"
            " torch-bf16 needs a CPU with AVX512-BF16/AMX."
        },
    )

    cascade_to: str | None = field(
        default=None,
        metadata={
            "help": "Confidence cascade: a larger tagger (dir, Hub id, ensemble folder, generative LLM) that"
            " re-tags the sentences --model is least sure of; route with --cascade_threshold or"
            " --cascade_fraction (docs/ensembles.md). --model must be a token classifier or an ensemble."
        },
    )
    cascade_threshold: float | None = field(
        default=None,
        metadata={
            "help": "With --cascade_to: sentences whose confidence (--cascade_confidence) is below this go to"
            " the larger tagger, e.g. 0.9."
        },
    )
    cascade_fraction: float | None = field(
        default=None,
        metadata={
            "help": "With --cascade_to: the lowest-confidence fraction of each call's sentences goes to the"
            " larger tagger, e.g. 0.2 (batch-dependent: prefer --cascade_threshold for small batches)."
        },
    )
    cascade_confidence: str = field(
        default=MIN_PROB,
        metadata={
            "help": f"With --cascade_to: {' or '.join(CONFIDENCES)}: a sentence's lowest best-tag"
            " probability, or its lowest best-minus-second probability, over its words."
        },
    )
    cascade_temperature: float = field(
        default=1.0,
        metadata={
            "help": "With --cascade_to: divide the small model's scores by this before the confidence."
        },
    )
    cascade_span_radius: int | None = field(
        default=None,
        metadata={
            "help": "With --cascade_to and --cascade_threshold: span routing. The larger tagger reads only"
            " windows around the words under the threshold (this many words either side of each, plus"
            " --cascade_span_context), not whole sentences (docs/ensembles.md)."
        },
    )
    cascade_span_context: int = field(
        default=8,
        metadata={"help": "With --cascade_span_radius: words of context either side of a window's core."},
    )

    def cascade_identity(self) -> dict:
        """The cascade settings that make an evaluation another one than its small model's (empty: none)."""
        if self.cascade_to is None:
            return {}
        keys = (
            "cascade_to",
            "cascade_threshold",
            "cascade_fraction",
            "cascade_confidence",
            "cascade_temperature",
        )
        identity = {key: getattr(self, key) for key in keys}
        if self.cascade_span_radius is not None:  # absent otherwise: earlier runs keep their identity
            identity.update(
                cascade_span_radius=self.cascade_span_radius, cascade_span_context=self.cascade_span_context
            )
        return identity

    def load(self, model: str, device: str | None = None):
        """The tagger for ``model`` (dir or Hub id) with these settings; ``device`` defaults to CUDA if
        any. With ``cascade_to``, a :class:`CascadeTagger` from ``model`` to it."""
        routed = self.cascade_threshold is not None or self.cascade_fraction is not None
        if self.cascade_to is None:
            if routed or self.cascade_span_radius is not None:
                raise ModelLoadError(
                    "--cascade_threshold/--cascade_fraction/--cascade_span_radius need --cascade_to"
                    " LARGE_MODEL"
                )
            return self._load(model, device)
        if self.cascade_threshold is not None and self.cascade_fraction is not None:
            raise ModelLoadError("pass one of --cascade_threshold or --cascade_fraction, not both")
        if not routed:
            raise ModelLoadError("--cascade_to needs --cascade_threshold or --cascade_fraction")
        return CascadeTagger(
            self._load(model, device),
            self._load(self.cascade_to, device),
            threshold=self.cascade_threshold,
            fraction=self.cascade_fraction,
            confidence=self.cascade_confidence,
            temperature=self.cascade_temperature,
            span_radius=self.cascade_span_radius,
            span_context=self.cascade_span_context,
            names=(model, self.cascade_to),
        )

    def _load(self, model: str, device: str | None):
        return load_tagger(
            model,
            device=device,
            max_length=self.max_seq_length,
            stride=self.stride,
            batch_size=self.batch_size,
            bio_decoding=self.bio_decoding,
            decoding=self.decoding,
            draft_model=self.draft_model,
            dtype=self.dtype,
            load_in_4bit=self.load_in_4bit,
            autocast_dtype={None: "as-trained", True: "bfloat16", False: "none"}[self.bf16],
            backend=self.backend,
        )
