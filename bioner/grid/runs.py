"""The seed study's hyper-parameter grid, run (``reproduce.py``): its arguments, each model classified as
encoder or decoder, and every (dataset, model, learning rate, batch size) as a training subprocess in its own
run directory (finished runs skipped, interrupted ones resumed), then ``benchmark_latency.py`` on each cell's
best model.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bioner.corpora.sources import check_dataset
from bioner.data.files import DataFormatError
from bioner.data.registry import HUB_ID_RE, REGISTERED_DATASETS
from bioner.grid.tables import (
    DECODER,
    ENCODER,
    RUN_FILE,
    TOKCLS,
    TOKCLS_PREFIX,
    Collection,
    collect,
    dataset_slug,
    kind_rank,
    latency_rows,
    read_json,
    run_status,
    write_json,
    write_tables,
)
from bioner.models.registry import aliases, find_alias, model_kind

SCRIPTS = {ENCODER: "train_encoder", DECODER: "train_decoder", TOKCLS: "train_encoder"}
"""Run kind -> the top-level script (a module of a checkout, or installed with ``pip install .``) that trains
it."""
RUN_LOG = "train.log"
CHECKPOINT_RE = re.compile(r"checkpoint-(\d+)")
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")
# Options whose value is itself a command line: "--extra_encoder_args --use_cpu" must not read --use_cpu as an
# option of reproduce.py, so reproduce.py glues such values to their flag ("--extra_encoder_args=--use_cpu").
COMMAND_LINE_OPTIONS = (
    "--launcher",
    "--decoder_launcher",
    "--extra_encoder_args",
    "--extra_decoder_args",
    "--extra_tokcls_args",
    "--extra_latency_args",
)


@dataclass
class GridArguments:
    datasets: list[str] = field(
        default_factory=list,
        metadata={"help": f"Registered names ({', '.join(REGISTERED_DATASETS)}), data folders or Hub ids."},
    )
    models: list[str] = field(
        default_factory=list,
        metadata={
            "help": f"Encoder aliases ({', '.join(aliases(ENCODER))}),"
            f" decoder aliases ({', '.join(aliases(DECODER))}),"
            " local model dirs or Hub ids (classified by their config; prefix 'encoder:' or 'decoder:' to"
            " force); 'tokcls:NAME' trains a decoder LLM as a one-pass token classifier (train_encoder.py)."
        },
    )
    encoder_learning_rates: list[float] = field(
        default_factory=lambda: [1e-5, 2e-5, 3e-5], metadata={"help": "Encoder grid (the seed's)."}
    )
    encoder_batch_sizes: list[int] = field(
        default_factory=lambda: [4, 8, 16, 32],
        metadata={"help": "Encoder per-device batch sizes (the seed searched 4 to 32)."},
    )
    decoder_learning_rates: list[float] = field(
        default_factory=lambda: [2e-5, 4e-5], metadata={"help": "Decoder grid (the seed's)."}
    )
    decoder_batch_sizes: list[int] = field(
        default_factory=lambda: [32],
        metadata={
            "aliases": ["--decoder_batch_size"],
            "help": "Decoder effective batch sizes (train_decoder.py --effective_batch_size; the seed's 32).",
        },
    )
    tokcls_learning_rates: list[float] = field(
        default_factory=lambda: [5e-5, 1e-4],
        metadata={"help": "Grid of decoder LLMs trained as token classifiers ('tokcls:' models)."},
    )
    tokcls_batch_sizes: list[int] = field(
        default_factory=lambda: [16], metadata={"help": "Their per-device batch sizes."}
    )
    num_train_epochs: float = field(
        default=20, metadata={"help": "Epochs at most (early stopping may end sooner)."}
    )
    early_stopping_patience: int = field(default=3, metadata={"help": "Epochs without dev improvement."})
    encoder_max_seq_length: int = field(default=512, metadata={"help": "Encoder sub-words per window."})
    decoder_max_length: int = field(
        default=2048,
        metadata={"help": "Decoder cap on prompt + answer tokens (the length comes from the data)."},
    )
    output_dir: str = field(
        default="runs/reproduce", metadata={"help": "Root of every run, tables and plots."}
    )
    data_dir: str | None = field(
        default=None, metadata={"help": "Folder of registered datasets (default: env BIONER_DATA_DIR)."}
    )
    launcher: str = field(
        default="",
        metadata={
            "help": "Command that starts a training script (default: this Python), e.g. 'accelerate launch'."
        },
    )
    decoder_launcher: str | None = field(
        default=None, metadata={"help": "Launcher for decoder runs only (default: --launcher)."}
    )
    extra_encoder_args: str = field(
        default="", metadata={"help": "More train_encoder.py arguments, one string."}
    )
    extra_decoder_args: str = field(
        default="", metadata={"help": "More train_decoder.py arguments, one string."}
    )
    latency: bool = field(
        default=False,
        metadata={"help": "Time the best model of every cell with benchmark_latency.py (Table IV)."},
    )
    latency_max_instances: int | None = field(
        default=None, metadata={"help": "Time the first N test instances (default: all, as the seed)."}
    )
    latency_batch_sizes: str = field(default="1", metadata={"help": "Comma-separated batch sizes to time."})
    decodings: str = field(
        default="constrained",
        metadata={"help": "Decoder modes to time, comma-separated (free, constrained, ...)."},
    )
    extra_tokcls_args: str = field(
        default="",
        metadata={
            "help": "More train_encoder.py arguments for 'tokcls:' models (e.g. '--use_peft --load_in_4bit'),"
            " after --extra_encoder_args."
        },
    )
    extra_latency_args: str = field(default="", metadata={"help": "More benchmark_latency.py arguments."})
    keep_checkpoints: bool = field(
        default=False,
        metadata={"help": "Keep checkpoint-* dirs of finished runs (the final model is kept anyway)."},
    )
    prune_non_best: bool = field(
        default=False,
        metadata={"help": "Delete model weights of finished runs that are not their cell's best."},
    )
    dry_run: bool = field(
        default=False, metadata={"help": "Print each run's status and command; run nothing."}
    )
    collect_only: bool = field(
        default=False, metadata={"help": "Only build the tables from the runs already under --output_dir."}
    )


class GridError(ValueError):
    """A grid argument is wrong; the message names it."""


@dataclass(frozen=True)
class ModelSpec:
    name: str  # what the training script gets: an alias, a local directory or a Hub id
    slug: str  # its name in run directories and tables
    kind: str  # encoder or decoder


@dataclass
class GridRun:
    dataset: str
    model: ModelSpec
    learning_rate: float
    batch_size: int
    run_dir: Path


# ---------------------------------------------------------------------------------------------- arguments


def script_path(module: str) -> Path:
    """The file of a top-level script (``train_encoder``, ...), found by the import system, not by path
    arithmetic: the checkout on ``sys.path`` (``reproduce.py`` puts it there), or the scripts ``pip install
    .`` installed."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise SystemExit(
            f"error: cannot find the script {module}.py: run reproduce.py from a bioner checkout, or install"
            " the project with `pip install .`"
        )
    return Path(spec.origin)


def classify_model(name: str) -> ModelSpec:
    """An encoder or decoder base model: an alias, a local directory or a Hub id (kind read from
    config.json)."""
    forced, _, rest = name.partition(":")
    if forced == TOKCLS_PREFIX and rest:
        return _token_classifier_spec(rest)
    if forced in (ENCODER, DECODER) and rest:
        name = rest
    else:
        forced = None
    key = name.lower()
    alias = find_alias(key)
    if alias is not None:
        if forced not in (None, alias.kind):
            raise GridError(f"--models {name}: {name!r} is an alias of kind {alias.kind}, not {forced}")
        return ModelSpec(key, key, alias.kind)
    path = Path(name)
    if path.is_dir():
        path = path.resolve()
        return ModelSpec(str(path), path.name, forced or _local_kind(path))
    if HUB_ID_RE.fullmatch(name):
        return ModelSpec(name, name.replace("/", "--"), forced or _hub_kind(name))
    raise GridError(
        f"--models: unknown model {name!r}: not an encoder alias ({', '.join(aliases(ENCODER))}), not a"
        f" decoder alias ({', '.join(aliases(DECODER))}), not an existing directory and not a Hub id"
        " (org/name)"
    )


def _token_classifier_spec(name: str) -> ModelSpec:
    """A decoder LLM to train as a token classifier: its slug gets ``-tokcls`` so it can sit beside the same
    model trained as a generative tagger."""
    spec = classify_model(name)
    if spec.kind != DECODER:
        raise GridError(f"--models {TOKCLS_PREFIX}:{name}: '{name}' is an {spec.kind}, not a decoder LLM")
    return ModelSpec(spec.name, f"{spec.slug}-tokcls", TOKCLS)


def _local_kind(path: Path) -> str:
    return _trained_by(model_kind(str(path)), f"--models {path}: no config.json with a model_type there")


def _hub_kind(name: str) -> str:
    return _trained_by(model_kind(name), f"--models {name}: cannot read its config.json from the Hub")


def _trained_by(kind: str | None, cannot_tell: str) -> str:
    """The grid kind of a model kind (bioner.models.registry.model_kind): anything that is a decoder LLM is
    trained by train_decoder.py."""
    if kind is None:  # no config, offline, unknown repo, gated: all mean "cannot tell"
        raise GridError(
            f"{cannot_tell}; prefix it with 'encoder:' or 'decoder:' to say which script trains it"
        )
    return ENCODER if kind == ENCODER else DECODER


def run_name(learning_rate: float, batch_size: int) -> str:
    return f"lr{learning_rate:g}-bs{batch_size}"


def validate(args: GridArguments) -> list[ModelSpec]:
    """Check every grid argument before anything runs; the models, classified."""
    if not args.datasets:
        raise GridError("--datasets: pass at least one dataset (e.g. --datasets bc5cdr jnlpba)")
    if not args.models:
        raise GridError("--models: pass at least one model (e.g. --models biomedbert-large mistral)")
    for name in (
        "encoder_learning_rates",
        "decoder_learning_rates",
        "tokcls_learning_rates",
        "encoder_batch_sizes",
        "decoder_batch_sizes",
        "tokcls_batch_sizes",
    ):
        values = getattr(args, name)
        if not values or any(value <= 0 for value in values):
            raise GridError(f"--{name}: expected positive values, got {values}")
    for dataset in args.datasets:
        try:
            check_dataset(dataset, args.data_dir)
        except DataFormatError as error:
            raise GridError(f"--datasets {dataset}: {error}") from None
    specs = [classify_model(name) for name in args.models]
    for names, what in (
        ([s.slug for s in specs], "--models"),
        ([dataset_slug(d) for d in args.datasets], "--datasets"),
    ):
        repeated = sorted({slug for slug in names if names.count(slug) > 1})
        if repeated:
            raise GridError(f"{what}: {', '.join(repeated)} named twice (run directories would collide)")
    return specs


def plan(args: GridArguments, specs: list[ModelSpec]) -> list[GridRun]:
    """Every run of the grid, dataset by dataset, model by model, learning rate, then batch size."""
    runs = []
    for dataset in args.datasets:
        for spec in specs:
            if spec.kind == ENCODER:
                rates, sizes = args.encoder_learning_rates, args.encoder_batch_sizes
            elif spec.kind == TOKCLS:
                rates, sizes = args.tokcls_learning_rates, args.tokcls_batch_sizes
            else:
                rates, sizes = args.decoder_learning_rates, args.decoder_batch_sizes
            for rate in rates:
                for size in sizes:
                    run_dir = (
                        Path(args.output_dir).resolve()
                        / dataset_slug(dataset)
                        / spec.slug
                        / run_name(rate, size)
                    )
                    runs.append(GridRun(dataset, spec, rate, size, run_dir))
    return runs


# ---------------------------------------------------------------------------------------------- runs


def last_checkpoint(run_dir: Path) -> Path | None:
    """The newest ``checkpoint-N`` with a ``trainer_state.json`` (one cut short while saving is passed
    over)."""
    if not run_dir.is_dir():
        return None
    found = [
        (int(m.group(1)), p)
        for p in run_dir.iterdir()
        if (m := CHECKPOINT_RE.fullmatch(p.name)) and p.is_dir()
    ]
    for _, path in sorted(found, reverse=True):
        if (path / "trainer_state.json").is_file():
            return path
    return None


def training_command(run: GridRun, args: GridArguments) -> list[str]:
    """The launcher, the training script and its arguments (``--extra_*_args`` last, so they win)."""
    kind = run.model.kind
    launcher = args.decoder_launcher if kind == DECODER and args.decoder_launcher else args.launcher
    command = [*(shlex.split(launcher) or [sys.executable]), str(script_path(SCRIPTS[kind]))]
    command += ["--dataset", run.dataset, "--model_name_or_path", run.model.name]
    command += [
        "--learning_rate",
        f"{run.learning_rate:g}",
        "--num_train_epochs",
        f"{args.num_train_epochs:g}",
    ]
    command += [
        "--early_stopping_patience",
        str(args.early_stopping_patience),
        "--output_dir",
        str(run.run_dir),
    ]
    if args.data_dir:
        command += ["--data_dir", args.data_dir]
    if kind in (ENCODER, TOKCLS):
        command += ["--per_device_train_batch_size", str(run.batch_size)]
        command += ["--max_seq_length", str(args.encoder_max_seq_length)]
        command += shlex.split(args.extra_encoder_args)
        if kind == TOKCLS:
            command += shlex.split(args.extra_tokcls_args)
    else:
        command += [
            "--effective_batch_size",
            str(run.batch_size),
            "--max_length",
            str(args.decoder_max_length),
        ]
        command += shlex.split(args.extra_decoder_args)
    checkpoint = last_checkpoint(run.run_dir)
    if checkpoint is not None:
        command += ["--resume_from_checkpoint", str(checkpoint)]
    return command


def execute(run: GridRun, command: list[str]) -> tuple[int, float]:
    """Run one training command, its output appended to ``<run_dir>/train.log``; exit status and seconds.

    ``grid_run.json`` records the command and how it ended. A run that exits 0 without a complete
    ``results.json`` (e.g. ``--evaluate false``) counts as failed."""
    run.run_dir.mkdir(parents=True, exist_ok=True)
    record = {
        "dataset": run.dataset,
        "model": run.model.slug,
        "model_name_or_path": run.model.name,
        "kind": run.model.kind,
        "learning_rate": run.learning_rate,
        "batch_size": run.batch_size,
        "command": command,
        "status": "running",
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    write_json(run.run_dir / RUN_FILE, record)
    start = time.perf_counter()
    returncode = _logged(command, run.run_dir / RUN_LOG)
    seconds = time.perf_counter() - start
    if returncode == 0 and run_status(run.run_dir) != "finished":
        returncode = -1
    record.update(
        status="finished" if returncode == 0 else "failed", returncode=returncode, seconds=round(seconds, 1)
    )
    write_json(run.run_dir / RUN_FILE, record)
    return returncode, seconds


def _logged(command: list[str], log_path: Path) -> int:
    """Run ``command`` with stdout and stderr appended to ``log_path``; its exit status (127: not started)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(f"=== {time.strftime('%Y-%m-%d %H:%M:%S')} {shlex.join(command)}\n")
        log.flush()
        try:
            return subprocess.run(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
            ).returncode
        except OSError as error:
            log.write(f"cannot start the command: {error}\n")
            return 127


def _remove_checkpoints(run_dir: Path) -> None:
    for path in run_dir.iterdir():
        if CHECKPOINT_RE.fullmatch(path.name) and path.is_dir():
            shutil.rmtree(path)


def prune_non_best(collection: Collection) -> list[Path]:
    """Delete checkpoints and model weights of finished runs that are not their cell's best; the dirs
    pruned."""
    pruned = []
    for record in collection.runs:
        if record.status != "finished" or record.chosen:
            continue
        weights = [p for p in record.run_dir.iterdir() if p.is_file() and p.name.endswith(WEIGHT_SUFFIXES)]
        checkpoints = [p for p in record.run_dir.iterdir() if CHECKPOINT_RE.fullmatch(p.name)]
        if weights or checkpoints:
            for path in weights:
                path.unlink()
            _remove_checkpoints(record.run_dir)
            pruned.append(record.run_dir)
    return pruned


def run_grid(runs: list[GridRun], args: GridArguments) -> list[str]:
    """Run every unfinished run; one line per run on stdout; the failures, described."""
    failures = []
    for index, run in enumerate(runs, start=1):
        label = f"[{index}/{len(runs)}] {dataset_slug(run.dataset)} / {run.model.slug} / {run.run_dir.name}"
        status = run_status(run.run_dir)
        if status == "finished":
            print(f"{label}: skip (finished)", flush=True)
            continue
        command = training_command(run, args)
        checkpoint = last_checkpoint(run.run_dir)
        how = (
            f"resume from {checkpoint.name}"
            if checkpoint
            else "run"
            if status == "pending"
            else f"rerun ({status})"
        )
        print(f"{label}: {how}, log {run.run_dir / RUN_LOG}", flush=True)
        returncode, seconds = execute(run, command)
        if returncode == 0:
            results = read_json(run.run_dir / "results.json")
            print(
                f"{label}: done in {seconds:.0f} s, dev strict F1 {results['dev']['strict']['f1']:.4f},"
                f" test strict F1 {results['test']['strict']['f1']:.4f}",
                flush=True,
            )
            if not args.keep_checkpoints:
                _remove_checkpoints(run.run_dir)
        else:
            why = "no complete results.json written" if returncode == -1 else f"exit status {returncode}"
            print(f"{label}: FAILED ({why}) after {seconds:.0f} s; see {run.run_dir / RUN_LOG}", flush=True)
            failures.append(f"{run.run_dir} ({why})")
    return failures


def dry_run(runs: list[GridRun], args: GridArguments) -> None:
    for index, run in enumerate(runs, start=1):
        status = run_status(run.run_dir)
        print(f"[{index}/{len(runs)}] {run.run_dir} ({status})")
        if status != "finished":
            print(f"    {shlex.join(training_command(run, args))}")


# ---------------------------------------------------------------------------------------------- latency


def latency_command(args: GridArguments, dataset: str, models: list[Path], output: Path) -> list[str]:
    command = [sys.executable, str(script_path("benchmark_latency")), "--models", *map(str, models)]
    command += ["--dataset", dataset, "--batch_size", args.latency_batch_sizes, "--decoding", args.decodings]
    command += ["--with_f1", "--output_dir", str(output)]
    if args.latency_max_instances is not None:
        command += ["--max_instances", str(args.latency_max_instances)]
    if args.data_dir:
        command += ["--data_dir", args.data_dir]
    return command + shlex.split(args.extra_latency_args)


def run_latency(args: GridArguments, collection: Collection) -> list[str]:
    """``benchmark_latency.py`` per dataset on the best model of each cell (encoders first: the default draft
    of speculative decoding is the first encoder); skipped when ``latency.json`` came from the same
    command."""
    failures = []
    for dataset in dict.fromkeys(args.datasets):
        best = [r for (name, _), r in collection.best.items() if name == dataset_slug(dataset)]
        if not best:
            print(f"latency {dataset}: no finished run to time", flush=True)
            continue
        models = [r.run_dir for r in sorted(best, key=lambda r: kind_rank(r.kind))]
        output = Path(args.output_dir).resolve() / dataset_slug(dataset) / "latency"
        command = latency_command(args, dataset, models, output)
        done = read_json(output / "latency.json") or {}
        if done.get("meta", {}).get("command") == " ".join(["benchmark_latency.py", *command[2:]]):
            print(f"latency {dataset}: skip (finished)", flush=True)
            continue
        print(f"latency {dataset}: {len(models)} model(s), log {output / 'benchmark.log'}", flush=True)
        output.mkdir(parents=True, exist_ok=True)
        returncode = _logged(command, output / "benchmark.log")
        if returncode != 0:
            print(
                f"latency {dataset}: FAILED (exit status {returncode}); see {output / 'benchmark.log'}",
                flush=True,
            )
            failures.append(f"latency of {dataset} (exit status {returncode})")
    return failures


# ---------------------------------------------------------------------------------------------- main


def main(args: GridArguments) -> int:
    """Run (or dry-run) the grid, then the latency benchmark, then write the tables; 1 if anything failed."""
    output_dir = Path(args.output_dir)
    runs: list[GridRun] = []
    failures: list[str] = []
    if not args.collect_only:
        try:
            runs = plan(args, validate(args))
        except GridError as error:
            raise SystemExit(f"error: {error}") from None
        if args.dry_run:
            dry_run(runs, args)
            return 0
        failures += run_grid(runs, args)
    elif not output_dir.is_dir():
        raise SystemExit(f"error: --output_dir {output_dir}: no such directory to collect from")
    collection = collect(output_dir, runs)
    if args.latency and not args.collect_only:
        failures += run_latency(args, collection)
        collection.latency = latency_rows(output_dir.resolve())
    if args.prune_non_best:
        for run_dir in prune_non_best(collection):
            print(f"pruned model weights of {run_dir}", flush=True)
    path = write_tables(output_dir, collection)
    print(f"wrote {path} ({len(collection.best)} cell(s), {len(collection.runs)} run(s))", flush=True)
    if failures:
        print(f"{len(failures)} failed:\n  " + "\n  ".join(failures), flush=True)
        return 1
    return 0
