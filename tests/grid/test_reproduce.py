"""reproduce.py: the grid on the demo corpus with tiny random models (real subprocess runs), skipping finished
runs, failures, collection into Tables III/IV/V, and argument errors."""

from __future__ import annotations

import contextlib
import io
import json
import shlex
import shutil
from pathlib import Path

import pytest

import reproduce
from bioner.evaluation.latency import LatencyRun
from bioner.grid import runs as grid
from bioner.grid import tables as grid_tables
from metrics.bio_ner.scoring import compute_ner_scores
from tests.fixtures.decoders import DECODER_FAST

ENCODER_ARGS = shlex.join(
    ["--use_cpu", "--max_steps", "3", "--max_eval_samples", "8", "--eval_strategy", "no",
     "--save_strategy", "no", "--load_best_model_at_end", "false", "--disable_tqdm", "true",
     "--logging_steps", "1000"]
)  # fmt: skip
DECODER_ARGS = shlex.join(
    [*DECODER_FAST, "--use_peft", "false", "--max_steps", "2", "--max_train_samples", "16",
     "--max_eval_samples", "8", "--per_device_train_batch_size", "4"]
)  # fmt: skip
ENV = {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}


def run_reproduce(argv: list[str]) -> tuple[int, str]:
    """``reproduce.main`` in this process (its runs are subprocesses); exit status and stdout."""
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(out):
        for key, value in ENV.items():
            patch.setenv(key, value)
        code = reproduce.main(argv)
    return code, out.getvalue()


def file_times(root: Path) -> dict[Path, int]:
    return {path: path.stat().st_mtime_ns for path in root.rglob("*") if path.is_file()}


@pytest.fixture(scope="module")
def demo_grid(tmp_path_factory, tiny_bert, tiny_llama):
    """A 2 x 2-learning-rate grid (tiny BERT and tiny Llama on demo), with the latency benchmark."""
    output = tmp_path_factory.mktemp("grid")
    argv = [
        "--datasets", "demo", "--models", str(tiny_bert), str(tiny_llama), f"tokcls:{tiny_llama}",
        "--encoder_learning_rates", "1e-4", "5e-2", "--encoder_batch_sizes", "8",
        "--tokcls_learning_rates", "1e-3", "--tokcls_batch_sizes", "8",
        "--extra_tokcls_args", "--use_peft true",
        "--decoder_learning_rates", "1e-4", "3e-3", "--decoder_batch_size", "4",
        "--extra_encoder_args", ENCODER_ARGS, "--extra_decoder_args", DECODER_ARGS,
        "--latency", "--latency_max_instances", "4", "--extra_latency_args", "--warmup 1",
        "--output_dir", str(output),
    ]  # fmt: skip
    code, stdout = run_reproduce(argv)
    return output, argv, code, stdout


def test_grid_runs_every_run_and_builds_the_tables(demo_grid, tiny_bert, tiny_llama):
    output, _, code, stdout = demo_grid
    assert code == 0, stdout
    tokcls = f"{tiny_llama.name}-tokcls"
    cells = {tiny_bert.name: "encoder", tiny_llama.name: "decoder", tokcls: "llm-token-classifier"}
    runs = sorted((output / "demo").glob("*/lr*-bs*"))
    assert [(p.parent.name, p.name) for p in runs] == [
        (tiny_bert.name, "lr0.0001-bs8"), (tiny_bert.name, "lr0.05-bs8"),
        (tiny_llama.name, "lr0.0001-bs4"), (tiny_llama.name, "lr0.003-bs4"), (tokcls, "lr0.001-bs8"),
    ]  # fmt: skip
    tokcls_run = json.loads((output / "demo" / tokcls / "lr0.001-bs8" / grid_tables.RUN_FILE).read_text())
    assert tokcls_run["command"][1].endswith("train_encoder.py") and "--use_peft" in tokcls_run["command"]
    summary = json.loads((output / "summary.json").read_text())
    for model, kind in cells.items():
        results = {
            p.name: json.loads((p / "results.json").read_text()) for p in runs if p.parent.name == model
        }
        record = json.loads(
            (output / "demo" / model / next(iter(results)) / grid_tables.RUN_FILE).read_text()
        )
        assert record["status"] == "finished" and record["kind"] == kind
        # The chosen run has the highest dev strict F1 (the first of the grid's order on a tie).
        order = sorted(results, key=lambda name: float(grid_tables.RUN_NAME_RE.fullmatch(name)["lr"]))
        best = max(order, key=lambda name: results[name]["dev"]["strict"]["f1"])
        (cell,) = [c for c in summary["cells"] if c["model"] == model]
        assert cell["best_run"] == f"demo/{model}/{best}" and cell["kind"] == kind
        assert cell["dev_strict_f1"] == results[best]["dev"]["strict"]["f1"]
        assert cell["test"]["strict"] == results[best]["test"]["strict"]
        assert (output / "demo" / model / best / "train.log").stat().st_size > 0
    tables = (output / "tables.md").read_text()
    for title in ("## Table III", "## Table V", "## Table IV", "## Every run of the grid"):
        assert title in tables
    table_iii = tables.split("## Table III")[1].split("## Table V")[0]
    for model in cells:
        f1 = next(c for c in summary["cells"] if c["model"] == model)["test"]["strict"]["f1"]
        assert f"| demo | {model} | " in table_iii and f"{100 * f1:.2f}" in table_iii
    table_iv = tables.split("## Table IV")[1].split("## Every run")[0]
    assert f"| demo | {tiny_bert.name} · viterbi | 1 |" in table_iv
    assert f"| demo | {tiny_llama.name} · constrained | 1 |" in table_iv
    assert f"| demo | {tokcls} · one-pass token classifier, viterbi | 1 |" in table_iv
    assert tables.count("**best**") == 3
    assert (output / "f1_by_length_demo.png").stat().st_size > 1000
    assert (output / "time_vs_f1.png").stat().st_size > 1000
    latency = json.loads((output / "demo" / "latency" / "latency.json").read_text())
    assert {row["model"] for row in latency["summary"]} == {
        str(output / "demo" / c["best_run"].split("/", 1)[1]) for c in summary["cells"]
    }


def test_second_invocation_skips_every_finished_run(demo_grid):
    output, argv, _, _ = demo_grid
    runs_and_latency = file_times(output / "demo")
    code, stdout = run_reproduce(argv)
    assert code == 0, stdout
    assert stdout.count("skip (finished)") == 6, stdout  # 5 runs and the latency benchmark
    assert "FAILED" not in stdout and ": run," not in stdout
    assert file_times(output / "demo") == runs_and_latency


def test_a_failing_run_is_reported_and_the_grid_goes_on(tmp_path, tiny_bert):
    broken = tmp_path / "broken-bert"
    broken.mkdir()
    shutil.copy(tiny_bert / "config.json", broken)  # a config and no weights: training fails on loading
    output = tmp_path / "grid"
    argv = [
        "--datasets", "demo", "--models", str(broken), str(tiny_bert),
        "--encoder_learning_rates", "1e-3", "--encoder_batch_sizes", "8",
        "--extra_encoder_args", ENCODER_ARGS, "--output_dir", str(output),
    ]  # fmt: skip
    code, stdout = run_reproduce(argv)
    assert code == 1
    failed, done = (
        output / "demo" / "broken-bert" / "lr0.001-bs8",
        output / "demo" / tiny_bert.name / "lr0.001-bs8",
    )
    assert "FAILED (exit status 1)" in stdout and str(failed) in stdout.split("failed:")[1]
    assert json.loads((failed / grid_tables.RUN_FILE).read_text())["status"] == "failed"
    assert (
        "Could not load" in (failed / "train.log").read_text()
    )  # the script's own message, in the run's log
    assert grid_tables.is_complete(json.loads((done / "results.json").read_text()))
    tables = (output / "tables.md").read_text()
    assert "No finished run with dev scores yet for: demo / broken-bert." in tables
    assert f"| demo | {tiny_bert.name} | " in tables.split("## Table III")[1]
    assert "| demo | broken-bert | encoder | 0.001 | 8 | failed |" in tables
    # The next invocation retries the failed run and skips the finished one.
    code, stdout = run_reproduce([*argv, "--dry_run"])
    assert code == 0
    assert f"{failed} (failed)\n    " in stdout and f"{done} (finished)\n[" not in stdout
    assert stdout.count("train_encoder.py") == 1


GOLD = [["B-Chemical", "I-Chemical", "O", "B-Disease"], ["O", "B-Disease", "I-Disease", "I-Disease"]]
ALL_O = [["O"] * len(tags) for tags in GOLD]
HALF = [["B-Chemical", "I-Chemical", "O", "O"], ["O", "B-Disease", "I-Disease", "O"]]  # 1 exact, 1 partial


def write_run(directory: Path, dev: list[list[str]], test: list[list[str]], meta: dict) -> Path:
    directory.mkdir(parents=True)
    results = {"dev": compute_ner_scores(dev, GOLD), "test": compute_ner_scores(test, GOLD), "meta": meta}
    (directory / "results.json").write_text(json.dumps(results))
    return directory


def test_collect_only_builds_the_tables_from_results_and_latency_files(tmp_path):
    output = tmp_path / "runs"
    cell = output / "demo" / "enc"
    # lr 1e-05: better on dev, worse on test; it must be chosen (selection on dev, never on test).
    chosen = write_run(cell / "lr1e-05-bs16", GOLD, HALF, {"bio_decoding": "viterbi"})
    write_run(cell / "lr2e-05-bs16", HALF, GOLD, {"bio_decoding": "viterbi"})
    failed = cell / "lr3e-05-bs16"
    failed.mkdir()
    (failed / grid_tables.RUN_FILE).write_text(json.dumps({"status": "failed", "kind": "encoder"}))
    decoder = write_run(output / "demo" / "dec" / "lr4e-05-bs32", HALF, ALL_O, {"output_format": "tags"})
    rows = []
    for model, kind, mode, seconds, pred in ((chosen, "encoder", "viterbi", 0.01, HALF),
                                              (decoder, "decoder", "constrained", 0.5, ALL_O)):  # fmt: skip
        run = LatencyRun(str(model), kind, mode, 1, len(GOLD), [seconds] * len(GOLD))
        run.scores = compute_ner_scores(pred, GOLD)
        rows.append(run.summary())
    (output / "demo" / "latency").mkdir()
    (output / "demo" / "latency" / "latency.json").write_text(
        json.dumps({"meta": {"dataset": "demo"}, "summary": rows})
    )
    code, stdout = run_reproduce(["--output_dir", str(output), "--collect_only"])
    assert code == 0, stdout
    summary = json.loads((output / "summary.json").read_text())
    cells = {c["model"]: c for c in summary["cells"]}
    assert list(cells) == ["enc", "dec"]
    assert cells["enc"]["best_run"] == "demo/enc/lr1e-05-bs16" and cells["enc"]["learning_rate"] == 1e-5
    assert cells["enc"]["test"]["strict"] == compute_ner_scores(HALF, GOLD)["strict"]
    assert cells["dec"]["kind"] == "decoder"
    statuses = {(r["model"], r["learning_rate"]): (r["status"], r["chosen"]) for r in summary["runs"]}
    assert statuses == {
        ("enc", 1e-5): ("finished", True), ("enc", 2e-5): ("finished", False),
        ("enc", 3e-5): ("failed", False),
        ("dec", 4e-5): ("finished", True),
    }  # fmt: skip
    tables = (output / "tables.md").read_text()
    half = compute_ner_scores(HALF, GOLD)
    strict, partial = half["strict"], half["partial"]
    prf = " | ".join(f"{100 * strict[k]:.2f}" for k in ("precision", "recall", "f1"))
    assert f"| demo | enc | {prf} | " in tables.split("## Table III")[1].split("## Table V")[0]
    relaxed = " | ".join(f"{100 * partial[k]:.2f}" for k in ("precision", "recall", "f1"))
    assert f"| demo | enc | {relaxed} |" in tables.split("## Table V")[1].split("## Table IV")[0]
    table_iv = tables.split("## Table IV")[1].split("## Every run")[0]
    assert "| demo | enc · viterbi | 1 | 0.0100 | 1.0 |" in table_iv
    assert "| demo | dec · constrained | 1 | 0.5000 | 50.0 | 0.00 |" in table_iv
    assert "| demo | enc | encoder | 1e-05 | 16 | finished | 100.00 | " in tables
    assert tables.count("**best**") == 2
    assert (output / "f1_by_length_demo.png").is_file() and (output / "time_vs_f1.png").is_file()


def test_unknown_names_and_missing_data_stop_before_anything_runs(tmp_path, tiny_bert):
    output = tmp_path / "never"
    cases = [
        (["--datasets", "demo", "--models", "no-such-model"], "--models: unknown model 'no-such-model'"),
        (["--datasets", "no_such_set", "--models", "minilm"], "--datasets no_such_set: "),
        (["--datasets", "bc5cdr", "--models", "minilm", "--data_dir", str(tmp_path / "nodata")],
         f"--datasets bc5cdr: {tmp_path / 'nodata' / 'bc5cdr'}: no folder for dataset 'bc5cdr'"),
        (["--models", "minilm"], "--datasets: pass at least one dataset"),
        (["--datasets", "demo", "--models", "decoder:minilm"],
         "'minilm' is an alias of kind encoder, not decoder"),
        (["--datasets", "demo", "--models", str(tiny_bert), str(tiny_bert)], "named twice"),
    ]  # fmt: skip
    for argv, message in cases:
        with pytest.raises(SystemExit) as error:
            run_reproduce([*argv, "--output_dir", str(output)])
        assert message in str(error.value), (argv, str(error.value))
    assert not output.exists()


def test_interrupted_runs_resume_from_their_last_complete_checkpoint(tmp_path):
    args = reproduce.parse_args(
        ["--datasets", "demo", "--models", "minilm", "--output_dir", str(tmp_path),
         "--extra_encoder_args", "--use_cpu", "--launcher", "accelerate launch"]
    )  # fmt: skip
    run = grid.plan(args, grid.validate(args))[0]
    for step, complete in ((2, True), (4, False)):  # checkpoint-4 was cut short while saving
        (run.run_dir / f"checkpoint-{step}").mkdir(parents=True)
        if complete:
            (run.run_dir / f"checkpoint-{step}" / "trainer_state.json").write_text("{}")
    command = grid.training_command(run, args)
    assert command[:3] == ["accelerate", "launch", str(grid.script_path("train_encoder"))]
    assert command[-3:] == ["--use_cpu", "--resume_from_checkpoint", str(run.run_dir / "checkpoint-2")]
    assert grid_tables.run_status(run.run_dir) == "interrupted"
