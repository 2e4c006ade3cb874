"""Command-line arguments shared by the training scripts (parsed by ``HfArgumentParser``/``TrlParser``)."""

from __future__ import annotations

from dataclasses import dataclass, field

import datasets

from bioner.bio import DECODERS
from bioner.data import load_run_dataset
from bioner.decoding import DECODING_MODES


@dataclass
class CorpusArguments:
    dataset: str = field(
        default="demo", metadata={"help": "Registered name, data directory or Hub dataset id."}
    )
    data_dir: str | None = field(
        default=None, metadata={"help": "Folder of registered datasets (env BIONER_DATA_DIR)."}
    )
    strict_bio: bool = field(
        default=False, metadata={"help": "Fail on IOB1-style tags instead of repairing them."}
    )
    max_train_samples: int | None = field(
        default=None, metadata={"help": "Use only the first N training instances."}
    )
    max_eval_samples: int | None = field(
        default=None, metadata={"help": "Use only the first N dev/test instances."}
    )
    early_stopping_patience: int = field(
        default=3, metadata={"help": "Evaluations without dev improvement before stopping."}
    )

    def load(self) -> datasets.DatasetDict:
        """The corpus (train/validation/test), optionally cut to its first instances."""
        return load_run_dataset(
            self.dataset,
            self.data_dir,
            strict_bio=self.strict_bio,
            max_train_samples=self.max_train_samples,
            max_eval_samples=self.max_eval_samples,
        )


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

    def load(self, model: str, device: str | None = None):
        """The tagger for ``model`` (dir or Hub id) with these settings; ``device`` defaults to CUDA if any."""
        from bioner.taggers import load_tagger

        return load_tagger(
            model,
            device=device,
            max_length=self.max_seq_length,
            stride=self.stride,
            batch_size=self.batch_size,
            decoding=self.bio_decoding,
            llm_decoding=self.decoding,
            draft_model=self.draft_model,
            dtype=self.dtype,
            load_in_4bit=self.load_in_4bit,
            autocast_dtype={None: "as-trained", True: "bfloat16", False: "none"}[self.bf16],
        )
