"""Lifting the causal mask of a decoder LLM, in all layers or only some, for token classification.

A decoder LLM read as a token classifier sees only the words to the left of each word. Following "Looking
Right is Sometimes Right" (Dukić & Šnajder 2024) and LS-LLaMA (Li et al. 2023), chosen layers attend in both
directions: their causal mask is replaced by a padding-only (key padding) mask. Sliding-window layers (Gemma
3) keep their window, in both directions.

The change is made with forward hooks, so it works for any model whose decoder layers receive
``attention_mask`` as a keyword argument (Llama, Mistral, Qwen2, Gemma 2/3, ...), with the eager and SDPA
attention kernels, and it survives PEFT wrapping. The chosen layers are stored in the model config
(``bioner_unmasked_layers``) so a saved model is reloaded with the same attention.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

UNMASKED_LAYERS_KEY = "bioner_unmasked_layers"
ATTENTION_MODES = ("causal", "bidirectional")


def decoder_layers(model) -> torch.nn.ModuleList:
    """The transformer blocks of a decoder LLM (also inside a PEFT wrapper or a token-classification head)."""
    for module in model.modules():
        layers = getattr(module, "layers", None)
        if isinstance(layers, torch.nn.ModuleList) and hasattr(module, "config") and len(layers):
            return layers
    raise ValueError(f"{type(model).__name__} has no decoder layers ('layers' ModuleList) to unmask")


def parse_unmasked_layers(attention: str, spec: str, num_layers: int) -> list[int]:
    """Layer indices to unmask: none for ``causal``; for ``bidirectional``, ``spec`` is ``all``, ``last:K``,
    ``first:K`` or comma-separated indices (negative ones count from the end)."""
    if attention not in ATTENTION_MODES:
        raise ValueError(f"--attention must be one of {ATTENTION_MODES}, got {attention!r}")
    if attention == "causal":
        return []
    text = spec.strip().lower()
    if text in ("", "all"):
        return list(range(num_layers))
    try:
        if text.startswith(("last:", "first:")):
            where, count = text.split(":", 1)
            k = int(count)
            if not 0 < k <= num_layers:
                raise ValueError
            return list(range(num_layers - k, num_layers)) if where == "last" else list(range(k))
        indices = sorted({int(part) % num_layers for part in text.split(",") if part.strip()})
        if any(not -num_layers <= int(part) < num_layers for part in text.split(",") if part.strip()):
            raise ValueError
        return indices
    except ValueError:
        raise ValueError(
            f"--unmasked_layers {spec!r}: expected 'all', 'last:K', 'first:K' (1 <= K <= {num_layers}) or"
            f" comma-separated layer indices in [-{num_layers}, {num_layers})"
        ) from None


class _Unmasker:
    """Hooks that give the chosen layers a padding-only mask, built once per forward pass."""

    def __init__(self, base_model, layers: torch.nn.ModuleList, indices: Sequence[int]):
        self.config = base_model.config
        self.padding_mask: torch.Tensor | None = None
        self.masks: dict[str, torch.Tensor | None] = {}
        self.uncausal: list[torch.nn.Module] = []
        self.handles = [base_model.register_forward_pre_hook(self._remember_padding, with_kwargs=True)]
        layer_types = getattr(self.config, "layer_types", None) or []
        for index in indices:
            layer = layers[index]
            kind = layer_types[index] if index < len(layer_types) else "full_attention"
            for module in layer.modules():
                if getattr(module, "is_causal", None) is True:
                    module.is_causal = False  # SDPA reads this when no mask is passed
                    self.uncausal.append(module)
            self.handles.append(layer.register_forward_pre_hook(self._hook_for(kind), with_kwargs=True))

    def _remember_padding(self, module, args, kwargs):
        self.padding_mask = kwargs.get("attention_mask")
        self.masks = {}
        return None

    def _mask(self, kind: str, hidden_states: torch.Tensor):
        if kind not in self.masks:
            from transformers.masking_utils import (
                create_bidirectional_mask,
                create_bidirectional_sliding_window_mask,
            )

            padding = self.padding_mask
            if padding is not None and padding.dim() != 2:
                raise ValueError("bidirectional layers need a 2D padding mask (batch, length)")
            window = getattr(self.config, "sliding_window", None)
            make = (
                create_bidirectional_sliding_window_mask if kind == "sliding_attention" and window else None
            )
            make = make or create_bidirectional_mask
            self.masks[kind] = make(config=self.config, inputs_embeds=hidden_states, attention_mask=padding)
        return self.masks[kind]

    def _hook_for(self, kind: str):
        def hook(module, args, kwargs):
            hidden_states = args[0] if args else kwargs["hidden_states"]
            kwargs["attention_mask"] = self._mask(kind, hidden_states)
            return args, kwargs

        return hook

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()
        for module in self.uncausal:
            module.is_causal = True


def set_unmasked_layers(model, indices: Sequence[int]) -> None:
    """Make layers ``indices`` of a decoder LLM attend in both directions (others stay causal); records them
    in ``model.config`` so that a saved model reloads the same way. Calling it again replaces earlier
    hooks."""
    layers = decoder_layers(model)
    base_model = next(m for m in model.modules() if getattr(m, "layers", None) is layers)
    previous = getattr(model, "_bioner_unmasker", None)
    if previous is not None:
        previous.remove()
    indices = sorted(set(indices))
    if indices:
        object.__setattr__(model, "_bioner_unmasker", _Unmasker(base_model, layers, indices))
    for config in {id(c): c for c in (model.config, base_model.config)}.values():
        setattr(config, UNMASKED_LAYERS_KEY, list(indices))


def apply_saved_attention(model) -> list[int]:
    """Re-apply the unmasked layers recorded in the model's config (nothing for encoders); returns them."""
    indices = list(getattr(model.config, UNMASKED_LAYERS_KEY, None) or [])
    if indices:
        set_unmasked_layers(model, indices)
    return indices
