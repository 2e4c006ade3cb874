"""Decoding BIO tags from a prompted decoder LLM: ``constrained`` (default), ``speculative`` and ``free``.

* ``constrained``: the answer's words are forced and only the tags are chosen. Each step feeds, for every
  instance in the batch, the ids still to be forced (the rest of the last tag, the line end, the next word and
  its separator) in one forward pass, reusing the KV cache, and reads the next-token distribution at the end
  of that chunk. The choice is greedy over the tokens that continue a tag allowed after the previous one (I-X
  only after B-X or I-X), walking a token trie when a tag spans several sub-words (``paper`` format). So the
  forward passes per instance are one per word (``tags`` format) plus one per extra branching sub-word, and
  the output is aligned and valid IOB2 by construction.
* ``speculative``: ``constrained``'s output at a fraction of its passes -- a draft of the tags (an encoder's,
  or all ``O``) is checked in one pass and only corrected where the decoder disagrees
  (``SpeculativeDecoder``).
* ``free``: the seed's way -- greedy generation (never sampled), the text parsed line by line and aligned to
  the input words (``bioner.decoding.alignment``), every repair counted.

If free generation writes the same words with the canonical ids, and valid tags, it makes the same greedy
choices as ``constrained``, so both give the same tags (tested). Batched steps can differ from unbatched ones
in the last bits of the logits; a near-tie could then flip.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from tqdm.auto import tqdm

from bioner.decoding.alignment import align_answer, sum_counts
from bioner.decoding.prompts import AnswerTokenizer
from bioner.decoding.viterbi import allowed_transitions, viterbi_decode

DECODING_MODES = ("constrained", "free", "speculative")
ALL_O_DRAFT = "all-O"


@dataclass
class DecodeOutput:
    """Tags per instance, with the cost of producing them (and, for ``speculative``, the draft's share)."""

    tags: list[list[str]]
    forward_passes: list[int]
    generated_tokens: list[int]
    alignment: dict[str, int] = field(default_factory=dict)
    drafts: list[list[str]] = field(default_factory=list)  # speculative: each draft as given
    corrections: list[int] = field(default_factory=list)
    final_corrections: list[int] = field(default_factory=list)
    draft_seconds: float = 0.0


class _TagTrie:
    """Token-id trie over the tags allowed in one state: ``children[node][token] -> node``,
    ``tag_at[node]``."""

    def __init__(self, tag_ids: dict[str, list[int]], allowed: Sequence[str]):
        self.children: list[dict[int, int]] = [{}]
        self.tag_at: dict[int, str] = {}
        for tag in allowed:
            node = 0
            for token in tag_ids[tag]:
                node = self.children[node].setdefault(token, self._new_node())
            self.tag_at[node] = tag

    def _new_node(self) -> int:
        self.children.append({})
        return len(self.children) - 1


@dataclass
class _Instance:
    index: int
    words: list[str]
    pieces: list[list[int]]
    pending: list[int]
    state: str = "O"
    node: int = 0
    word: int = 0
    tags: list[str] = field(default_factory=list)
    passes: int = 0
    draft: list[str] = field(default_factory=list)  # the current draft (re-drafted after corrections)
    first_draft: list[str] = field(default_factory=list)  # the draft as given, before any verification
    draft_scores: np.ndarray | None = (
        None  # [words, labels] log-probs of a scoring draft, decoder label order
    )
    decisions: list[tuple[int, int]] = field(default_factory=list)
    corrections: int = 0
    ended_on_correction: bool = False

    @property
    def done(self) -> bool:
        return self.word >= len(self.words)


class ConstrainedDecoder:
    """Greedy BIO-constrained decoding of forced answers, batched across instances, one pass per word."""

    def __init__(self, model, answer_tokenizer: AnswerTokenizer, batch_size: int = 8, autocast_dtype=None):
        self.model, self.answers = model, answer_tokenizer
        self.batch_size, self.autocast_dtype = batch_size, autocast_dtype
        labels = answer_tokenizer.format.labels
        start_ok, step_ok = allowed_transitions(labels)
        self._tries = {
            "<start>": _TagTrie(
                answer_tokenizer.tag_ids, [t for t, ok in zip(labels, start_ok, strict=True) if ok]
            )
        }
        for i, previous in enumerate(labels):
            allowed = [t for t, ok in zip(labels, step_ok[i], strict=True) if ok]
            self._tries[previous] = _TagTrie(answer_tokenizer.tag_ids, allowed)
        self.pad_id = _pad_id(answer_tokenizer.tokenizer)
        self._final_ids = answer_tokenizer.final_ids()

    mode = "constrained"

    def __call__(self, sentences: Sequence[Sequence[str]], progress: bool = True) -> DecodeOutput:
        order = sorted(range(len(sentences)), key=lambda i: -len(sentences[i]))
        empty = [[] for _ in sentences]
        zeros = [0] * len(sentences)
        output = DecodeOutput(empty, list(zeros), list(zeros), {}, list(empty), list(zeros), list(zeros))
        bar = tqdm(total=len(sentences), desc=f"{self.mode} decoding", unit="inst", disable=not progress)
        for start in range(0, len(order), self.batch_size):
            batch = self._instances(order[start : start + self.batch_size], sentences, output)
            self._decode_batch([inst for inst in batch if not inst.done])
            for inst in batch:
                self._collect(inst, output)
            bar.update(len(batch))
        bar.close()
        return output

    def _instances(self, indices: list[int], sentences, output: DecodeOutput) -> list[_Instance]:
        return [self._instance(i, sentences[i]) for i in indices]

    def _collect(self, inst: _Instance, output: DecodeOutput) -> None:
        output.tags[inst.index], output.forward_passes[inst.index] = inst.tags, inst.passes
        output.generated_tokens[inst.index] = self._answer_length(inst)

    def _answer_length(self, inst: _Instance) -> int:
        """Tokens of the answer the decoder settled on (what free generation would have had to write)."""
        tag_tokens = sum(len(self.answers.tag_ids[tag]) for tag in inst.tags)
        return sum(map(len, inst.pieces)) + tag_tokens + len(self._final_ids) if inst.words else 1

    def _instance(self, index: int, words: Sequence[str]) -> _Instance:
        words = list(words)
        pieces = self.answers.word_ids(words)
        pending = self.answers.prompt_ids(words) + (pieces[0] if words else [])
        return _Instance(index, words, pieces, pending, state="<start>")

    def _decode_batch(self, active: list[_Instance]) -> None:
        if not active:
            return
        cache = None
        mask = torch.zeros((len(active), 0), dtype=torch.long, device=self.model.device)
        while active:
            ids, chunk_mask, positions = self._chunk(active, mask)
            mask = torch.cat([mask, chunk_mask], dim=1)
            output = self._forward(ids, mask, positions, cache, logits_to_keep=1)
            cache, logits = output.cache, output.logits[:, -1, :].float()
            for row, inst in enumerate(active):
                inst.passes += 1
                self._advance(inst, logits[row])
            active, mask = _drop_finished(active, mask, cache)

    def _chunk(self, active: list[_Instance], mask: torch.Tensor):
        """Each instance's ``pending`` ids, left-padded inside the chunk (the last column is real for all).

        Returns ``(ids, chunk_mask, position_ids)``; positions count only the attended (mask 1) ids before.
        """
        device = self.model.device
        width = max(len(inst.pending) for inst in active)
        ids = torch.full((len(active), width), self.pad_id, dtype=torch.long, device=device)
        chunk_mask = torch.zeros((len(active), width), dtype=torch.long, device=device)
        for row, inst in enumerate(active):
            ids[row, width - len(inst.pending) :] = torch.tensor(inst.pending, device=device)
            chunk_mask[row, width - len(inst.pending) :] = 1
        positions = (mask.sum(dim=1, keepdim=True) + chunk_mask.cumsum(dim=1) - 1).clamp(min=0)
        return ids, chunk_mask, positions

    def _forward(self, ids, mask, positions, cache, logits_to_keep):
        with torch.no_grad(), self._autocast():
            return self.model(
                input_ids=ids,
                attention_mask=mask,
                position_ids=positions,
                cache=cache,
                use_cache=True,
                logits_to_keep=logits_to_keep,
            )

    def _advance(self, inst: _Instance, logits: torch.Tensor) -> None:
        self._apply(inst, self._choose(inst, logits))

    def _candidates(self, inst: _Instance) -> list[int]:
        """Tokens allowed at the current decision point: tag continuations, or ending the tag here."""
        trie = self._tries[inst.state]
        options = list(trie.children[inst.node])
        if inst.node in trie.tag_at and inst.node != 0:
            follow = self._following_first_id(inst)
            if follow not in options:
                options.append(follow)
        return options

    def _choose(self, inst: _Instance, logits: torch.Tensor) -> int:
        """The greedy choice among the allowed tokens (ties go to the first candidate)."""
        candidates = self._candidates(inst)
        scores = logits[torch.tensor(candidates, device=logits.device)]
        return candidates[int(torch.argmax(scores))]

    def _apply(self, inst: _Instance, choice: int) -> None:
        """Take ``choice``, then set ``pending`` to the ids forced up to the next decision point."""
        trie = self._tries[inst.state]
        pending: list[int] = []
        if choice in trie.children[inst.node]:
            inst.node = trie.children[inst.node][choice]
            pending.append(choice)
            while len(trie.children[inst.node]) == 1 and inst.node not in trie.tag_at:
                ((token, child),) = trie.children[inst.node].items()
                pending.append(token)
                inst.node = child
            if trie.children[inst.node]:  # still ambiguous: choose again after this chunk
                inst.pending = pending
                return
        self._finish_tag(inst, trie.tag_at[inst.node], pending)

    def _following_first_id(self, inst: _Instance) -> int:
        nxt = inst.word + 1
        return (
            inst.pieces[nxt][0]
            if nxt < len(inst.pieces) and inst.pieces[nxt]
            else self.answers.final_ids()[0]
        )

    def _finish_tag(self, inst: _Instance, tag: str, pending: list[int]) -> None:
        inst.tags.append(tag)
        inst.state, inst.node = tag, 0
        inst.word += 1
        if not inst.done:
            inst.pending = pending + inst.pieces[inst.word]

    def _autocast(self):
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.model.device.type, dtype=self.autocast_dtype)


class SpeculativeDecoder(ConstrainedDecoder):
    """``constrained`` decoding checked against a draft of the tags (an encoder's, or all ``O``).

    The drafted answer (forced words plus drafted tags) is fed in one forward pass; the decoder's own
    constrained choice is read at every decision point, the longest prefix where it equals the draft is kept,
    its choice replaces the first disagreement, and a new draft of the rest is fed after it, reusing the KV
    cache. An encoder draft re-drafts the rest by Viterbi over its word scores, starting from the verified tag
    (a rejected entity start does not leave orphan ``I-X`` tags behind to be corrected one by one); a fixed
    draft keeps its tags, ``I-X`` read as ``B-X`` where the correction made it invalid. Rejected positions
    stay in the cache but are masked out, so rows of a batch can be corrected at different places. Every
    choice is the same greedy choice over the same candidates as ``constrained``, so the output is the same
    (up to floating-point ties, as between batch sizes); a sentence costs ``1 + corrections`` forward passes,
    less one when the very last decision was the correction (nothing follows it).

    Why not transformers' assisted generation: ``generate(assistant_model=..., prompt_lookup_num_tokens=...)``
    verifies candidates with the logits processors applied, which would carry the constraint, but
    (transformers 5.24) it refuses batches (``assisted generate is only supported for batch_size = 1``), picks
    its candidate generator internally from a fixed list (a causal assistant model, prompt lookup, early exit,
    MTP) with no argument for a custom one -- an encoder's per-word tags fit none of them -- and caps each
    draft with its own ``num_assistant_tokens`` schedule.
    """

    mode = "speculative"

    def __init__(
        self,
        model,
        answer_tokenizer: AnswerTokenizer,
        draft: str | Callable = "all-O",
        batch_size: int = 8,
        autocast_dtype=None,
    ):
        super().__init__(model, answer_tokenizer, batch_size=batch_size, autocast_dtype=autocast_dtype)
        if draft != ALL_O_DRAFT and not (callable(draft) or hasattr(draft, "word_log_probs")):
            raise ValueError(f"draft must be {ALL_O_DRAFT!r} or a tagger (an encoder), got {draft!r}")
        labels = set(answer_tokenizer.format.labels)
        unknown = sorted(set(getattr(draft, "labels", [])) - labels)
        if unknown:
            raise ValueError(
                f"the draft model predicts tags {unknown} that the decoder does not know ({sorted(labels)});"
                " draft with an encoder trained on the same dataset"
            )
        self.draft = draft
        self._labels = list(answer_tokenizer.format.labels)
        self._allowed = {state: set(trie.tag_at.values()) for state, trie in self._tries.items()}

    def _instances(self, indices: list[int], sentences, output: DecodeOutput) -> list[_Instance]:
        batch = super()._instances(indices, sentences, output)
        start = time.perf_counter()
        words = [inst.words for inst in batch]
        if self.draft == ALL_O_DRAFT:
            drafts = [["O"] * len(w) for w in words]
        elif hasattr(self.draft, "word_log_probs"):  # an encoder: its scores re-draft after corrections
            for inst, scores in zip(batch, self.draft.word_log_probs(words), strict=True):
                inst.draft_scores = self._to_decoder_labels(np.asarray(scores))
            drafts = [self._viterbi(inst, 0, None) for inst in batch]
        else:
            drafts = self.draft(words, progress=False)
        output.draft_seconds += time.perf_counter() - start
        for inst, draft in zip(batch, drafts, strict=True):
            if len(draft) != len(inst.words):
                raise ValueError(f"the draft gave {len(draft)} tags for {len(inst.words)} words")
            inst.draft, inst.first_draft = list(draft), list(draft)
        return batch

    def _to_decoder_labels(self, scores: np.ndarray) -> np.ndarray:
        columns = np.full((scores.shape[0], len(self._labels)), -np.inf)
        for j, label in enumerate(self.draft.labels):
            columns[:, self._labels.index(label)] = scores[:, j]
        return columns

    def _viterbi(self, inst: _Instance, start: int, previous: str | None) -> list[str]:
        indices = viterbi_decode(inst.draft_scores[start:], self._labels, previous=previous)
        return [self._labels[i] for i in indices]

    def _redraft(self, inst: _Instance) -> None:
        """After a correction, the best encoder path for the remaining words that continues the verified
        tags."""
        if inst.draft_scores is not None and inst.node == 0 and not inst.done:
            inst.draft = inst.draft[: inst.word] + self._viterbi(inst, inst.word, inst.state)

    def _collect(self, inst: _Instance, output: DecodeOutput) -> None:
        super()._collect(inst, output)
        output.drafts[inst.index], output.corrections[inst.index] = inst.first_draft, inst.corrections
        output.final_corrections[inst.index] = int(inst.ended_on_correction)

    def _decode_batch(self, active: list[_Instance]) -> None:
        if not active:
            return
        for inst in active:
            inst.pending, inst.decisions = self._draft_chunk(inst)
        cache = None
        mask = torch.zeros((len(active), 0), dtype=torch.long, device=self.model.device)
        while active:
            ids, chunk_mask, positions = self._chunk(active, mask)
            mask = torch.cat([mask, chunk_mask], dim=1)
            output = self._forward(ids, mask, positions, cache, logits_to_keep=self._decision_columns(active))
            cache, logits = output.cache, output.logits.float()
            for row, inst in enumerate(active):
                inst.passes += 1
                first_column = mask.shape[1] - len(inst.pending)
                rejected = self._verify(inst, logits[row])
                if rejected is not None:
                    mask[row, first_column + rejected :] = 0  # drafted ids after the correction
            active, mask = _drop_finished(active, mask, cache)

    def single_pass(self, sentences: Sequence[Sequence[str]]) -> None:
        """Only the first forward pass (prompt and drafted answer, logits at the decision points), no
        checking.

        With the gold tags as the draft this is the one-pass floor: what any generative tagger must at least
        compute for an instance. Used by ``benchmark_latency.py``.
        """
        output = DecodeOutput([], [], [])
        for start in range(0, len(sentences), self.batch_size):
            indices = list(range(start, min(start + self.batch_size, len(sentences))))
            active = [inst for inst in self._instances(indices, sentences, output) if not inst.done]
            if not active:
                continue
            for inst in active:
                inst.pending, inst.decisions = self._draft_chunk(inst)
            mask = torch.zeros((len(active), 0), dtype=torch.long, device=self.model.device)
            ids, chunk_mask, positions = self._chunk(active, mask)
            self._forward(ids, chunk_mask, positions, None, logits_to_keep=self._decision_columns(active))

    def _decision_columns(self, active: list[_Instance]) -> torch.Tensor:
        """``(rows, K)`` chunk columns whose logits decide something (rows padded by repeating their last)."""
        width = max(len(inst.pending) for inst in active)
        most = max(len(inst.decisions) for inst in active)
        columns = []
        for inst in active:
            row = [width - len(inst.pending) + offset for offset, _ in inst.decisions]
            columns.append(row + row[-1:] * (most - len(row)))
        return torch.tensor(columns, dtype=torch.long, device=self.model.device)

    def _verify(self, inst: _Instance, logits: torch.Tensor) -> int | None:
        """Replay the decisions on the verifier's logits; the chunk offset of the first rejected id, if
        any."""
        for k, (offset, drafted) in enumerate(inst.decisions):
            choice = self._choose(inst, logits[k])
            self._apply(inst, choice)
            if choice != drafted:
                inst.corrections += 1
                if inst.done:  # the last decision: nothing follows, no further pass
                    inst.ended_on_correction = True
                else:
                    self._redraft(inst)
                    inst.pending, inst.decisions = self._draft_chunk(inst)
                return offset + 1
        if not inst.done:  # the draft always runs to the end of the answer
            raise RuntimeError("speculative decoding: a fully accepted draft left the answer unfinished")
        return None

    def _draft_chunk(self, inst: _Instance) -> tuple[list[int], list[tuple[int, int]]]:
        """The ids from ``inst.pending`` to the answer's last decision under the draft, and the decisions on
        the way: ``(offset of the id whose logits decide, drafted choice)``."""
        sim = replace(inst, tags=list(inst.tags))
        chunk: list[int] = []
        decisions: list[tuple[int, int]] = []
        while True:
            chunk += sim.pending
            drafted = self._drafted_token(sim)
            decisions.append((len(chunk) - 1, drafted))
            self._apply(sim, drafted)
            if sim.done:
                return chunk, decisions

    def _drafted_token(self, inst: _Instance) -> int:
        """The token the draft's tag for the current word puts at the current decision point."""
        trie = self._tries[inst.state]
        node = 0
        for token in self.answers.tag_ids[self._draft_tag(inst)]:
            if node == inst.node:
                return token
            node = trie.children[node][token]
        if node == inst.node:  # the drafted tag ends here
            return self._following_first_id(inst)
        return self._candidates(inst)[0]  # a correction left the drafted tag's path: any valid continuation

    def _draft_tag(self, inst: _Instance) -> str:
        tag = inst.draft[inst.word]
        allowed = self._allowed[inst.state]
        if tag in allowed:
            return tag
        if tag.startswith("I-") and "B-" + tag[2:] in allowed:
            return "B-" + tag[2:]
        return "O"


def _drop_finished(active: list[_Instance], mask: torch.Tensor, cache):
    """Rows still decoding (their cache rows and mask rows kept)."""
    keep = [row for row, inst in enumerate(active) if not inst.done]
    if len(keep) == len(active) or not keep:
        return [active[row] for row in keep], mask
    index = torch.tensor(keep, device=mask.device)
    cache.batch_select_indices(index)
    return [active[row] for row in keep], mask[index]


class FreeDecoder:
    """Greedy generation (``do_sample=False``), parsed and aligned to the input words."""

    def __init__(self, model, answer_tokenizer: AnswerTokenizer, batch_size: int = 8, autocast_dtype=None):
        self.model, self.answers = model, answer_tokenizer
        self.batch_size, self.autocast_dtype = batch_size, autocast_dtype
        self.pad_id = _pad_id(answer_tokenizer.tokenizer)

    def max_new_tokens(self, words: Sequence[str]) -> int:
        """Room for the answer with the longest tag on every word, plus slack for a model that rambles."""
        longest_tag = max(len(ids) for ids in self.answers.tag_ids.values())
        exact = sum(len(p) for p in self.answers.word_ids(words)) + longest_tag * len(words)
        return int(exact * 1.25) + len(self.answers.final_ids()) + 8

    def __call__(self, sentences: Sequence[Sequence[str]], progress: bool = True) -> DecodeOutput:
        from transformers import GenerationConfig

        order = sorted(range(len(sentences)), key=lambda i: -len(sentences[i]))
        tags: list[list[str]] = [[] for _ in sentences]
        passes, generated, counts = [0] * len(sentences), [0] * len(sentences), [{} for _ in sentences]
        tokenizer, eos = self.answers.tokenizer, self.answers.eos_id
        device = self.model.device
        bar = tqdm(total=len(sentences), desc="free decoding", unit="inst", disable=not progress)
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            prompts = [self.answers.prompt_ids(sentences[i]) for i in batch]
            width = max(len(p) for p in prompts)
            ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long, device=device)
            mask = torch.zeros_like(ids)
            for row, prompt in enumerate(prompts):
                ids[row, width - len(prompt) :] = torch.tensor(prompt, device=device)
                mask[row, width - len(prompt) :] = 1
            config = GenerationConfig(
                do_sample=False,
                num_beams=1,
                max_new_tokens=max(self.max_new_tokens(sentences[i]) for i in batch),
                eos_token_id=eos,
                pad_token_id=self.pad_id,
            )
            with torch.no_grad(), self._autocast():
                output = self.model.generate(input_ids=ids, attention_mask=mask, generation_config=config)
            for row, i in enumerate(batch):
                new = output[row, width:].tolist()
                length = new.index(eos) + 1 if eos in new else len(new)
                text = tokenizer.decode(new[: length - (eos in new)], skip_special_tokens=False)
                tags[i], counts[i] = align_answer(text, list(sentences[i]), self.answers.format)
                counts[i]["unterminated"] = int(eos not in new)
                passes[i] = generated[i] = length
            bar.update(len(batch))
        bar.close()
        return DecodeOutput(tags, passes, generated, sum_counts(counts))

    def _autocast(self):
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.model.device.type, dtype=self.autocast_dtype)


def _pad_id(tokenizer) -> int:
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id


def make_decoder(
    mode: str,
    model,
    answer_tokenizer: AnswerTokenizer,
    batch_size: int = 8,
    autocast_dtype=None,
    draft: str | Callable | None = None,
):
    """The decoder for ``mode``; ``draft`` (``"all-O"`` or an encoder tagger) is used by ``speculative``
    only."""
    if mode not in DECODING_MODES:
        raise ValueError(f"--decoding must be one of {DECODING_MODES}, got {mode!r}")
    if mode == "speculative":
        return SpeculativeDecoder(
            model,
            answer_tokenizer,
            draft or ALL_O_DRAFT,
            batch_size=batch_size,
            autocast_dtype=autocast_dtype,
        )
    cls = ConstrainedDecoder if mode == "constrained" else FreeDecoder
    return cls(model, answer_tokenizer, batch_size=batch_size, autocast_dtype=autocast_dtype)
