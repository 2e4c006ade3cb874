"""Distillation: a teacher tagger labels an unlabelled pool, a student token classifier learns gold plus pool.

    python train_encoder.py --dataset bc5cdr --model_name_or_path minilm --teacher runs/ensemble \\
        --pool ../shared/pubmed/pubmed20n0014.xml.gz --pool_size 8000 \\
        --leakage_corpora ../shared/corpora/bc5cdr

The teacher is any tagger ``load_tagger`` opens (encoder, LLM token classifier, ensemble, generative
decoder). Where it has word scores (``word_log_probs``) the pool gets soft labels, its log-probabilities;
otherwise (a generative decoder) hard labels, its tags as one-hot distributions. Its label set must be the
student's (reordered to the student's order; any other difference is an error).

Teacher outputs are cached: ``<teacher_cache_dir>/<teacher-hash>-<pool-hash>/`` holds ``pool.jsonl`` (the
sentences' words and document ids), ``log_probs.npy`` (float16, ``[all pool words, labels]`` in the teacher's
label order, at temperature 1) and ``teacher.json`` (teacher, label kind, labels, pool source and size, the
leakage filter's counts). The teacher hash covers its resolved path and the names, sizes and modification
times of the files that define it (for an ensemble or cascade, each member's too): not its ``onnx/`` exports
nor the records a run or an evaluation writes beside the weights, so building a backend or re-scoring a
model keeps its cache; a ``--teacher_backend`` other than torch (e.g. torch-bf16, onnx-int8) is part of the
key. The pool hash covers the pool's words. A second student with the same teacher and pool reads the cache
and never loads the teacher.

Loss, per batch: the mean gold cross-entropy over gold words plus ``alpha * T**2 *`` the mean
KL(teacher_T || student_T) over pool words, both at each word's first sub-word (as the gold path labels it),
where ``_T`` is the distribution at temperature ``T``. Pool sentences are windowed like gold ones, never cut.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from datasets import Dataset, concatenate_datasets
from tqdm.auto import tqdm
from transformers import DataCollatorForTokenClassification

from bioner.corpora.pool import PoolReport, PoolSentence, build_pool, evaluation_pmids
from bioner.decoding.windows import IGNORE_INDEX, WordEncoder
from bioner.models.errors import ModelLoadError
from bioner.models.onnx import BACKENDS, TORCH
from bioner.models.registry import resolve
from bioner.tagging.manifests import find_manifest, member_entries, member_reference
from bioner.tagging.taggers import load_tagger
from bioner.training.encoder import WindowedTrainer, windowed_dataset, windowed_trainer

logger = logging.getLogger(__name__)

HARD_LOG_ZERO = -1.0e4
"""A hard label's log-probability of the tags it did not choose (exp = 0; finite in float16)."""
TEACHER_COLUMNS = ("teacher_positions", "teacher_log_probs")
META_FILE = "teacher.json"


@dataclass
class DistillArguments:
    teacher: str | None = field(
        default=None,
        metadata={
            "help": "Distil from this tagger (a model folder, Hub id, ensemble manifest or generative"
            " decoder) on --pool; its label set must be the student's."
        },
    )
    pool: str | None = field(
        default=None,
        metadata={"help": "Unlabelled text: a PubMed XML (.xml.gz), PubTator, BioC or JATS file or folder."},
    )
    pool_size: int = field(
        default=2000, metadata={"help": "Pool sentences (the first N in file order that pass the filter)."}
    )
    distill_alpha: float = field(default=1.0, metadata={"help": "Weight of the KL term."})
    distill_temperature: float = field(default=2.0, metadata={"help": "Temperature T of the KL term."})
    teacher_cache_dir: str = field(
        default="runs/teacher-cache", metadata={"help": "Where teacher outputs on pools are cached."}
    )
    leakage_corpora: list[str] = field(
        default_factory=list,
        metadata={
            "help": "Corpus releases (folders: their dev/test files; files: all documents) whose PMIDs no"
            " pool sentence may come from, e.g. ../shared/corpora/bc5cdr."
        },
    )
    teacher_batch_size: int = field(default=256, metadata={"help": "Pool sentences per teacher call."})
    teacher_backend: str = field(
        default=TORCH,
        metadata={
            "help": "How a token-classifier teacher (or an ensemble's members) runs: one of"
            f" {', '.join(BACKENDS)} (torch-bf16 labels a large pool ~2x faster on a CPU with"
            " AVX512-BF16/AMX). Part of the teacher cache's key."
        },
    )


@dataclass
class TeacherLabels:
    """The teacher's word distributions on a pool, in the student's label order."""

    sentences: list[PoolSentence]
    log_probs: list[np.ndarray]  # per sentence, [words, labels], float32
    kind: str  # "soft" or "hard"
    cache_dir: Path
    reused: bool
    meta: dict


def label_order(teacher_labels: Sequence[str], student_labels: Sequence[str], teacher: str) -> list[int]:
    """Column indices that put the teacher's labels in the student's order; an error when the sets differ."""
    if sorted(teacher_labels) != sorted(student_labels) or len(set(teacher_labels)) != len(teacher_labels):
        only_teacher = sorted(set(teacher_labels) - set(student_labels))
        only_student = sorted(set(student_labels) - set(teacher_labels))
        raise ModelLoadError(
            f"--teacher {teacher}: its labels differ from the student's (only the teacher has"
            f" {only_teacher or 'none'}, only the student has {only_student or 'none'})"
        )
    position = {label: i for i, label in enumerate(teacher_labels)}
    return [position[label] for label in student_labels]


# Files in a model folder that say nothing about what the teacher computes under torch.
NOT_THE_TEACHER = ("onnx", "checkpoint-", "results.json", "report.md", "predictions_", "f1_by_length.png",
                   "train.log", "wall_seconds.txt", "README.md")  # fmt: skip


def _defines_the_teacher(relative: Path) -> bool:
    return not any(part.startswith(NOT_THE_TEACHER) for part in relative.parts)


def teacher_fingerprint(teacher: str) -> str:
    """A hash of the teacher's resolved path and the names, sizes and modification times of the files that
    define it; for an ensemble or cascade manifest, also of each member's (so a member retrained in place is
    a new teacher, while an ONNX export or a re-scoring beside its weights is not)."""
    manifest = find_manifest(teacher)
    path = Path(resolve(teacher).path) if manifest is None else Path(teacher)
    files = []
    if path.exists():
        path = path.resolve()
        candidates = path.rglob("*") if path.is_dir() else [path]
        for file in sorted(candidates):
            if file.is_file() and (file == path or _defines_the_teacher(file.relative_to(path))):
                stat = file.stat()
                files.append([str(file.relative_to(path.parent)), stat.st_size, stat.st_mtime_ns])
    members = []
    if manifest is not None:
        members = [
            teacher_fingerprint(member_reference(entry, manifest)) for entry in member_entries(manifest)
        ]
    return hashlib.sha256(json.dumps([str(path), files, *members]).encode()).hexdigest()


def pool_fingerprint(sentences: Sequence[PoolSentence]) -> str:
    digest = hashlib.sha256()
    for sentence in sentences:
        digest.update(("\t".join(sentence.words) + "\n").encode())
    return digest.hexdigest()


def teacher_key(teacher: str, backend: str = TORCH) -> str:
    """The cache key's teacher half: its fingerprint, and the backend when it is not plain torch (so the
    keys of torch teachers cached before backends existed still hold)."""
    fingerprint = teacher_fingerprint(teacher)
    if backend != TORCH:
        fingerprint = hashlib.sha256(f"{fingerprint}\n{backend}".encode()).hexdigest()
    return fingerprint[:16]


def cache_folder(
    cache_dir: str | Path, teacher: str, sentences: Sequence[PoolSentence], backend: str = TORCH
) -> Path:
    return Path(cache_dir) / f"{teacher_key(teacher, backend)}-{pool_fingerprint(sentences)[:16]}"


def _hard_log_probs(tags: Sequence[str], labels: Sequence[str], teacher: str) -> np.ndarray:
    index = {label: i for i, label in enumerate(labels)}
    scores = np.full((len(tags), len(labels)), HARD_LOG_ZERO, dtype=np.float32)
    for word, tag in enumerate(tags):
        if tag not in index:
            raise ModelLoadError(f"--teacher {teacher}: tag {tag!r} is not one of its labels {list(labels)}")
        scores[word, index[tag]] = 0.0
    return scores


def run_teacher(tagger, sentences: Sequence[Sequence[str]], teacher: str, chunk: int = 256):
    """The teacher's ``[words, labels]`` log-probs per sentence (its label order) and the label kind, with a
    progress bar over sentences."""
    soft = hasattr(tagger, "word_log_probs")
    call = tagger.word_log_probs if soft else tagger
    quiet = {"progress": False} if "progress" in inspect.signature(call).parameters else {}
    labels = list(tagger.labels)
    results: list[np.ndarray] = []
    with tqdm(total=len(sentences), desc="Teacher labels", unit="sentence") as bar:
        for start in range(0, len(sentences), chunk):
            batch = [list(words) for words in sentences[start : start + chunk]]
            outputs = call(batch, **quiet)
            for words, output in zip(batch, outputs, strict=True):
                scores = (
                    np.asarray(output, dtype=np.float32) if soft else _hard_log_probs(output, labels, teacher)
                )
                if scores.shape != (len(words), len(labels)):
                    raise ModelLoadError(
                        f"--teacher {teacher}: gave {scores.shape} scores for {len(words)} words and"
                        f" {len(labels)} labels"
                    )
                results.append(scores)
            bar.update(len(batch))
    return results, "soft" if soft else "hard"


def _read_cache(folder: Path) -> tuple[dict, list[PoolSentence], np.ndarray] | None:
    if not (folder / META_FILE).is_file():
        return None
    meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
    with (folder / "pool.jsonl").open(encoding="utf-8") as handle:
        sentences = [PoolSentence(tuple(r["words"]), r["document_id"]) for r in map(json.loads, handle)]
    return meta, sentences, np.load(folder / "log_probs.npy")


def _write_cache(folder: Path, meta: dict, sentences: Sequence[PoolSentence], scores: list[np.ndarray]):
    """Write into a temporary folder, then rename: an interrupted run leaves no half cache behind."""
    partial_dir = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial_dir, ignore_errors=True)
    partial_dir.mkdir(parents=True)
    with (partial_dir / "pool.jsonl").open("w", encoding="utf-8") as handle:
        for sentence in sentences:
            handle.write(
                json.dumps({"document_id": sentence.document_id, "words": list(sentence.words)}) + "\n"
            )
    stacked = np.concatenate(scores) if scores else np.zeros((0, len(meta["labels"])))
    np.save(partial_dir / "log_probs.npy", stacked.astype(np.float16))
    (partial_dir / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    partial_dir.rename(folder)


def _larger_pool(
    cache_dir: str | Path, teacher: str, sentences: Sequence[PoolSentence], backend: str = TORCH
):
    """A cached labelling by the same teacher of a larger pool that starts with ``sentences`` (pools from one
    source are nested), cut to them: a pool-size sweep runs the teacher once, on its largest pool."""
    prefix = teacher_key(teacher, backend) + "-"
    for meta_file in sorted(Path(cache_dir).glob(f"{prefix}*/{META_FILE}")):
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        if meta.get("pool_size", 0) < len(sentences):
            continue
        cached = _read_cache(meta_file.parent)
        if cached is None or [s.words for s in cached[1][: len(sentences)]] != [s.words for s in sentences]:
            continue
        logger.info("teacher labels cut from the larger cached pool %s", meta_file.parent)
        words = sum(len(s.words) for s in sentences)
        return (
            {**meta, "pool_size": len(sentences), "cut_from": str(meta_file.parent)},
            list(cached[1][: len(sentences)]),
            cached[2][:words],
        )
    return None


def teacher_labels(
    teacher: str,
    sentences: list[PoolSentence],
    report: PoolReport,
    cache_dir: str | Path,
    student_labels: Sequence[str],
    *,
    load: Callable = load_tagger,
    chunk: int = 256,
    backend: str = TORCH,
) -> TeacherLabels:
    """The teacher's labels on the pool, from the cache when it holds them, else computed (by the teacher
    run on ``backend``) and cached."""
    folder = cache_folder(cache_dir, teacher, sentences, backend)
    cached = _read_cache(folder) or _larger_pool(cache_dir, teacher, sentences, backend)
    reused = cached is not None
    if cached is None:
        logger.info("labelling %d pool sentences with the teacher %s", len(sentences), teacher)
        try:
            tagger = load(teacher) if backend == TORCH else load(teacher, backend=backend)
        except ModelLoadError as error:
            raise ModelLoadError(f"--teacher {teacher}: {error}") from None
        label_order(tagger.labels, student_labels, teacher)  # fail before the long labelling run
        start = time.perf_counter()
        scores, kind = run_teacher(tagger, [s.words for s in sentences], teacher, chunk)
        meta = {
            "teacher": teacher,
            "teacher_path": str(resolve(teacher).path),
            "teacher_backend": backend,
            "label_kind": kind,
            "labels": list(tagger.labels),
            "pool_source": report.source,
            "pool_size": len(sentences),
            "words": int(sum(len(s.words) for s in sentences)),
            "teacher_seconds": round(time.perf_counter() - start, 1),
            "leakage": report.as_dict(),
        }
        _write_cache(folder, meta, sentences, scores)
        cached = _read_cache(folder)
    else:
        logger.info("teacher labels read from the cache %s (the teacher is not run)", folder)
    meta, cached_sentences, stacked = cached  # type: ignore[misc]
    if [s.words for s in cached_sentences] != [s.words for s in sentences]:
        raise ModelLoadError(f"{folder}: the cached pool differs from this pool; delete the folder")
    order = label_order(meta["labels"], student_labels, teacher)
    bounds = np.cumsum([0] + [len(s.words) for s in sentences])
    log_probs = [
        stacked[a:b][:, order].astype(np.float32) for a, b in zip(bounds[:-1], bounds[1:], strict=True)
    ]
    folder = Path(meta.get("cut_from", folder))
    return TeacherLabels(sentences, log_probs, meta["label_kind"], folder, reused, meta)


def pool_features(encoder: WordEncoder, labels: TeacherLabels) -> list[dict]:
    """Windows of the pool sentences: no gold labels; the teacher's log-probs at each word's first
    sub-word."""
    features = []
    for window in encoder.windows([s.words for s in labels.sentences]):
        rows = labels.log_probs[window.instance][window.start : window.end]
        features.append(
            {
                "input_ids": window.input_ids,
                "attention_mask": [1] * len(window.input_ids),
                "labels": [IGNORE_INDEX] * len(window.input_ids),
                "teacher_positions": list(window.first_subword),
                "teacher_log_probs": rows.tolist(),
            }
        )
    return features


class DistillCollator:
    """Pads like the gold path and adds ``teacher_log_probs`` ``[batch, width, labels]`` and ``teacher_mask``
    ``[batch, width]`` (true at pool words' first sub-words); dev batches (no teacher columns) pass
    through."""

    def __init__(self, tokenizer, num_labels: int):
        self.base = DataCollatorForTokenClassification(tokenizer)
        self.num_labels = num_labels
        self.left = getattr(tokenizer, "padding_side", "right") == "left"

    def __call__(self, features: list[dict]) -> dict:
        features = [dict(f) for f in features]
        teacher = [(f.pop(TEACHER_COLUMNS[0], None), f.pop(TEACHER_COLUMNS[1], None)) for f in features]
        batch = self.base(features)
        if all(positions is None for positions, _ in teacher):
            return batch
        size, width = batch["input_ids"].shape
        target = torch.zeros((size, width, self.num_labels))
        mask = torch.zeros((size, width), dtype=torch.bool)
        for row, (positions, rows) in enumerate(teacher):
            if positions:
                shift = width - len(features[row]["input_ids"]) if self.left else 0
                index = torch.tensor(positions) + shift
                target[row, index] = torch.tensor(rows, dtype=torch.float32)
                mask[row, index] = True
        batch["teacher_log_probs"], batch["teacher_mask"] = target, mask
        return batch


def distillation_loss(logits, labels, teacher_log_probs, teacher_mask, alpha: float, temperature: float):
    """Mean gold cross-entropy over gold words + alpha * T^2 * mean KL(teacher_T || student_T) over pool
    words."""
    logits = logits.float()
    gold = labels != IGNORE_INDEX
    loss = logits.sum() * 0.0  # keeps the graph when a batch has neither kind of word
    if gold.any():
        loss = loss + F.cross_entropy(logits[gold], labels[gold])
    if teacher_mask.any():
        student = F.log_softmax(logits[teacher_mask] / temperature, dim=-1)
        target = F.log_softmax(teacher_log_probs[teacher_mask].float() / temperature, dim=-1)
        kl = F.kl_div(student, target, log_target=True, reduction="batchmean")
        loss = loss + alpha * temperature**2 * kl
    return loss


class DistillTrainer(WindowedTrainer):
    """The windowed trainer with the distillation loss on batches that carry teacher labels."""

    def __init__(self, *args, alpha: float = 1.0, temperature: float = 1.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.alpha, self.temperature = alpha, temperature
        self.model_accepts_loss_kwargs = False  # the loss is a per-batch mean: averaged over accumulation

    def _set_signature_columns_if_needed(self):
        super()._set_signature_columns_if_needed()
        self._signature_columns += [c for c in TEACHER_COLUMNS if c not in self._signature_columns]

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if "teacher_mask" not in inputs:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        inputs = dict(inputs)
        teacher, mask, labels = (
            inputs.pop("teacher_log_probs"),
            inputs.pop("teacher_mask"),
            inputs.pop("labels"),
        )
        outputs = model(**inputs)
        loss = distillation_loss(outputs.logits, labels, teacher, mask, self.alpha, self.temperature)
        return (loss, outputs) if return_outputs else loss


def dataset_pool(
    source: str, size: int, dataset, word_style: str, leakage_corpora: Sequence[str] = ()
) -> tuple[list[PoolSentence], PoolReport]:
    """The pool of ``source`` kept apart from ``dataset``'s dev and test sentences (by normalised text), their
    document ids (when the dataset records them) and the dev/test PMIDs of ``leakage_corpora``."""
    pmids = evaluation_pmids(leakage_corpora)
    held_out = []
    for split in ("validation", "test"):
        if dataset is not None and split in dataset:
            held_out += dataset[split]["tokens"]
            if "document_id" in dataset[split].column_names:
                pmids.update(dataset[split]["document_id"])
    return build_pool(source, size, word_style=word_style, exclude_pmids=pmids, exclude_sentences=held_out)


def student_trainer(
    model, tokenizer, training_args, encoder: WordEncoder, dataset, labels: list[str], decoding: str,
    patience: int, distill_args: DistillArguments, word_style: str, load: Callable = load_tagger,
):  # fmt: skip
    """``windowed_trainer``, distilling from ``--teacher`` on ``--pool`` when one is given; also returns the
    run's distillation facts for ``results.json`` (empty without a teacher)."""
    if not distill_args.teacher:
        if distill_args.pool:
            raise ModelLoadError(
                "--pool needs --teacher (for masked-LM pre-training see bioner.training.dapt)"
            )
        return (
            *windowed_trainer(model, tokenizer, training_args, encoder, dataset, labels, decoding, patience),
            {},
        )
    if not distill_args.pool:
        raise ModelLoadError("--teacher needs --pool: the unlabelled text it labels")
    if distill_args.distill_temperature <= 0 or distill_args.distill_alpha < 0:
        raise ModelLoadError("--distill_temperature must be > 0 and --distill_alpha >= 0")
    if distill_args.teacher_backend not in BACKENDS:
        raise ModelLoadError(
            f"--teacher_backend {distill_args.teacher_backend!r}: one of {', '.join(BACKENDS)}"
        )
    sentences, report = dataset_pool(
        distill_args.pool, distill_args.pool_size, dataset, word_style, distill_args.leakage_corpora
    )
    teacher = teacher_labels(
        distill_args.teacher, sentences, report, distill_args.teacher_cache_dir, labels, load=load,
        chunk=distill_args.teacher_batch_size, backend=distill_args.teacher_backend,
    )  # fmt: skip
    _, gold = windowed_dataset(encoder, dataset["train"])
    features = gold.map(lambda _: {TEACHER_COLUMNS[0]: [], TEACHER_COLUMNS[1]: []})
    if sentences:
        pool = Dataset.from_list(pool_features(encoder, teacher))
        features = concatenate_datasets([features.cast(pool.features), pool])
    trainer, timer = windowed_trainer(
        model, tokenizer, training_args, encoder, dataset, labels, decoding, patience,
        train_features=features,
        trainer_class=partial(
            DistillTrainer, alpha=distill_args.distill_alpha, temperature=distill_args.distill_temperature
        ),
        data_collator=DistillCollator(tokenizer, len(labels)),
    )  # fmt: skip
    facts = {
        "teacher": distill_args.teacher,
        "teacher_label_kind": teacher.kind,
        "teacher_backend": distill_args.teacher_backend,
        "pool": distill_args.pool,
        "pool_size": len(sentences),
        "pool_size_requested": distill_args.pool_size,
        "distill_alpha": distill_args.distill_alpha,
        "distill_temperature": distill_args.distill_temperature,
        "teacher_cache": str(teacher.cache_dir),
        "teacher_cache_reused": teacher.reused,
        "leakage_corpora": list(distill_args.leakage_corpora),
        "leakage_dropped_pmid": report.dropped_pmid,
        "leakage_dropped_text": report.dropped_text,
        "leakage_excluded_pmids": report.excluded_pmids,
    }
    return trainer, timer, {"distillation": facts}


def distillation_card_section(facts: dict) -> str:
    """The model card's "Distillation" section (empty without a teacher)."""
    distill = facts.get("distillation")
    if not distill:
        return ""
    return "\n".join(
        [
            "## Distillation",
            "",
            f"- teacher: `{distill['teacher']}` ({distill['teacher_label_kind']} labels)",
            f"- pool: {distill['pool_size']} sentences of `{distill['pool']}`",
            f"- loss: gold cross-entropy + {distill['distill_alpha']} · T² · KL(teacher ∥ student),"
            f" T = {distill['distill_temperature']}",
            f"- leakage filter: {distill['leakage_dropped_pmid']} sentences dropped for an evaluation PMID,"
            f" {distill['leakage_dropped_text']} for the text of a dev/test sentence",
        ]
    )
