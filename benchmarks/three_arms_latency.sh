#!/usr/bin/env bash
# Side-by-side latency of the three arms on the first BC5CDR test sentences (one run, one process), after
# benchmarks/token_classifiers_cpu.py trained them under runs/bench; then the generative tagger's strict F1 on the
# first 200 test sentences (speculative decoding gives constrained decoding's tags). Figures go to
# benchmarks/results/.
#   BIONER_DATA_DIR=../shared/data bash benchmarks/three_arms_latency.sh [INSTANCES]
set -euo pipefail
cd "$(dirname "$0")/.."
instances="${1:-100}"
models=()
for run in minilm mpnet smollm2-bidir smollm2-causal gemma3-bidir smollm2-generative; do
    [[ -f "runs/bench/$run/results.json" || -f "runs/bench/$run/bioner_decoder.json" ]] && models+=("runs/bench/$run")
done
.venv/bin/python benchmark_latency.py --models "${models[@]}" --dataset bc5cdr --split test \
    --max_instances "$instances" --batch_size 1,16 --decoding constrained,speculative \
    --draft_model runs/bench/minilm --with_f1 --output_dir runs/bench/latency
cp runs/bench/latency/latency.md benchmarks/results/latency_three_arms_bc5cdr_cpu.md
cp runs/bench/latency/latency.json benchmarks/results/latency_three_arms_bc5cdr_cpu.json
cp runs/bench/latency/time_vs_f1.png benchmarks/results/latency_three_arms_bc5cdr_cpu_time_vs_f1.png
if [[ -f runs/bench/smollm2-generative/bioner_decoder.json && ! -f runs/bench/smollm2-generative/eval_first200/results.json ]]; then
    .venv/bin/python evaluate_ner.py --model runs/bench/smollm2-generative --dataset bc5cdr --split test \
        --max_instances 200 --decoding speculative --draft_model runs/bench/minilm \
        --output_dir runs/bench/smollm2-generative/eval_first200
fi
# gemma3-bidir scored dev and test on their first 200 sentences while training: its full-test score.
if [[ -f runs/bench/gemma3-bidir/results.json && ! -f runs/bench/gemma3-bidir/eval_full_test/results.json ]]; then
    .venv/bin/python evaluate_ner.py --model runs/bench/gemma3-bidir --dataset bc5cdr --split test \
        --output_dir runs/bench/gemma3-bidir/eval_full_test
fi
.venv/bin/python benchmarks/token_classifiers_cpu.py --collect_only --compare mpnet smollm2-bidir \
    --compare smollm2-bidir smollm2-causal --compare smollm2-bidir minilm
