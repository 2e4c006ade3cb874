"""End-to-end PubMed tagging on the CPU: read -> sentences -> sub-words -> forward -> Viterbi -> PubTator.

    .venv/bin/python -m benchmarks.pubmed_throughput --models /tmp/h5/m1 --limit 5000
    .venv/bin/python -m benchmarks.pubmed_throughput --models runs/a runs/b --backends torch,onnx-int8

Each (model, backend) runs ``tag.py --output_dir OUT --output_format pubtator --backend B`` in a subprocess of
its own (``tag.main``, the code tag.py runs: ``bioner.tagging.corpus_run``), so its peak RSS is its own. The
stages are timed by wrapping the project's functions in that process, never by re-implementing them; each
stage's time is exclusive of the stages nested in it, and what no stage claims is ``other``, so the stages sum
to the wall time of ``tag_file`` (model loading is reported apart):

- ``read``: ``corpus_run.stream_documents`` (each ``next``: the XML parse, both reads of the file);
- ``segment``: ``entities.segment`` and ``Segmented.sentence_words`` (words and sentences);
- ``tokenize/window``: ``windows.WordEncoder.windows`` (sub-words, windows);
- ``forward``: the model's call (PyTorch module or ONNX Runtime session);
- ``batch/merge``: the rest of ``window_log_probs`` (padding, log-softmax) and ``merge_windows``;
- ``decode``: ``EncoderTagger.redecode`` (Viterbi) and ``last_tag_probs`` (the entity scores);
- ``records``: ``entities._record`` (entities with character offsets);
- ``write``: ``ShardedOutput.write``/``merge``, ``corpus_run.check_writable`` and ``_write_formatted``
  (the PubTator file; its second read of the input counts as ``read``).

``--limit N`` tags the first N citations (written once as a PubMed file of their own). Also measured: the
CPU's matmul peak (fp32 and bf16 2048x2048 ``torch.matmul``; int8 with ONNX Runtime's ``MatMulInteger`` and
``torch._int_mm``), each backend's achieved forward rate (FLOPs estimated as 2 x non-embedding parameters x
padded tokens: attention score products not counted), the projection to all of PubMed, and the peak RSS of one
file vs the same file given twice (two links, two outputs). Writes ``pubmed_throughput_cpu.{json,md}`` to
``--output_dir`` (default ``benchmarks/results``).
"""

from __future__ import annotations

import argparse
import functools
import gzip
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

import tag
from benchmarks.onnx_backends import lscpu
from bioner.decoding import windows
from bioner.models.onnx import FILES, ONNX, ONNX_INT8, cpu_info, onnx_dir
from bioner.models.precision import cpu_has_fast_bf16
from bioner.models.registry import load_token_classifier
from bioner.tagging import corpus_run, entities, shards, taggers

ROOT = Path(__file__).resolve().parents[1]
PUBMED_DIR = Path(os.environ.get("BIONER_PUBMED_DIR") or ROOT.parent / "shared" / "pubmed")
DEFAULT_FILE = PUBMED_DIR / "pubmed20n0014.xml.gz"
DEFAULT_MODEL = "/tmp/h5/m1"
ALL_PUBMED = 36_000_000  # citations in PubMed (baseline + updates), the projection's target
PROJECTED_CORES = 16
STAGES = (
    "read",
    "segment",
    "tokenize/window",
    "forward",
    "batch/merge",
    "decode",
    "records",
    "write",
    "other",
)
BACKEND_ORDER = ("torch", "torch-bf16", "onnx", "onnx-int8")
NOT_TRAINED = {
    "MPNet": "not among this run's --models; pass a trained MPNet folder with --models",
    "SmolLM2 token classifier": "not among this run's --models; pass a trained one with --models",
}


# --- stage timing (in the tagging process) ---------------------------------------------------------------


class Stages:
    """Exclusive time per stage: a stage's time leaves out the stages nested in it."""

    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)
        self.counts: dict[str, int] = defaultdict(int)
        self.peak_after_file_mib: list[float] = []  # this process's peak RSS as each input file ends
        self._stack: list[float] = []

    @contextmanager
    def stage(self, name: str):
        start = time.perf_counter()
        self._stack.append(0.0)
        try:
            yield
        finally:
            elapsed = time.perf_counter() - start
            nested = self._stack.pop()
            self.seconds[name] += elapsed - nested
            if self._stack:
                self._stack[-1] += elapsed

    def wrap(self, name: str, function):
        @functools.wraps(function)
        def wrapped(*args, **kwargs):
            with self.stage(name):
                return function(*args, **kwargs)

        return wrapped

    def wrap_iterator(self, name: str, function):
        @functools.wraps(function)
        def wrapped(*args, **kwargs):
            iterator = iter(function(*args, **kwargs))
            while True:
                with self.stage(name):
                    try:
                        item = next(iterator)
                    except StopIteration:
                        return
                yield item

        return wrapped


class TimedModel:
    """The tagger's model, its calls timed as ``forward`` and their tokens counted; anything else passes."""

    def __init__(self, model, stages: Stages):
        self._model, self._stages = model, stages

    def __getattr__(self, name):
        return getattr(self._model, name)

    def __call__(self, *args, **kwargs):
        input_ids = kwargs.get("input_ids", args[0] if args else None)
        mask = kwargs.get("attention_mask")
        self._stages.counts["forward_calls"] += 1
        self._stages.counts["padded_tokens"] += int(input_ids.numel())
        self._stages.counts["tokens"] += int(mask.sum()) if mask is not None else int(input_ids.numel())
        with self._stages.stage("forward"):
            return self._model(*args, **kwargs)


@contextmanager
def instrumented(stages: Stages):
    """The project's functions wrapped with stage timers (restored afterwards)."""

    def counted_windows(original):
        def wrapped(self, sentences):
            stages.counts["sentences"] += len(sentences)
            result = original(self, sentences)
            stages.counts["windows"] += len(result)
            return result

        return wrapped

    def timed_loader(original):
        def tag_corpus(args, load_tagger, style_of, state=None):
            def load():
                start = time.perf_counter()
                tagger = load_tagger()
                stages.counts["load_ms"] += round(1000 * (time.perf_counter() - start))
                tagger.model = TimedModel(tagger.model, stages)
                return tagger

            return original(args, load, style_of, state)

        return tag_corpus

    def peak_after(original):
        @functools.wraps(original)
        def wrapped(*args, **kwargs):
            result = original(*args, **kwargs)
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            stages.peak_after_file_mib.append(round(peak, 1))
            return result

        return wrapped

    probs = taggers.EncoderTagger.last_tag_probs
    patches = [
        (tag, "tag_corpus", timed_loader(tag.tag_corpus)),
        (corpus_run, "tag_file", stages.wrap("other", peak_after(corpus_run.tag_file))),
        (corpus_run, "stream_documents", stages.wrap_iterator("read", corpus_run.stream_documents)),
        (corpus_run, "check_writable", stages.wrap("write", corpus_run.check_writable)),
        (corpus_run, "_write_formatted", stages.wrap("write", corpus_run._write_formatted)),
        (shards.ShardedOutput, "write", stages.wrap("write", shards.ShardedOutput.write)),
        (shards.ShardedOutput, "merge", stages.wrap("write", shards.ShardedOutput.merge)),
        (entities, "segment", stages.wrap("segment", entities.segment)),
        (entities.Segmented, "sentence_words", stages.wrap("segment", entities.Segmented.sentence_words)),
        (entities, "_record", stages.wrap("records", entities._record)),
        (
            windows.WordEncoder,
            "windows",
            stages.wrap("tokenize/window", counted_windows(windows.WordEncoder.windows)),
        ),
        (windows, "window_log_probs", stages.wrap("batch/merge", windows.window_log_probs)),
        (windows, "merge_windows", stages.wrap("batch/merge", windows.merge_windows)),
        (taggers.EncoderTagger, "redecode", stages.wrap("decode", taggers.EncoderTagger.redecode)),
        (taggers.EncoderTagger, "last_tag_probs", property(stages.wrap("decode", probs.fget))),
    ]
    saved = [(owner, name, owner.__dict__[name]) for owner, name, _ in patches]
    try:
        for owner, name, value in patches:
            is_static = isinstance(owner.__dict__[name], staticmethod)
            setattr(owner, name, staticmethod(value) if is_static else value)
        yield
    finally:
        for owner, name, value in saved:
            setattr(owner, name, value)


def tag_instrumented(model: str, backend: str, inputs: list[str], output_dir: str, options: dict) -> dict:
    """Tag ``inputs`` into ``output_dir`` as ``tag.py --output_dir`` does, with the stages timed."""
    stages = Stages()
    argv = [
        "--model", model, "--input", *inputs, "--output_dir", output_dir, "--output_format", "pubtator",
        "--backend", backend, "--batch_size", str(options["batch_size"]),
        "--documents_per_step", str(options["documents_per_step"]), "--overwrite_output",
    ]  # fmt: skip
    with instrumented(stages):
        summary = tag.main(argv)
    wall = sum(stages.seconds.values())
    return {
        "model": model,
        "backend": backend,
        "tag_py_args": argv,
        "summary": summary,
        "wall_seconds": wall,
        "stages": {name: stages.seconds.get(name, 0.0) for name in STAGES},
        "counts": dict(stages.counts),
        "peak_rss_after_each_file_mib": stages.peak_after_file_mib,
    }


def _child(argv: list[str]) -> None:
    """``--child JSON``: one tagging run in this process; the figures go to the JSON's ``result`` path."""
    job = json.loads(argv[0])
    result = tag_instrumented(job["model"], job["backend"], job["inputs"], job["output_dir"], job["options"])
    Path(job["result"]).write_text(json.dumps(result))


def run_child(job: dict, log: Path) -> dict:
    """One tagging run in a subprocess; its own peak RSS from ``wait4``."""
    result_path = Path(job["output_dir"]) / "result.json"
    job = {**job, "result": str(result_path)}
    with log.open("w") as handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.pubmed_throughput", "--child", json.dumps(job)],
            cwd=ROOT,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
        _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        tail = log.read_text()[-3000:]
        raise RuntimeError(
            f"tagging run {job['model']} {job['backend']} failed ({process.returncode}):\n{tail}"
        )
    result = json.loads(result_path.read_text())
    result["peak_rss_mib"] = round(usage.ru_maxrss / 1024, 1)
    result["cpu_seconds"] = round(usage.ru_utime + usage.ru_stime, 2)
    return result


# --- inputs --------------------------------------------------------------------------------------------


def slice_pubmed(source: Path, count: int, target: Path) -> Path:
    """The first ``count`` citations of a PubMed file, as a PubMed file of their own (gzipped)."""
    written, header_done = 0, False
    with (
        gzip.open(source, "rt", encoding="utf-8") as reader,
        gzip.open(target, "wt", encoding="utf-8") as out,
    ):
        for line in reader:
            if "<PubmedArticle>" in line or "<PubmedBookArticle>" in line:
                header_done = True
            if not header_done:
                out.write(line)
                continue
            if written >= count:
                break
            out.write(line)
            if "</PubmedArticle>" in line or "</PubmedBookArticle>" in line:
                written += 1
        out.write("</PubmedArticleSet>\n")
    return target


# --- the machine ---------------------------------------------------------------------------------------


def _best_rate(function, flops: float, repeats: int = 5) -> float:
    function()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return flops / best / 1e9


def matmul_peaks(size: int = 2048) -> dict:
    """GFLOP/s (GOP/s for int8) of one ``size``-square matmul, best of 5, with this process's threads."""
    import numpy as np
    import torch

    flops = 2.0 * size**3
    peaks: dict = {"size": size, "torch_threads": torch.get_num_threads()}
    a, b = torch.randn(size, size), torch.randn(size, size)
    peaks["fp32_gflops"] = round(_best_rate(lambda: a @ b, flops), 1)
    peaks["fp32_how"] = "torch.matmul float32"
    if cpu_has_fast_bf16():
        a16, b16 = a.bfloat16(), b.bfloat16()
        peaks["bf16_gflops"] = round(_best_rate(lambda: a16 @ b16, flops), 1)
        peaks["bf16_how"] = "torch.matmul bfloat16 (oneDNN)"
    else:
        peaks["bf16_gflops"], peaks["bf16_how"] = None, "no AVX512-BF16/AMX: not measured"
    try:
        import onnx
        import onnxruntime as ort
        from onnx import TensorProto, helper

        graph = helper.make_graph(
            [helper.make_node("MatMulInteger", ["a", "b"], ["c"])],
            "mmi",
            [
                helper.make_tensor_value_info("a", TensorProto.UINT8, [size, size]),
                helper.make_tensor_value_info("b", TensorProto.INT8, [size, size]),
            ],
            [helper.make_tensor_value_info("c", TensorProto.INT32, [size, size])],
        )
        proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        proto.ir_version = min(proto.ir_version, 9)
        session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
        rng = np.random.default_rng(0)
        feed = {
            "a": rng.integers(0, 255, (size, size), dtype=np.uint8),
            "b": rng.integers(-127, 127, (size, size), dtype=np.int8),
        }
        peaks["int8_gops"] = round(_best_rate(lambda: session.run(None, feed), flops), 1)
        peaks["int8_how"] = (
            f"onnxruntime {ort.__version__} MatMulInteger uint8 x int8 (onnx {onnx.__version__})"
        )
    except Exception as error:  # noqa: BLE001 - reported, not fatal
        peaks["int8_gops"], peaks["int8_how"] = None, f"MatMulInteger failed: {type(error).__name__}: {error}"
    try:
        i8a = torch.randint(-127, 127, (size, size), dtype=torch.int8)
        i8b = torch.randint(-127, 127, (size, size), dtype=torch.int8)
        peaks["int8_torch_int_mm_gops"] = round(_best_rate(lambda: torch._int_mm(i8a, i8b), flops, 3), 1)
    except Exception as error:  # noqa: BLE001
        peaks["int8_torch_int_mm_gops"] = f"unavailable: {type(error).__name__}"
    return peaks


def machine() -> dict:
    return {
        "lscpu": lscpu(),
        **cpu_info(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "torch": __import__("torch").__version__,
        "onnxruntime": __import__("onnxruntime").__version__,
        "gpu": "no GPU was lent to this run",
    }


def model_facts(model: str) -> dict:
    """Parameters (all, and without the embeddings: looked up, not multiplied) and the backends built."""
    network = load_token_classifier(model)
    total = sum(p.numel() for p in network.parameters())
    embeddings = sum(p.numel() for n, p in network.named_parameters() if "embed" in n)
    del network
    backends, missing = ["torch"], {}
    if cpu_has_fast_bf16():
        backends.append("torch-bf16")
    else:
        missing["torch-bf16"] = "this CPU has no AVX512-BF16/AMX"
    for backend in (ONNX, ONNX_INT8):
        if (onnx_dir(model) / FILES[backend]).is_file():
            backends.append(backend)
        else:
            missing[backend] = (
                f"no onnx/{FILES[backend]} (python -m bioner.evaluation.backends {model} --int8)"
            )
    return {"parameters": total, "non_embedding_parameters": total - embeddings, "backends": backends,
            "missing": missing}  # fmt: skip


# --- figures -------------------------------------------------------------------------------------------


def figures(result: dict, facts: dict, peaks: dict) -> dict:
    summary, counts, wall = result["summary"], result["counts"], result["wall_seconds"]
    files = summary["files"]
    records = sum(f.get("records", 0) for f in files)
    kinds: dict[str, int] = defaultdict(int)
    skipped: dict[str, int] = defaultdict(int)
    for f in files:
        for key, value in f.get("kinds", {}).items():
            kinds[key] += value
        for key, value in f.get("skipped", {}).items():
            skipped[key] += value
    abstracts = kinds.get("title and abstract", 0)
    flops = 2.0 * facts["non_embedding_parameters"] * counts.get("padded_tokens", 0)
    forward = result["stages"]["forward"]
    achieved = flops / forward / 1e9 if forward else None
    backend = result["backend"]
    if backend == "onnx-int8":
        peak, unit = peaks.get("int8_gops"), "int8 GOP/s"
    elif backend == "torch-bf16":
        peak, unit = peaks.get("bf16_gflops"), "bf16 GFLOP/s"
    else:
        peak, unit = peaks.get("fp32_gflops"), "fp32 GFLOP/s"
    per_second = records / wall if wall else 0.0
    threads = peaks.get("torch_threads") or 1
    projection = ALL_PUBMED / per_second if per_second else None
    cpu_seconds = result.get("cpu_seconds")  # the process's own CPU time: steadier than wall on a shared box
    return {
        "model": result["model"],
        "backend": backend,
        "citations": records,
        "tagged": summary["tagged"],
        "abstracts": abstracts,
        "title_only": kinds.get("title only", 0),
        "skipped": dict(skipped),
        "deleted": sum(f.get("deleted", 0) for f in files),
        "sentences": counts.get("sentences", 0),
        "windows": counts.get("windows", 0),
        "tokens": counts.get("tokens", 0),
        "padded_tokens": counts.get("padded_tokens", 0),
        "wall_seconds": round(wall, 2),
        "cpu_seconds": result.get("cpu_seconds"),
        "load_seconds": round(counts.get("load_ms", 0) / 1000, 2),
        "citations_per_second": round(per_second, 2),
        "abstracts_per_second": round(abstracts / wall, 2) if wall else None,
        "sentences_per_second": round(counts.get("sentences", 0) / wall, 1) if wall else None,
        "stage_seconds": {k: round(v, 3) for k, v in result["stages"].items()},
        "stage_share": {k: round(v / wall, 4) if wall else None for k, v in result["stages"].items()},
        "non_forward_share": round(1 - forward / wall, 4) if wall else None,
        "forward_gflop": round(flops / 1e9, 1),
        "achieved_gflops": round(achieved, 1) if achieved else None,
        "peak": peak,
        "peak_unit": unit,
        "fraction_of_peak": round(achieved / peak, 3) if achieved and peak else None,
        "peak_rss_mib": result.get("peak_rss_mib"),
        "citations_per_cpu_second": round(records / cpu_seconds, 2) if cpu_seconds else None,
        "projection_16_cores_from_cpu_time_hours": round(
            ALL_PUBMED * cpu_seconds / records / PROJECTED_CORES / 3600, 1
        )
        if cpu_seconds and records
        else None,
        "projection_all_pubmed_hours": round(projection / 3600, 1) if projection else None,
        "projection_16_cores_hours": round(projection * threads / PROJECTED_CORES / 3600, 1)
        if projection
        else None,
        "output": [f["output"] for f in files],
    }


def _share(row: dict, stage: str) -> str:
    share = row["stage_share"][stage]
    return "" if share is None else f"{100 * share:.1f}%"


def markdown(report: dict) -> str:
    m, p = report["machine"], report["matmul_peaks"]
    flags = ", ".join(f"{flag} {'yes' if on else 'no'}" for flag, on in m["flags"].items())
    lines = [
        "# End-to-end PubMed tagging on the CPU",
        "",
        f"Command: `{report['command']}`",
        "",
        f"Input: {report['input_description']}. Each backend: `tag.py --output_dir --output_format pubtator"
        f" --batch_size {report['options']['batch_size']} --documents_per_step"
        f" {report['options']['documents_per_step']}` in a process of its own (stages timed around the"
        " project's functions; see `benchmarks/pubmed_throughput.py`).",
        "",
        f"CPU: {m['cpu']} ({m['lscpu'].get('CPU(s)', '?')} CPUs, shared with other jobs); flags: {flags}."
        f" Load average at start: {', '.join(map(str, m['load_average_at_start']))}. torch {m['torch']}"
        f" ({p['torch_threads']} threads), onnxruntime {m['onnxruntime']}. GPU: {m['gpu']}.",
        "",
        "## Throughput",
        "",
        "| model | backend | citations/s | abstracts/s | sentences/s | wall s | forward GFLOP/s (peak) |"
        " non-forward | peak RSS MiB | all PubMed, this machine | on 16 cores | citations per CPU s |"
        " on 16 cores, from CPU time |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["runs"]:
        lines.append(
            f"| {Path(r['model']).name} | {r['backend']} | {r['citations_per_second']} |"
            f" {r['abstracts_per_second']} | {r['sentences_per_second']} | {r['wall_seconds']} |"
            f" {r['achieved_gflops']} ({r['peak']} {r['peak_unit']},"
            f" {100 * (r['fraction_of_peak'] or 0):.0f}%)"
            f" | {100 * r['non_forward_share']:.1f}% | {r['peak_rss_mib']} |"
            f" {r['projection_all_pubmed_hours']} h ({r['projection_all_pubmed_hours'] / 24:.1f} d) |"
            f" {r['projection_16_cores_hours']} h | {r.get('citations_per_cpu_second')} |"
            f" {r.get('projection_16_cores_from_cpu_time_hours')} h |"
        )
    lines += [
        "",
        "## Share of wall time per stage",
        "",
        "| model | backend | " + " | ".join(STAGES) + " |",
        "|---|---|" + "---|" * len(STAGES),
    ]
    for r in report["runs"]:
        lines.append(
            f"| {Path(r['model']).name} | {r['backend']} | " + " | ".join(_share(r, s) for s in STAGES) + " |"
        )
    first = report["runs"][0] if report["runs"] else None
    if first:
        lines += [
            "",
            f"Counts ({Path(first['model']).name}, {first['backend']}): {first['citations']} citations ="
            f" {first['tagged']} tagged ({first['abstracts']} with an abstract,"
            f" {first['title_only']} title only) + {sum(first['skipped'].values())} skipped"
            f" {first['skipped'] or ''}; {first['deleted']} deleted;"
            f" {first['sentences']} sentences, {first['windows']} windows, {first['tokens']} sub-word tokens"
            f" ({first['padded_tokens']} with padding).",
        ]
    lines += [
        "",
        "## Matmul peak of this CPU",
        "",
        f"- fp32: {p['fp32_gflops']} GFLOP/s ({p['fp32_how']}, {p['size']}², {p['torch_threads']} threads)",
        f"- bf16: {p['bf16_gflops']} GFLOP/s ({p['bf16_how']})",
        f"- int8: {p['int8_gops']} GOP/s ({p['int8_how']}; what onnx-int8 is compared with);"
        f" torch._int_mm int8: {p['int8_torch_int_mm_gops']} GOP/s",
        "",
        "Forward FLOPs are estimated as 2 x non-embedding parameters x padded tokens (the attention score"
        " products are not counted), so the achieved rates are a lower bound.",
        "",
        "## Projection to all of PubMed",
        "",
        f"{ALL_PUBMED:,} citations at this run's citations/s (its mix of abstracts and title-only citations),"
        f" on this machine ({p['torch_threads']} threads), and on {PROJECTED_CORES} cores assuming linear"
        f" scaling (time x {p['torch_threads']}/{PROJECTED_CORES}; not measured). The machine is shared, so"
        " the last column projects from the tagging process's own CPU time instead (user + system, one core"
        f" busy per CPU second; {PROJECTED_CORES} cores fully used). GPU: {m['gpu']}.",
    ]
    memory = report.get("memory")
    if memory:
        lines += [
            "",
            "## Memory: one file vs the same file twice",
            "",
            f"{memory['backend']}, first {memory['citations_per_file']} citations per file, median of"
            f" {memory.get('repeats', 1)} interleaved runs each: one file"
            f" {memory['one_file_peak_rss_mib']} MiB, two files (two links, two outputs)"
            f" {memory['two_files_peak_rss_mib']} MiB: ratio"
            f" {memory['ratio']} ({'within' if memory['within_10_percent'] else 'NOT within'} 10%).",
        ]
        if memory.get("one_file_runs_mib"):
            lines += [
                "",
                f"- each run, one file: {memory['one_file_runs_mib']} MiB; two files:"
                f" {memory['two_files_runs_mib']} MiB",
                "- within each two-file run, peak as each file ends:"
                f" {memory['two_files_peak_after_each_file_mib']} MiB (second file / first:"
                f" {memory['second_file_growth']})",
            ]
    if report.get("not_run"):
        lines += ["", "## Not run", ""] + [f"- {name}: {why}" for name, why in report["not_run"].items()]
    return "\n".join(lines) + "\n"


# --- main ----------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--input", type=Path, default=DEFAULT_FILE, help="a PubMed XML(.gz) file")
    parser.add_argument("--models", nargs="+", default=[DEFAULT_MODEL])
    parser.add_argument("--backends", default=",".join(BACKEND_ORDER), help="those not built are skipped")
    parser.add_argument("--limit", type=int, help="tag only the first N citations")
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--documents_per_step", type=int, default=256)
    parser.add_argument("--memory_limit", type=int, default=1000, help="citations per file, memory check")
    parser.add_argument("--memory_repeats", type=int, default=3, help="one-file/two-file pairs, interleaved")
    parser.add_argument("--no_memory_check", action="store_true")
    parser.add_argument("--matmul_size", type=int, default=2048, help="square matmul of the peak measures")
    parser.add_argument("--output_dir", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--work_dir", type=Path, help="tagged outputs (default: a temporary folder)")
    parser.add_argument("--name", default="pubmed_throughput_cpu", help="result file name, without suffix")
    args = parser.parse_args(argv)
    if not args.input.is_file():
        raise SystemExit(f"error: {args.input} not found (set BIONER_PUBMED_DIR or pass --input)")
    load = os.getloadavg()
    info = machine()
    info["load_average_at_start"] = [round(x, 2) for x in load]
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="pubmed_throughput_"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        return _run(args, info, work, sys.argv[1:] if argv is None else argv)
    finally:
        if args.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)


def _run(args, info: dict, work: Path, argv: list[str]) -> dict:
    source = args.input
    if args.limit:
        source = slice_pubmed(args.input, args.limit, work / f"first{args.limit}.xml.gz")
        described = f"the first {args.limit} citations of {args.input.name}"
    else:
        described = f"all of {args.input.name}"
    peaks = matmul_peaks(args.matmul_size)
    options = {"batch_size": args.batch_size, "documents_per_step": args.documents_per_step}
    wanted = [b for b in args.backends.split(",") if b]
    runs, not_run = [], dict(NOT_TRAINED)
    for model in args.models:
        for name in list(not_run):
            if name.lower().split()[0] in Path(model).name.lower():
                del not_run[name]
        facts = model_facts(model)
        for backend, why in facts["missing"].items():
            if backend in wanted:
                not_run[f"{Path(model).name} {backend}"] = why
        for backend in [b for b in BACKEND_ORDER if b in wanted and b in facts["backends"]]:
            out = work / f"{Path(model).name}-{backend}"
            job = {"model": model, "backend": backend, "inputs": [str(source)], "output_dir": str(out),
                   "options": options}  # fmt: skip
            result = run_child(job, work / f"{Path(model).name}-{backend}.log")
            row = figures(result, facts, peaks)
            runs.append(row)
            print(
                f"{Path(model).name} {backend}: {row['citations_per_second']} citations/s,"
                f" {row['abstracts_per_second']} abstracts/s, {row['sentences_per_second']} sentences/s,"
                f" non-forward {100 * row['non_forward_share']:.1f}%, peak RSS {row['peak_rss_mib']} MiB",
                flush=True,
            )
    memory = None
    if runs and not args.no_memory_check:
        memory = memory_check(args, runs, work, options)
    report = {
        "command": " ".join([".venv/bin/python -m benchmarks.pubmed_throughput", *argv]),
        "input": str(args.input),
        "input_description": described,
        "limit": args.limit,
        "options": options,
        "machine": info,
        "matmul_peaks": peaks,
        "flop_estimate": "2 x non-embedding parameters x padded tokens (attention scores not counted)",
        "projection": f"{ALL_PUBMED} citations at the run's citations/s; {PROJECTED_CORES} cores: linear"
        " scaling from this machine's threads (assumed, not measured)",
        "runs": runs,
        "memory": memory,
        "not_run": not_run,
    }
    args.output_dir.mkdir(parents=True, exist_ok=True)
    (args.output_dir / f"{args.name}.json").write_text(json.dumps(report, indent=2) + "\n")
    table = markdown(report)
    (args.output_dir / f"{args.name}.md").write_text(table)
    print(table)
    return report


def memory_check(args, runs: list[dict], work: Path, options: dict) -> dict:
    """Peak RSS of one file vs the same file given twice (two links, each tagged to its own output), with the
    fastest backend of the first model; ``--memory_repeats`` interleaved pairs, compared by their medians
    (one run's peak varies by several percent with the allocator's layout). Each two-file run also records
    its own peak as each file ends: within one process, growth from the first file to the second is the
    direct sign of memory that grows with the input."""
    model = runs[0]["model"]
    fastest = max((r for r in runs if r["model"] == model), key=lambda r: r["citations_per_second"])
    count = min(args.memory_limit, args.limit or args.memory_limit)
    single = slice_pubmed(args.input, count, work / f"memory{count}.xml.gz")
    twice = work / "twice"
    twice.mkdir(exist_ok=True)
    links = [twice / "copy_a.xml.gz", twice / "copy_b.xml.gz"]
    for link in links:
        link.unlink(missing_ok=True)
        link.symlink_to(single.resolve())
    peaks: dict[str, list[float]] = {"one": [], "two": []}
    within_run, tagged = [], 0
    for repeat in range(max(1, args.memory_repeats)):
        for label, inputs in (("one", [single]), ("two", links)):
            out = work / f"memory-{label}-{repeat}"
            job = {"model": model, "backend": fastest["backend"], "inputs": [str(p) for p in inputs],
                   "output_dir": str(out), "options": options}  # fmt: skip
            result = run_child(job, work / f"memory-{label}-{repeat}.log")
            peaks[label].append(result["peak_rss_mib"])
            if label == "two":
                within_run.append(result["peak_rss_after_each_file_mib"])
                tagged = result["summary"]["tagged"]
    one, two = statistics.median(peaks["one"]), statistics.median(peaks["two"])
    growth = [round(after[-1] / after[0], 3) for after in within_run if len(after) >= 2]
    return {
        "backend": fastest["backend"],
        "citations_per_file": count,
        "repeats": len(peaks["one"]),
        "one_file_peak_rss_mib": one,
        "two_files_peak_rss_mib": two,
        "one_file_runs_mib": peaks["one"],
        "two_files_runs_mib": peaks["two"],
        "two_files_tagged": tagged,
        "ratio": round(two / one, 3),
        "within_10_percent": abs(two / one - 1) <= 0.10,
        "two_files_peak_after_each_file_mib": within_run,
        "second_file_growth": growth,
        "how": "each run in its own subprocess; peak RSS from os.wait4's rusage (ru_maxrss); medians of the"
        " interleaved repeats; within a two-file run, getrusage's peak as each file ends",
    }


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        _child(sys.argv[2:])
    else:
        main()
