#!/usr/bin/env python
"""Reproduce the seed study in one command: the hyper-parameter grid, the best run per cell, Tables III-V.

Methods (the seed's grid, as defaults): encoders at lr 1e-5/2e-5/3e-5 with batch sizes 4/8/16/32 (the seed
"ranged from 4 to 32"), 20 epochs, early stopping after 3 epochs without a better dev strict F1, 512
sub-words; decoder LLMs at lr 2e-5/4e-5 with batch 32, 20 epochs, patience 3, max length from the data capped
at 2048. Each (dataset, model) cell keeps the run with the best dev strict F1 and reports its test scores.

    python reproduce.py --datasets bc5cdr jnlpba --models biomedbert-large deberta-v3-large mistral llama \\
        --extra_encoder_args "--bf16" --launcher "accelerate launch --num_processes 2" --latency
    python reproduce.py --datasets demo --models minilm smollm2 --dry_run      # print the commands
    python reproduce.py --output_dir runs/reproduce --collect_only             # tables from finished runs

Every run is a subprocess (``--launcher``) writing to ``<output_dir>/<dataset>/<model>/lr<lr>-bs<bs>`` (its
log in ``train.log``); finished runs are skipped, interrupted ones resume from their last checkpoint, failed
ones are reported and the grid goes on (exit status 1 at the end). Writes ``tables.md`` (Tables III, V and IV
and every run), ``summary.json``, ``f1_by_length_<dataset>.png`` and ``time_vs_f1.png`` to ``--output_dir``.
Tables I and II (the corpora) come from ``prepare_datasets.py``.
"""

from __future__ import annotations

import sys

from transformers import HfArgumentParser

from bioner.grid.runs import COMMAND_LINE_OPTIONS, GridArguments
from bioner.grid.runs import main as run


def glue_command_lines(argv: list[str]) -> list[str]:
    """``--extra_encoder_args --use_cpu`` as ``--extra_encoder_args=--use_cpu``: a value that is itself a
    command line may start with ``--``, which argparse would otherwise read as an option of its own."""
    glued, index = [], 0
    while index < len(argv):
        if argv[index] in COMMAND_LINE_OPTIONS and index + 1 < len(argv):
            glued.append(f"{argv[index]}={argv[index + 1]}")
            index += 2
        else:
            glued.append(argv[index])
            index += 1
    return glued


def parse_args(argv: list[str] | None = None) -> GridArguments:
    argv = sys.argv[1:] if argv is None else argv
    parser = HfArgumentParser(GridArguments)
    if len(argv) == 1 and argv[0].endswith((".json", ".yaml", ".yml")):
        (args,) = (
            parser.parse_json_file(argv[0]) if argv[0].endswith(".json") else parser.parse_yaml_file(argv[0])
        )
    else:
        (args,) = parser.parse_args_into_dataclasses(args=glue_command_lines(argv))
    return args


def main(argv: list[str] | None = None) -> int:
    return run(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
