"""Decoding BIO tags from a prompted decoder LLM: ``constrained`` (default) and ``free``.

* ``constrained``: the answer's words are forced and only the tags are chosen. Each step feeds, for every
  instance in the batch, the ids still to be forced (the rest of the last tag, the line end, the next word and
  its separator) in one forward pass, reusing the KV cache, and reads the next-token distribution at the end of
  that chunk. The choice is greedy over the tokens that continue a tag allowed after the previous one (I-X only
  after B-X or I-X), walking a token trie when a tag spans several sub-words (``paper`` format). So the
  forward passes per instance are one per word (``tags`` format) plus one per extra branching sub-word, and the
  output is aligned and valid IOB2 by construction.
* ``free``: the seed's way -- greedy generation (never sampled), the text parsed line by line and aligned to the
  input words (``bioner.alignment``), every repair counted.

If free generation writes the same words with the canonical ids, and valid tags, it makes the same greedy choices
as ``constrained``, so both give the same tags (tested). Batched steps can differ from unbatched ones in the last
bits of the logits; a near-tie could then flip.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from bioner.alignment import align_answer, sum_counts
from bioner.bio import allowed_transitions
from bioner.prompts import AnswerTokenizer

DECODING_MODES = ("constrained", "free")


@dataclass
class DecodeOutput:
    """Tags per instance, with the cost of producing them."""

    tags: list[list[str]]
    forward_passes: list[int]
    generated_tokens: list[int]
    alignment: dict[str, int] = field(default_factory=dict)


class _TagTrie:
    """Token-id trie over the tags allowed in one state: ``children[node][token] -> node``, ``tag_at[node]``."""

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
    chosen: list[int] = field(default_factory=list)
    passes: int = 0

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

    def __call__(self, sentences: Sequence[Sequence[str]], progress: bool = True) -> DecodeOutput:
        order = sorted(range(len(sentences)), key=lambda i: -len(sentences[i]))
        tags: list[list[str]] = [[] for _ in sentences]
        passes, generated = [0] * len(sentences), [0] * len(sentences)
        bar = tqdm(total=len(sentences), desc="constrained decoding", unit="inst", disable=not progress)
        for start in range(0, len(order), self.batch_size):
            batch = [self._instance(i, sentences[i]) for i in order[start : start + self.batch_size]]
            self._decode_batch([inst for inst in batch if not inst.done])
            for inst in batch:
                tags[inst.index], passes[inst.index] = inst.tags, inst.passes
                generated[inst.index] = self._answer_length(inst)
            bar.update(len(batch))
        bar.close()
        return DecodeOutput(tags, passes, generated)

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
        device = self.model.device
        mask = torch.zeros((len(active), 0), dtype=torch.long, device=device)
        lengths = torch.zeros(len(active), dtype=torch.long, device=device)
        while active:
            width = max(len(inst.pending) for inst in active)
            ids = torch.full((len(active), width), self.pad_id, dtype=torch.long, device=device)
            chunk_mask = torch.zeros((len(active), width), dtype=torch.long, device=device)
            for row, inst in enumerate(active):  # left-pad inside the chunk: the last column is real for all
                ids[row, width - len(inst.pending) :] = torch.tensor(inst.pending, device=device)
                chunk_mask[row, width - len(inst.pending) :] = 1
            positions = (lengths[:, None] + chunk_mask.cumsum(dim=1) - 1).clamp(min=0)
            mask = torch.cat([mask, chunk_mask], dim=1)
            with torch.no_grad(), self._autocast():
                output = self.model(
                    input_ids=ids,
                    attention_mask=mask,
                    position_ids=positions,
                    cache=cache,
                    use_cache=True,
                    logits_to_keep=1,
                )
            cache, lengths = output.cache, lengths + chunk_mask.sum(dim=1)
            logits = output.logits[:, -1, :].float()
            for row, inst in enumerate(active):
                inst.passes += 1
                self._advance(inst, logits[row])
            keep = [row for row, inst in enumerate(active) if not inst.done]
            if len(keep) < len(active):
                active = [active[row] for row in keep]
                if not active:
                    break
                index = torch.tensor(keep, device=device)
                cache.batch_select_indices(index)
                mask, lengths = mask[index], lengths[index]

    def _advance(self, inst: _Instance, logits: torch.Tensor) -> None:
        """Choose the next tag token greedily among allowed ones, then force what is determined."""
        trie = self._tries[inst.state]
        options = list(trie.children[inst.node])
        ends_here = inst.node in trie.tag_at and inst.node != 0
        follow = self._following_first_id(inst) if ends_here else None
        candidates = options + ([follow] if follow is not None and follow not in options else [])
        scores = logits[torch.tensor(candidates, device=logits.device)]
        choice = candidates[int(torch.argmax(scores))]
        pending: list[int] = []
        if choice in trie.children[inst.node]:
            inst.node = trie.children[inst.node][choice]
            inst.chosen.append(choice)
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
        inst.state, inst.node, inst.chosen = tag, 0, []
        inst.word += 1
        if not inst.done:
            inst.pending = pending + inst.pieces[inst.word]

    def _autocast(self):
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.model.device.type, dtype=self.autocast_dtype)


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
    mode: str, model, answer_tokenizer: AnswerTokenizer, batch_size: int = 8, autocast_dtype=None
):
    """The decoder for ``mode`` (``constrained`` or ``free``)."""
    if mode not in DECODING_MODES:
        raise ValueError(f"--decoding must be one of {DECODING_MODES}, got {mode!r}")
    cls = ConstrainedDecoder if mode == "constrained" else FreeDecoder
    return cls(model, answer_tokenizer, batch_size=batch_size, autocast_dtype=autocast_dtype)
