"""Taggers saved as small manifest folders that point at other taggers: ensembles and cascades.

A manifest folder holds one JSON file (``bioner_ensemble.json`` or ``bioner_cascade.json``) and perhaps a
README card; its members are local folders (stored relative to the manifest folder when they lie near it,
else absolute) or Hub ids. ``load_tagger`` checks for a manifest before anything else, so a manifest folder
(or a Hub repo holding one) is accepted wherever a model is. Nothing here imports ``bioner.tagging.taggers``:
the loader is passed in, which keeps the import graph acyclic.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from bioner.models.errors import ModelLoadError
from bioner.models.registry import is_hub_id

ENSEMBLE_FILE = "bioner_ensemble.json"
CASCADE_FILE = "bioner_cascade.json"
MANIFEST_FILES = (ENSEMBLE_FILE, CASCADE_FILE)
FORMAT_VERSION = 1
NEAR = 2
"""A member at most this many ``..`` levels above the manifest folder is stored by a relative path."""


@dataclass
class Manifest:
    """A manifest read from ``source`` (a local folder, or a Hub id with ``folder`` None)."""

    file: str
    data: dict
    source: str
    folder: Path | None

    @property
    def kind(self) -> str:
        return "ensemble" if self.file == ENSEMBLE_FILE else "cascade"


def find_manifest(name_or_path: str) -> Manifest | None:
    """The manifest of a local folder or Hub repo, or None when it holds none (or the Hub cannot be
    asked: the ordinary loader then reports the problem)."""
    if Path(name_or_path).is_dir():
        for file in MANIFEST_FILES:
            path = Path(name_or_path, file)
            if path.is_file():
                return Manifest(file, _read(path, name_or_path), name_or_path, Path(name_or_path))
        return None
    if not is_hub_id(name_or_path):
        return None
    from huggingface_hub import hf_hub_download  # the Hub client, imported only for Hub ids

    for file in MANIFEST_FILES:
        try:
            path = hf_hub_download(name_or_path, file)
        except Exception:  # noqa: BLE001 - not there, offline, unknown repo: not a manifest
            continue
        return Manifest(file, _read(Path(path), name_or_path), name_or_path, None)
    return None


def _read(path: Path, source: str) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ModelLoadError(f"'{source}': {path.name} is not readable JSON ({error})") from None
    if not isinstance(data, dict):
        raise ModelLoadError(f"'{source}': {path.name} must hold a JSON object")
    return data


def member_entry(reference: str, manifest_dir: str | Path) -> dict:
    """How a member is written into a manifest: ``{"path": ...}`` for a local folder (relative to
    ``manifest_dir`` when near it), ``{"model": ...}`` for a Hub id or alias."""
    if not Path(reference).exists():
        return {"model": reference}
    target = Path(reference).resolve()
    relative = os.path.relpath(target, Path(manifest_dir).resolve())
    if Path(relative).parts[: NEAR + 1].count("..") <= NEAR:
        return {"path": Path(relative).as_posix()}
    return {"path": str(target)}


def member_reference(entry: dict, manifest: Manifest) -> str:
    """What to load for a manifest entry: the local folder (checked) or the Hub id; a clear error
    otherwise."""
    if not isinstance(entry, dict) or ("path" in entry) == ("model" in entry):
        raise ModelLoadError(
            f"'{manifest.source}': {manifest.file} has a member {entry!r}; each needs one of 'path' (a local"
            " folder) or 'model' (a Hub id)"
        )
    if "model" in entry:
        return str(entry["model"])
    path = Path(entry["path"])
    if manifest.folder is None:  # a manifest from the Hub: only an absolute path on this machine can work
        if path.is_absolute() and path.exists():
            return str(path)
        raise ModelLoadError(
            f"'{manifest.source}' on the Hub names a local member '{entry['path']}' that is not on this"
            " machine; push the member to the Hub and rebuild the manifest with its Hub id"
        )
    resolved = path if path.is_absolute() else manifest.folder / path
    if not resolved.exists():
        raise ModelLoadError(
            f"'{manifest.source}': member folder '{entry['path']}' not found (looked at {resolved})"
        )
    return str(resolved)


def member_entries(manifest: Manifest) -> list:
    """The member entries of a manifest: an ensemble's members, a cascade's small and large taggers."""
    if manifest.kind == "ensemble":
        return list(manifest.data.get("members", []))
    return [manifest.data.get("small", {}), manifest.data.get("large", {})]


def hub_references(folder: str | Path) -> list[str]:
    """The local members of a manifest folder, which a Hub copy could not load (empty: it can be pushed)."""
    manifest = find_manifest(str(folder))
    if manifest is None:
        raise ModelLoadError(f"'{folder}' holds no {' or '.join(MANIFEST_FILES)}")
    return [
        entry["path"] for entry in member_entries(manifest) if isinstance(entry, dict) and "path" in entry
    ]


def check_new_folder(folder: str | Path) -> Path:
    """A folder to write a manifest into: refused when it exists and is not empty (never replace a run)."""
    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise FileExistsError(f"--output_dir {folder} exists and is not empty; choose a new folder")
    return folder


def write_manifest(folder: str | Path, file: str, data: dict) -> Path:
    """Write ``data`` (with the format version) as ``folder/file``; the folder must be new or empty."""
    folder = check_new_folder(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / file
    path.write_text(json.dumps({"format": FORMAT_VERSION, **data}, indent=2) + "\n", encoding="utf-8")
    return path


def manifest_card(folder: str | Path, repo_id: str) -> str:
    """A short README card for a pushed manifest folder: what it combines and how to load it."""
    manifest = find_manifest(str(folder))
    if manifest is None:
        raise ModelLoadError(f"'{folder}' holds no {' or '.join(MANIFEST_FILES)}")
    data = manifest.data
    lines = [
        "---",
        "library_name: bioner",
        "tags:",
        "- token-classification",
        "- ner",
        "- biomedical",
        f"- {manifest.kind}",
        "---",
        "",
    ]
    if manifest.kind == "ensemble":
        lines += [
            f"# {repo_id}",
            "",
            "An ensemble of token classifiers: each word's tag log-probabilities are",
            f"averaged with the weights below, then decoded with {data.get('decoding', 'viterbi')}.",
            "",
            "| member | weight | dev strict F1 |",
            "|---|---|---|",
        ]
        for entry in data.get("members", []):
            name = entry.get("model") or entry.get("path")
            lines.append(f"| `{name}` | {entry.get('weight')} | {entry.get('dev_f1', '')} |")
        dev = data.get("dev") or {}
        if "ensemble_f1" in dev:
            lines += [
                "",
                f"Ensemble dev strict F1: {dev['ensemble_f1']} ({dev.get('dataset')},"
                f" weights: {data.get('weights_chosen_by', 'given')}).",
            ]
    else:
        route = (
            f"threshold {data['threshold']}" if "threshold" in data else f"fraction {data.get('fraction')}"
        )
        small, large = data.get("small", {}), data.get("large", {})
        lines += [
            f"# {repo_id}",
            "",
            f"A confidence cascade: `{small.get('model') or small.get('path')}` tags",
            f"every sentence; those whose confidence ({data.get('confidence')}, temperature"
            f" {data.get('temperature', 1.0)}) is under the {route} go to"
            f" `{large.get('model') or large.get('path')}`.",
        ]
    lines += [
        "",
        "```python",
        "from bioner.tagging.taggers import load_tagger",
        "",
        f'tagger = load_tagger("{repo_id}")',
        'print(tagger([["Cisplatin", "induced", "nephrotoxicity"]]))',
        "```",
        "",
    ]
    return "\n".join(lines)
