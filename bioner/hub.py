"""Publish bioner artefacts on the Hugging Face Hub: the metric as a Space, datasets, and models with cards.

Usage::

    python -m bioner.hub push-metric ORG/NAME [--metric_dir metrics/bio_ner] [--private]
    python -m bioner.hub push-manifest ENSEMBLE_OR_CASCADE_FOLDER ORG/NAME [--private]

Everything goes through ``huggingface_hub.HfApi`` (and ``DatasetDict.push_to_hub``), so the endpoint comes
from ``HF_ENDPOINT`` and, when no token is passed, the token from huggingface_hub's usual lookup
(``HF_TOKEN``, then ``hf auth login``). Tokens are never printed or written. Hub and network failures are
turned into a `HubPublishError` with a one-line explanation of what to do; the CLI prints it without a
traceback.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx2
from huggingface_hub import CommitOperationAdd, DatasetCard, EvalResult, HfApi, ModelCard, ModelCardData
from huggingface_hub.errors import HfHubHTTPError, HFValidationError
from huggingface_hub.utils import filter_repo_objects

import metrics
from bioner.models.errors import ModelLoadError
from bioner.models.onnx import passed_backends
from bioner.models.registry import DECODER, ENCODER, LLM_TOKEN_CLASSIFIER
from bioner.tagging.manifests import hub_references, manifest_card

if TYPE_CHECKING:
    import datasets

DEFAULT_METRIC_DIR = (
    Path(metrics.__file__).resolve().parent / "bio_ner"
)  # the metric module, checkout or installed
TAGS = ["token-classification", "ner", "biomedical", "bioner"]
# Local clutter that must not be published with a model folder or the metric module.
IGNORED = ["checkpoint-*", "runs/*", "*__pycache__*", "*.pyc", ".*"]
# model_type -> (library_name, pipeline_tag) for the card's metadata.
MODEL_TYPES = {
    ENCODER: ("transformers", "token-classification"),
    DECODER: ("transformers", "text-generation"),
    "adapter": ("peft", "text-generation"),
    LLM_TOKEN_CLASSIFIER: ("transformers", "token-classification"),
    f"{LLM_TOKEN_CLASSIFIER}-adapter": ("peft", "token-classification"),
}
SCHEMES = {"strict": "Strict", "exact": "Exact boundary", "partial": "Relaxed (partial)", "ent_type": "Type"}


class HubPublishError(RuntimeError):
    """A Hub operation failed for a reason the user can act on (network, login, permissions, bad repo id)."""


@contextmanager
def _hub_errors(action: str, api: HfApi) -> Iterator[None]:
    """Turn huggingface_hub/httpx failures into one-line `HubPublishError`s that say what to do."""
    try:
        yield
    except HfHubHTTPError as err:
        status = err.response.status_code
        if status in (401, 403):
            raise HubPublishError(
                f"{action}: the Hub refused the request ({status}). Log in with `hf auth login` or set"
                " HF_TOKEN to a token with write access to that namespace."
            ) from None
        detail = (err.server_message or str(err)).strip().splitlines()[0]
        raise HubPublishError(f"{action}: the Hub answered {status}: {detail}") from None
    except httpx2.TransportError as err:
        raise HubPublishError(
            f"{action}: cannot reach the Hub at {api.endpoint} ({type(err).__name__}: {err}). Check the"
            " network connection, or HF_ENDPOINT if it is set."
        ) from None
    except HFValidationError as err:
        raise HubPublishError(f"{action}: {str(err).splitlines()[0]}") from None


def _publishable_files(folder: Path) -> list[tuple[Path, str]]:
    """(path, path relative to ``folder``) of the files to publish, with the same filter as upload_folder."""
    relative = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    return [(folder / rel, rel) for rel in filter_repo_objects(relative, ignore_patterns=IGNORED)]


def push_metric_space(
    repo_id: str, metric_dir: Path = DEFAULT_METRIC_DIR, token: str | None = None, private: bool = False
) -> str:
    """Publish the metric module folder as a Gradio Space so ``evaluate.load(repo_id)`` works.

    ``evaluate`` fetches ``<space name>.py`` from the Space, so the folder's main module (``<folder
    name>.py``) is uploaded under the Space's name; sibling files (``scoring.py``, README card, ``app.py``,
    ``requirements.txt``) keep theirs, which keeps relative imports working. evaluate-cli cannot do this
    with huggingface_hub 2.x, hence create_repo + one commit. Returns the Space URL.
    """
    metric_dir = Path(metric_dir)
    module = metric_dir / f"{metric_dir.name}.py"
    if not module.is_file():
        raise HubPublishError(f"{metric_dir} has no metric module {module.name}")
    space_name = repo_id.rsplit("/", 1)[-1]
    operations = [
        CommitOperationAdd(
            path_in_repo=f"{space_name}.py" if path == module else rel, path_or_fileobj=str(path)
        )
        for path, rel in _publishable_files(metric_dir)
    ]
    api = HfApi(token=token)
    with _hub_errors(f"publishing metric Space {repo_id}", api):
        url = api.create_repo(repo_id, repo_type="space", space_sdk="gradio", private=private, exist_ok=True)
        api.create_commit(
            repo_id,
            operations=operations,
            repo_type="space",
            commit_message=f"Upload metric from {metric_dir.name}",
        )
    return str(url)


def push_dataset(
    dsdict: datasets.DatasetDict, repo_id: str, card: str, token: str | None = None, private: bool = False
) -> str:
    """Push a DatasetDict as parquet with ``card`` as its README, keeping the card's text and YAML.

    The card is uploaded *before* ``push_to_hub``: datasets then reads that README back and only adds its
    ``dataset_info`` and ``configs`` YAML keys (the authoritative description of the data just pushed), so
    the card's prose and other metadata (licence, pretty_name, tags...) survive without a merge of our own.
    A ``dataset_info`` already in the card is dropped first, as push_to_hub would replace it anyway (and
    warn if its split entries lack ``num_bytes``). Returns the dataset URL.
    """
    readme = DatasetCard(card)
    if "dataset_info" in readme.data:
        readme.data.pop("dataset_info")
        card = str(readme)
    api = HfApi(token=token)
    with _hub_errors(f"pushing dataset {repo_id}", api):
        url = api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        api.upload_file(
            path_or_fileobj=card.encode(),
            path_in_repo="README.md",
            repo_id=repo_id,
            repo_type="dataset",
            commit_message="Update dataset card",
        )
        dsdict.push_to_hub(repo_id, token=token, private=private)
    return str(url)


def _link(name: str, kind: str = "") -> str:
    """Markdown link to a Hub page when ``name`` looks like a Hub id; a local path is named by its last
    component only (a pushed card must not carry this machine's paths)."""
    return f"[{name}](https://huggingface.co/{kind}{name})" if _is_hub_id(name) else f"`{Path(name).name}`"


def _is_hub_id(name: str) -> bool:
    return re.fullmatch(r"[\w.-]+(/[\w.-]+)?", name) is not None and not Path(name).exists()


def _results_table(results: Mapping[str, Any]) -> str:
    """Markdown P/R/F1 table of every split entry that holds scheme scores (entries like ``meta`` are
    skipped)."""
    rows = [
        f"| {split} | {scheme} | {s[scheme]['precision']:.4f} | {s[scheme]['recall']:.4f}"
        f" | {s[scheme]['f1']:.4f} |"
        for split, s in results.items()
        for scheme in SCHEMES
        if isinstance(s, Mapping) and isinstance(s.get(scheme), Mapping)
    ]
    if not rows:
        return "No scores were recorded for this model."
    return "\n".join(["| split | scheme | precision | recall | F1 |", "|---|---|---|---|---|", *rows])


def model_card(
    *,
    base_model: str,
    dataset: str,
    results: Mapping[str, Any],
    model_type: str = "encoder",
    extra: str = "",
    repo_id: str | None = None,
    backends: Mapping[str, Mapping[str, Any]] | None = None,
) -> str:
    """A README.md for a trained tagger: Hub metadata (model-index with test-split scores) plus prose.

    ``results`` maps split -> scores as written by the training/evaluation scripts (``results["test"]
    ["strict"]["f1"]`` etc.); entries without scheme scores are ignored. The model-index carries strict
    precision/recall/F1 and relaxed (partial) F1 on the test split, so the Hub shows them on the model page.
    ``model_type`` is ``encoder``, ``decoder`` or ``adapter`` (a PEFT adapter: library ``peft``). ``repo_id``
    names the model in the model-index and in the usage snippets; ``extra`` is appended as more prose.
    A ``base_model`` that is a local path (it exists on disk) is named by its folder name in the prose and
    left out of the metadata, which must hold Hub ids; a local ``dataset`` folder is recorded by its folder
    name. ``backends`` (``bioner.models.onnx.passed_backends``) lists the faster CPU backends that passed
    their dev parity check.
    """
    if model_type not in MODEL_TYPES:
        raise ValueError(f"model_type must be one of {sorted(MODEL_TYPES)}, not {model_type!r}")
    library, pipeline_tag = MODEL_TYPES[model_type]
    model_name = repo_id.rsplit("/", 1)[-1] if repo_id else f"{Path(base_model).name}-ner"
    dataset_id = dataset if _is_hub_id(dataset) else Path(dataset).name
    test = results.get("test")
    test = test if isinstance(test, Mapping) else {}
    eval_results = [
        EvalResult(
            task_type="token-classification",
            task_name="Named Entity Recognition",
            dataset_type=dataset_id,
            dataset_name=dataset_id,
            dataset_split="test",
            metric_type=metric,
            metric_config=scheme,
            metric_value=round(float(test[scheme][metric]), 4),
            metric_name=f"{SCHEMES[scheme]} {'F1' if metric == 'f1' else metric}",
        )
        for scheme, metric in [
            ("strict", "precision"),
            ("strict", "recall"),
            ("strict", "f1"),
            ("partial", "f1"),
        ]
        if isinstance(test.get(scheme), Mapping) and metric in test[scheme]
    ]
    data = ModelCardData(
        base_model=base_model if _is_hub_id(base_model) else None,
        datasets=[dataset_id],
        library_name=library,
        pipeline_tag=pipeline_tag,
        tags=TAGS,
        metrics=["precision", "recall", "f1"],
        model_name=model_name if eval_results else None,
        eval_results=eval_results or None,
    )
    ref = repo_id or "<repo-id>"
    if model_type == ENCODER:
        what = f"a token classifier fine-tuned from {_link(base_model)} with bioner's `train_encoder.py`"
        usage = (
            "from transformers import pipeline\n\n"
            f'tagger = pipeline("token-classification", model="{ref}", aggregation_strategy="first")'
        )
    elif model_type.startswith(LLM_TOKEN_CLASSIFIER):
        adapter = (
            "a LoRA adapter (with its BIO head) on" if model_type.endswith("adapter") else "fine-tuned from"
        )
        what = (
            f"a decoder LLM read as a one-pass token classifier, {adapter} {_link(base_model)} with"
            " bioner's `train_encoder.py` (the attention mask it was trained with is in"
            " `bioner_token_classifier.json`, which bioner re-applies on loading)"
        )
        usage = (
            "# pip install -r requirements.txt from the bioner repository\n"
            "from bioner.tagging.taggers import load_tagger\n\n"
            f'tagger = load_tagger("{ref}")\n'
            'print(tagger([["Cisplatin", "induced", "nephrotoxicity", "."]]))'
        )
    elif model_type == "adapter":
        what = (
            f"a LoRA adapter on {_link(base_model)}, trained with bioner to write one BIO tag per input word"
        )
        usage = _decoder_usage(ref)
    else:
        what = (
            f"a causal language model fine-tuned from {_link(base_model)} to write one BIO tag per input word"
        )
        usage = _decoder_usage(ref)
    body = f"""
# {model_name}

Biomedical named-entity recognition (BIO tagging): {what}, on the {_link(dataset, "datasets/")} dataset.

## Usage

```python
{usage}
```

## Evaluation

Entity-level scores in the SemEval-2013 way: *strict* needs the exact span and type, *partial* ("relaxed")
gives half credit to a prediction that overlaps a gold entity. To reproduce them with the project's `bio_ner`
metric:

```bash
python evaluate_ner.py --model {ref} --dataset {dataset_id}
```

{_results_table(results)}
"""
    if backends:
        body += _backends_section(backends, ref)
    if extra:
        body += f"\n{extra.strip()}\n"
    return str(ModelCard(f"---\n{data.to_yaml()}\n---\n{body}"))


def _backends_section(backends: Mapping[str, Mapping[str, Any]], ref: str) -> str:
    """The card's list of CPU backends (``onnx/``) with their dev strict F1 against fp32 PyTorch."""
    rows = [
        f"| `{name}` | {entry.get('fp32_f1', float('nan')):.4f} | {entry.get('backend_f1', float('nan')):.4f}"
        f" | {100 * entry.get('delta', 0.0):+.2f} | {entry.get('dev_sentences', '')} |"
        for name, entry in backends.items()
    ]
    return (
        "\n## Faster CPU backends\n\nBuilt by `python -m bioner.evaluation.backends` and checked on the dev"
        " split: each scores within 0.5 strict-F1 points of fp32 PyTorch.\n\n"
        "| backend | dev strict F1, fp32 | dev strict F1, backend | Δ (points) | dev sentences |\n"
        "|---|---|---|---|---|\n" + "\n".join(rows) + "\n\n```bash\n"
        f"python tag.py --model {ref} --backend {next(iter(backends))} --input abstracts.txt\n```\n"
    )


def push_training_output(
    training_args,
    *,
    base_model: str,
    dataset: str,
    results: Mapping[str, Any],
    model_type: str,
    extra: str = "",
) -> str:
    """Upload a training run's ``output_dir`` once, with a model card; the repo is ``--hub_model_id`` or the
    folder's name, with ``--hub_token`` and ``--hub_private_repo``. Returns the model URL."""
    repo_id = training_args.hub_model_id or Path(training_args.output_dir).name
    card = model_card(
        base_model=base_model,
        dataset=dataset,
        results=results,
        model_type=model_type,
        extra=extra,
        repo_id=repo_id,
        backends=passed_backends(training_args.output_dir),
    )
    return push_model_folder(
        training_args.output_dir,
        repo_id,
        card,
        token=training_args.hub_token,
        private=bool(training_args.hub_private_repo),
    )


def push_model_with_backends(
    folder: str | Path, repo_id: str, token: str | None = None, private: bool = False
) -> str:
    """Push a trained encoder folder as it is now (weights and ``onnx/``), with a card from its
    ``results.json`` that lists the CPU backends that passed their dev parity check; returns the model URL."""
    folder = Path(folder)
    results_path = folder / "results.json"
    results = json.loads(results_path.read_text()) if results_path.is_file() else {}
    meta = results.pop("meta", {})
    card = model_card(
        base_model=meta.get("model", "unknown"),
        dataset=meta.get("dataset", "unknown"),
        results=results,
        model_type=meta.get("model_kind", ENCODER),
        repo_id=repo_id,
        backends=passed_backends(folder),
    )
    return push_model_folder(folder, repo_id, card, token=token, private=private)


def _decoder_usage(ref: str) -> str:
    """Decoders need bioner: it rebuilds the prompt, the tag tokens and the decoding from
    bioner_decoder.json."""
    return (
        "# pip install -r requirements.txt from the bioner repository\n"
        "from bioner.tagging.taggers import load_tagger\n\n"
        f'tagger = load_tagger("{ref}", decoding="constrained")  # or "free"\n'
        'print(tagger([["Cisplatin", "induced", "nephrotoxicity", "."]]))'
    )


def push_model_folder(
    folder: Path, repo_id: str, card: str, token: str | None = None, private: bool = False
) -> str:
    """Upload a saved model/adapter folder with ``card`` as README.md, in one commit; returns the model URL.

    The card is also written into ``folder`` so the local copy matches the Hub. Training leftovers
    (``checkpoint-*``, ``runs/``, caches, dotfiles) are not uploaded.
    """
    folder = Path(folder)
    (folder / "README.md").write_text(card, encoding="utf-8")
    api = HfApi(token=token)
    with _hub_errors(f"pushing model {repo_id}", api):
        url = api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
        api.upload_folder(folder_path=folder, repo_id=repo_id, repo_type="model", ignore_patterns=IGNORED)
    return str(url)


def push_manifest_folder(
    folder: str | Path, repo_id: str, token: str | None = None, private: bool = False
) -> str:
    """Push an ensemble or cascade manifest folder (``bioner.tagging.manifests``) with a short card. Its
    members must be Hub ids (a Hub copy cannot reach local folders); returns the model URL."""
    local = hub_references(folder)
    if local:
        raise HubPublishError(
            f"{folder} points at local folders ({', '.join(local)}); push them to the Hub and rebuild the"
            " manifest with their Hub ids"
        )
    return push_model_folder(
        Path(folder), repo_id, manifest_card(folder, repo_id), token=token, private=private
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bioner.hub", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    metric = commands.add_parser("push-metric", help="publish the metric module as a Space for evaluate.load")
    metric.add_argument("repo_id", metavar="ORG/NAME")
    metric.add_argument("--metric_dir", type=Path, default=DEFAULT_METRIC_DIR)
    metric.add_argument("--private", action="store_true")
    manifest = commands.add_parser("push-manifest", help="publish an ensemble or cascade manifest folder")
    manifest.add_argument("folder", type=Path)
    manifest.add_argument("repo_id", metavar="ORG/NAME")
    manifest.add_argument("--private", action="store_true")
    args = parser.parse_args(argv)
    try:
        if args.command == "push-manifest":
            url = push_manifest_folder(args.folder, args.repo_id, private=args.private)
        else:
            url = push_metric_space(args.repo_id, args.metric_dir, private=args.private)
    except (HubPublishError, ModelLoadError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
