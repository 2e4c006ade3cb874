"""Whether bf16 mixed precision pays off on this machine, and a warning when it is asked for where it does
not.

On a CPU, PyTorch multiplies bf16 matrices with oneDNN only when the CPU has AVX512-BF16 or AMX; otherwise it
falls back to a plain, single-threaded loop. Measured on this project's machines: on an AVX-512 CPU without
them, bf16 autocast made SmolLM2 training 3x slower than fp32; on an AVX2-only CPU a bf16 matmul (256x576 @
576x1536) took 376 ms against 9 ms in fp32 (~40x) and a training step never finished; with AMX it was 1.8x
faster.
"""

from __future__ import annotations

import logging

import torch

logger = logging.getLogger(__name__)


def cpu_has_fast_bf16() -> bool:
    """AVX512-BF16 or AMX: the CPU features oneDNN's bf16 matmul needs."""
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def fast_bf16() -> bool:
    """Whether bf16 mixed precision pays off here: CUDA with bf16 support, or a CPU with AVX512-BF16/AMX."""
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    return cpu_has_fast_bf16()


def warn_if_slow_bf16(training_args) -> bool:
    """Log a warning when ``--bf16`` will train on a CPU without fast bf16 matmuls; returns whether it
    warned."""
    on_cpu = training_args.use_cpu or not torch.cuda.is_available()
    if not (training_args.bf16 and on_cpu and not cpu_has_fast_bf16()):
        return False
    logger.warning(
        "--bf16 on a CPU without AVX512-BF16/AMX (this one: %s): PyTorch multiplies bf16 matrices with a "
        "slow, single-threaded fallback here (about 40x slower than float32 on an AVX2 CPU), so training may "
        "look stuck. "
        "Drop --bf16 to train in float32.",
        torch.backends.cpu.get_cpu_capability(),
    )
    return True
