"""How a trained model is loaded and run for prediction: the arguments shared by ``evaluate_ner.py``,
``tag.py`` and ``benchmark_latency.py``."""

from __future__ import annotations

from dataclasses import dataclass, field

from bioner.decoding.generative import DECODING_MODES
from bioner.decoding.viterbi import DECODERS
from bioner.models.onnx import BACKENDS, TORCH
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

    def load(self, model: str, device: str | None = None):
        """The tagger for ``model`` (dir or Hub id) with these settings; ``device`` defaults to CUDA if
        any."""
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
