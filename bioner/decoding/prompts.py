"""How a decoder LLM is asked for BIO tags, and how its answer is written and tokenized.

An instance becomes a prompt (instruction + the space-joined words) and an answer with one line per input
word:

* ``tags`` (default): ``word<B-Chemical>`` -- each BIO tag is one added special token, so a tag costs one
  generated token whatever its name's length (the seed's own caveat about long tag names);
* ``paper``: the seed's format -- an Alpaca-style prompt without chat template and ``word:B-Chemical`` lines,
  the tag spelled out in ordinary sub-words.

Every line ends with a newline and the answer with the tokenizer's EOS. The answer's token ids are built piece
by piece -- each word (with its separator) and each tag tokenized on its own, in context -- and the decoder
forces exactly the same pieces at inference, so the ids it sees are the ids training produced.
``whole_answer_ids`` gives the ids of the answer string tokenized at once; tests check both agree for the
tokenizers we ship.

The prompt is rendered once (through the chat template when the format uses one) into a fixed prefix and
suffix around the words, saved with the model (``bioner_decoder.json``), so inference never re-renders a
template whose output could change (dates, default system prompts).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bioner.data.tags import split_tag

ANSWER_FORMATS = ("tags", "paper")
"""How the answer is written (``--answer_format``); the saved ``PromptFormat.output_format`` is one of
these."""
FORMAT_FILE = "bioner_decoder.json"
SYSTEM_PROMPT = "You are a biomedical named-entity tagger."
_SENTENCE_SLOT = "\x00SENTENCE\x00"

_TAGS_INSTRUCTION = (
    "Tag the {types} entities in this sentence. Answer with one line per word: the word, then its BIO tag."
    "\nSentence: {sentence}"
)
_PAPER_TEMPLATE = (
    "The instruction below comes with an input. Write a response that carries out the instruction for that "
    "input.\n\n### Instruction:\nFind the named entities in the input and label every token with the BIO "
    "scheme. Entity types: {types}.\n\n### Input:\n{sentence}\n\n### Response:\n"
)


class PromptFormatError(ValueError):
    """A prompt format cannot be built or read; the message says why."""


@dataclass
class PromptFormat:
    """Everything inference needs to rebuild the training prompt and answer (saved beside the model)."""

    output_format: str
    labels: list[str]
    prompt_prefix: str
    prompt_suffix: str
    add_special_tokens: bool = False
    chat_template: bool = False
    word_tag_separator: str = ""
    line_end: str = "\n"
    version: int = 1
    extra: dict = field(default_factory=dict)

    @property
    def entity_types(self) -> list[str]:
        return sorted({split_tag(label)[1] for label in self.labels if label != "O"})

    def tag_text(self, tag: str) -> str:
        """How a tag is written in the answer."""
        return f"<{tag}>" if self.output_format == "tags" else tag

    @property
    def tag_tokens(self) -> list[str]:
        """The added special tokens (``tags`` format), one per label."""
        return [self.tag_text(tag) for tag in self.labels] if self.output_format == "tags" else []

    def prompt(self, words: Sequence[str]) -> str:
        return self.prompt_prefix + " ".join(words) + self.prompt_suffix

    def answer(self, words: Sequence[str], tags: Sequence[str]) -> str:
        """The answer text without EOS: ``word<SEP>TAG`` lines, each ending with ``line_end``."""
        return "".join(
            f"{word}{self.word_tag_separator}{self.tag_text(tag)}{self.line_end}"
            for word, tag in zip(words, tags, strict=True)
        )

    def split_line(self, line: str) -> tuple[str, str | None]:
        """``(word, tag)`` of one answer line; ``tag`` is None when the line carries no known tag."""
        for tag in sorted(self.labels, key=len, reverse=True):
            ending = self.word_tag_separator + self.tag_text(tag)
            if line.endswith(ending):
                return line[: len(line) - len(ending)], tag
        if self.word_tag_separator and self.word_tag_separator in line:
            return line.rsplit(self.word_tag_separator, 1)[0], None
        return line, None

    def save(self, directory: str | Path) -> Path:
        path = Path(directory) / FORMAT_FILE
        path.write_text(json.dumps(asdict(self), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, directory: str | Path) -> PromptFormat:
        path = Path(directory) / FORMAT_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(**data)
        except (OSError, json.JSONDecodeError, TypeError) as error:
            raise PromptFormatError(f"{path}: not a bioner decoder format file ({error})") from None


def build_prompt_format(
    output_format: str,
    labels: Sequence[str],
    tokenizer=None,
    use_chat_template: bool | None = None,
    system_prompt: str | None = SYSTEM_PROMPT,
) -> PromptFormat:
    """The prompt format for ``labels``; ``use_chat_template=None`` uses the tokenizer's template for
    ``tags``.

    A chat template is rendered with ``system_prompt`` as the system message, which replaces any default
    system prompt the template would inject (SmolLM2's names itself; Llama 3.1's adds dates). Templates that
    reject a system role are rendered without one.
    """
    if output_format not in ANSWER_FORMATS:
        raise PromptFormatError(f"--answer_format must be one of {ANSWER_FORMATS}, got {output_format!r}")
    labels = list(labels)
    types = ", ".join(sorted({split_tag(label)[1] for label in labels if label != "O"}))
    has_template = tokenizer is not None and bool(getattr(tokenizer, "chat_template", None))
    if use_chat_template is None:
        use_chat_template = output_format == "tags" and has_template
    if use_chat_template and not has_template:
        raise PromptFormatError("--use_chat_template: the tokenizer has no chat template")
    if output_format == "paper":
        user = _PAPER_TEMPLATE.format(types=types, sentence=_SENTENCE_SLOT)
        separator = ":"
    else:
        user = _TAGS_INSTRUCTION.format(types=types, sentence=_SENTENCE_SLOT)
        separator = ""
    if use_chat_template:
        rendered = _render_chat(tokenizer, user, system_prompt)
        add_special_tokens = False  # the template writes BOS itself where the model has one
    else:
        rendered = user if output_format == "paper" else user + "\nTags:\n"
        add_special_tokens = True
    prefix, suffix = rendered.split(_SENTENCE_SLOT)
    return PromptFormat(
        output_format=output_format,
        labels=labels,
        prompt_prefix=prefix,
        prompt_suffix=suffix,
        add_special_tokens=add_special_tokens,
        chat_template=bool(use_chat_template),
        word_tag_separator=separator,
    )


def _render_chat(tokenizer, user: str, system_prompt: str | None) -> str:
    messages = [{"role": "user", "content": user}]
    if system_prompt:
        try:
            return tokenizer.apply_chat_template(
                [{"role": "system", "content": system_prompt}, *messages],
                tokenize=False,
                add_generation_prompt=True,
            )
        except Exception:  # noqa: BLE001 - templates signal "no system role" with arbitrary exceptions
            pass
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


class AnswerTokenizer:
    """Token ids of prompts and answers, built from pieces that the decoder can force one word at a time.

    Pieces are tokenized in context: each is tokenized after an anchor (the text that precedes it in a real
    answer) and the anchor's ids are removed, so SentencePiece's dummy prefix or a BPE merge with the anchor
    cannot creep in.
    """

    def __init__(self, tokenizer, prompt_format: PromptFormat):
        self.tokenizer, self.format = tokenizer, prompt_format
        if tokenizer.eos_token_id is None:
            raise PromptFormatError("the tokenizer has no EOS token; the answer could not end")
        self.eos_id: int = tokenizer.eos_token_id
        line_anchor = prompt_format.tag_text("O") + prompt_format.line_end
        self._first_anchor = prompt_format.prompt_suffix[-1:] or "\n"
        self._word_anchor = line_anchor
        self.tag_ids: dict[str, list[int]] = {
            tag: self._continuation(self._tag_anchor(), prompt_format.tag_text(tag))
            for tag in prompt_format.labels
        }
        missing = [tag for tag, ids in self.tag_ids.items() if not ids]
        if missing:
            raise PromptFormatError(f"tags {missing} tokenize to nothing")

    def _tag_anchor(self) -> str:
        return "x" + self.format.word_tag_separator

    def _ids(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def _continuation(self, anchor: str, text: str) -> list[int]:
        anchor_ids = self._ids(anchor)
        ids = self._ids(anchor + text)
        if ids[: len(anchor_ids)] == anchor_ids:
            return ids[len(anchor_ids) :]
        return self._ids(text)

    def prompt_ids(self, words: Sequence[str]) -> list[int]:
        return self.tokenizer(self.format.prompt(words), add_special_tokens=self.format.add_special_tokens)[
            "input_ids"
        ]

    def word_ids(self, words: Sequence[str]) -> list[list[int]]:
        """Ids forced for each word: the previous line's end (after the first word), the word, the
        separator."""
        separator, line_end = self.format.word_tag_separator, self.format.line_end
        pieces = []
        for index, word in enumerate(words):
            if index == 0:
                pieces.append(self._continuation(self._first_anchor, word + separator))
            else:
                pieces.append(self._continuation(self.format.tag_text("O"), line_end + word + separator))
        return pieces

    def final_ids(self) -> list[int]:
        """Ids after the last tag: its line end, then EOS."""
        return self._continuation(self.format.tag_text("O"), self.format.line_end) + [self.eos_id]

    def answer_ids(self, words: Sequence[str], tags: Sequence[str]) -> list[int]:
        """The answer's ids exactly as the decoder forces and chooses them."""
        ids: list[int] = []
        for piece, tag in zip(self.word_ids(words), tags, strict=True):
            ids += piece + self.tag_ids[tag]
        return ids + self.final_ids() if words else ids + [self.eos_id]

    def whole_answer_ids(self, words: Sequence[str], tags: Sequence[str]) -> list[int]:
        """The answer string (with EOS) tokenized at once, in context after the prompt's last character."""
        return self._continuation(self._first_anchor, self.format.answer(words, tags)) + [self.eos_id]

    def example(self, words: Sequence[str], tags: Sequence[str]) -> dict[str, list[int]]:
        """A TRL-ready tokenized example: ``input_ids`` and ``completion_mask`` (1 on the answer only)."""
        prompt, answer = self.prompt_ids(words), self.answer_ids(words, tags)
        return {"input_ids": prompt + answer, "completion_mask": [0] * len(prompt) + [1] * len(answer)}


class InstanceTooLongError(PromptFormatError):
    """A single word does not fit the token limit together with the prompt."""


def fit_windows(
    words: Sequence[str], tags: Sequence[str], answers: AnswerTokenizer, limit: int
) -> list[tuple[list[str], list[str], dict[str, list[int]]]]:
    """Windows ``(words, tags, example)`` of an instance whose prompt + answer fit ``limit`` tokens.

    One window when the instance fits; otherwise consecutive windows, each as long as fits, cut before a B-/O
    tag where possible (an ``I-X`` opening a window becomes ``B-X``). ``example`` is
    `AnswerTokenizer.example`.
    Raises `InstanceTooLongError` when a single word cannot fit.
    """
    words, tags = list(words), list(tags)
    example = answers.example(words, tags)
    if len(example["input_ids"]) <= limit:
        return [(words, tags, example)]
    windows, start = [], 0
    while start < len(words):
        end = len(words)
        while (
            end > start + 1 and len(answers.example(words[start:end], tags[start:end])["input_ids"]) > limit
        ):
            end = start + max(1, (end - start) * 3 // 4)
        while end < len(words) and end > start + 1 and tags[end].startswith("I-"):
            end -= 1  # do not cut an entity when avoidable
        window_tags = list(tags[start:end])
        if window_tags[0].startswith("I-"):
            window_tags[0] = "B-" + window_tags[0][2:]
        example = answers.example(words[start:end], window_tags)
        if len(example["input_ids"]) > limit:
            raise InstanceTooLongError(
                f"the word {words[start]!r} alone does not fit --max_length {limit} with the prompt;"
                " raise --max_length"
            )
        windows.append((words[start:end], window_tags, example))
        start = end
    return windows
