"""benchmarks/distill_pool.py on tiny models: one student per pool size, the gold-only one at size 0, the
smaller pool cut from the larger pool's teacher cache, and finished runs read back instead of retrained."""

from __future__ import annotations

import importlib.util
import json

from bioner.data.text import detokenize
from tests.helpers import ROOT

SPEC = importlib.util.spec_from_file_location("distill_pool", ROOT / "benchmarks/distill_pool.py")
bench = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(bench)


def test_f1_against_pool_size_on_a_tiny_setting(tmp_path, tiny_bert, member_a, demo_splits):
    pool = tmp_path / "pool.PubTator"
    titles = [detokenize(tokens)[0] for tokens, _ in demo_splits["train"][:8]]
    pool.write_text("".join(f"{3000 + i}|t|{title}\n{3000 + i}|a|\n\n" for i, title in enumerate(titles)))
    argv = [
        "--name", "tiny", "--teacher", str(member_a), "--pool", str(pool), "--pool_sizes", "0,3,6",
        "--runs_dir", str(tmp_path / "runs"), "--teacher_cache_dir", str(tmp_path / "cache"),
        "--output_dir", str(tmp_path / "results"), "--recipe",
        f"--model_name_or_path {tiny_bert} --dataset demo --max_train_samples 4 --max_eval_samples 4"
        " --max_steps 1 --use_cpu --eval_strategy no --save_strategy no --load_best_model_at_end false"
        " --disable_tqdm true",
    ]  # fmt: skip
    result = bench.main(argv)
    rows = result["rows"]
    assert [row["pool_size"] for row in rows] == [0, 3, 6]
    assert [row["pool_sentences"] for row in rows] == [0, 3, 6]
    assert rows[1]["teacher_cache_reused"] is True and rows[2]["teacher_cache_reused"] is False  # 6 first
    assert all(0.0 <= row["test_strict_f1"] <= 1.0 for row in rows)
    saved = json.loads((tmp_path / "results" / "distill_tiny.json").read_text())
    assert saved["rows"] == rows and "| 6 |" in (tmp_path / "results" / "distill_tiny.md").read_text()
    # A second sweep reads the finished runs back (no training) under another name.
    again = bench.main([*argv[:1], "tiny2", *argv[2:]])
    assert again["rows"] == rows
