"""The one Hub push at the end of a training run: the output folder with a model card carrying the scores."""

from __future__ import annotations

import logging
from pathlib import Path

from bioner.hub import push_training_output
from bioner.models.registry import DECODER, ENCODER, LLM_TOKEN_CLASSIFIER, base_model_id

logger = logging.getLogger(__name__)

ADAPTER_FILE = "adapter_config.json"


def card_model_type(output_dir: str | Path, kind: str) -> str:
    """The card's model type (``bioner.hub.MODEL_TYPES``) of a run of ``kind`` (encoder, LLM token classifier
    or decoder) saved in ``output_dir``: LoRA runs saved only an adapter."""
    adapter = (Path(output_dir) / ADAPTER_FILE).is_file()
    if kind == LLM_TOKEN_CLASSIFIER:
        return LLM_TOKEN_CLASSIFIER + ("-adapter" if adapter else "")
    if kind == DECODER:
        return "adapter" if adapter else DECODER
    return ENCODER


def decoder_card_section(prompt_format, decoding: str) -> str:
    """The card's "Prompt and answer" section of a decoder: how it was asked and how it answers."""
    tags = ", ".join(f"`{token}`" for token in prompt_format.tag_tokens) or "none (tags written as text)"
    return "\n".join(
        [
            "## Prompt and answer",
            "",
            f"- output format: `{prompt_format.output_format}` (one"
            f" `word{prompt_format.word_tag_separator}TAG`"
            " line per input word, then EOS)",
            f"- tag tokens: {tags}",
            f"- chat template: {'yes' if prompt_format.chat_template else 'no'}",
            f"- decoding used for the scores above: `{decoding}` (greedy)",
            "- the exact prompt, tag set and max length are in `bioner_decoder.json`",
        ]
    )


def push_with_card(
    training_args, model_name: str, dataset: str, scores: dict, kind: str, extra: str = ""
) -> str:
    """Upload ``output_dir`` once, with a model card whose model-index carries the test scores; returns the
    URL."""
    url = push_training_output(
        training_args,
        base_model=base_model_id(model_name),
        dataset=dataset,
        results=scores,
        model_type=card_model_type(training_args.output_dir, kind),
        extra=extra,
    )
    logger.info("pushed to %s", url)
    return url
