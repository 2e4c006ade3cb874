#!/usr/bin/env bash
# One-shot GPU check of the decoder path on a lent machine (no internet; wheels carried in .whl/).
#
#   bash benchmarks/gpu_check.sh        # from the repo root; logs to $OUT (default: /tmp/gpu_check_out)
#
# 1. installs the carried wheels (.whl/*.whl: transformers, trl, peft, bitsandbytes, datasets, huggingface-hub
#    and the dependencies missing from the machine's image) into /tmp/site, first on PYTHONPATH;
# 2. prints the GPU and the versions;
# 3. runs the decoder tests that need no data folder and no download (tiny random Llamas built in the session);
# 4. runs benchmarks/gpu_check.py (QLoRA training, 4-bit reload, constrained/free decoding; then the LLM token
#    classifier's QLoRA path: train_encoder.py --use_peft --load_in_4bit --bf16, reload, attention masks;
#    one JSON line).
# Steps 3 and 4 both run whatever the other gives; the exit status is non-zero if either failed.
# PYTEST_X=1 stops pytest at the first failure; PYTEST_TIMEOUT / CHECK_TIMEOUT bound each step (seconds);
# PYTEST_TARGETS replaces the test selection, GPU_CHECK_ARGS is passed to gpu_check.py (e.g. "--max_steps 50").
set -euo pipefail

cd "$(dirname "$0")/.."
OUT="${OUT:-/tmp/gpu_check_out}"
export OUT
mkdir -p "$OUT"
LOG="$OUT/gpu_check.log"
: >"$LOG"

echo "=== pip install $(ls .whl/*.whl | wc -l) wheels ($(date +%T))" | tee -a "$LOG"
if ! python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
    .whl/*.whl >>"$LOG" 2>&1; then
    tail -20 "$LOG"
    exit 2
fi
export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export HF_HUB_DISABLE_TELEMETRY=1 HF_HUB_DISABLE_XET=1 HF_HUB_DISABLE_PROGRESS_BARS=1 HF_DATASETS_DISABLE_PROGRESS_BARS=1 TQDM_DISABLE=1

{
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || echo "nvidia-smi failed"
    python3 - <<'EOF'
import importlib, importlib.metadata as md, platform
import torch
print("python", platform.python_version(), "| torch", torch.__version__, "| torch cuda", torch.version.cuda,
      "| cuda available", torch.cuda.is_available(),
      "| bf16", torch.cuda.is_available() and torch.cuda.is_bf16_supported())
for name in ("transformers", "trl", "peft", "bitsandbytes", "accelerate", "datasets", "huggingface_hub",
             "tokenizers", "safetensors", "httpx2", "dill", "multiprocess", "fsspec", "regex"):
    try:
        module = importlib.import_module(name)
        print(f"  {name:16s} {getattr(module, '__version__', '?'):12s} {module.__file__}")
    except Exception as error:  # report every failure, not only the first
        print(f"  {name:16s} IMPORT FAILED: {type(error).__name__}: {error}")
for name in ("pyarrow", "pandas", "typer", "click", "hf-xet", "pyyaml", "psutil", "numpy", "jinja2",
             "anyio", "h11", "typing_extensions", "hypothesis", "pytest", "matplotlib"):
    try:
        print(f"  {name:16s} {md.version(name)} (image)")
    except md.PackageNotFoundError:
        print(f"  {name:16s} MISSING")
EOF
} 2>&1 | tee -a "$LOG" || echo "version probe failed (continuing)" | tee -a "$LOG"

status=0
x_flag=()
[[ "${PYTEST_X:-0}" == 1 ]] && x_flag=(-x)
echo "=== pytest ($(date +%T))" | tee -a "$LOG"
timeout "${PYTEST_TIMEOUT:-300}" python3 -m pytest -q "${x_flag[@]}" -p no:cacheprovider --durations=15 \
    --junitxml="$OUT/pytest.xml" \
    ${PYTEST_TARGETS:-tests/test_decoder.py tests/test_prompts.py::test_piecewise_ids_equal_whole_answer_tiny tests/test_alignment.py} \
    2>&1 | tee -a "$LOG" || status=$?
echo "=== pytest exit ${status} ($(date +%T))" | tee -a "$LOG"

check=0
echo "=== gpu_check.py ($(date +%T))" | tee -a "$LOG"
timeout "${CHECK_TIMEOUT:-260}" python3 benchmarks/gpu_check.py ${GPU_CHECK_ARGS:-} 2>&1 | tee -a "$LOG" || check=$?
echo "=== gpu_check.py exit ${check} ($(date +%T))" | tee -a "$LOG"
nvidia-smi --query-gpu=memory.used --format=csv 2>&1 | tee -a "$LOG" || true

exit $(( status != 0 || check != 0 ))
