"""Command-line arguments shared by the training scripts (parsed by ``HfArgumentParser``/``TrlParser``)."""

from __future__ import annotations

from dataclasses import dataclass, field

import datasets

from bioner.corpora.sources import load_run_dataset


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
    keep_checkpoints: bool = field(
        default=False,
        metadata={
            "help": "Keep the checkpoint-* folders (optimizer state and a second copy of the weights) after a"
            " finished run; by default only the final (best) model is left in --output_dir."
        },
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
