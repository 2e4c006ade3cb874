"""bf16 on a CPU without AVX512-BF16/AMX trains on a slow matmul fallback: the training scripts say so."""

from types import SimpleNamespace

import pytest
import torch

from bioner.models import precision


@pytest.mark.parametrize("fast_cpu", [False, True])
def test_slow_bf16_warns_only_on_cpus_without_bf16_matmuls(monkeypatch, caplog, fast_cpu):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: fast_cpu)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    with caplog.at_level("WARNING"):
        warned = precision.warn_if_slow_bf16(SimpleNamespace(bf16=True, use_cpu=True))
    assert warned is not fast_cpu
    assert ("Drop --bf16" in caplog.text) is not fast_cpu
    assert precision.cpu_has_fast_bf16() is fast_cpu


def test_fp32_never_warns(monkeypatch):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    assert not precision.warn_if_slow_bf16(SimpleNamespace(bf16=False, use_cpu=True))


def test_amx_counts_as_fast(monkeypatch):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True)
    assert precision.cpu_has_fast_bf16()
    if not torch.cuda.is_available():
        assert precision.fast_bf16()
