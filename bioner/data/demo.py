"""A small synthetic ``demo`` NER corpus (Chemical, Disease) written by the project itself.

It exists so that training, decoding and evaluation can be exercised end to end in seconds, offline, with
no licensed corpus text. Sentences are filled-in templates, so a tiny model can learn them; mentions of
1, 2 and 3+ tokens, repeated mentions, punctuation and entity-free sentences all occur. Output depends
only on ``seed``.
"""

from __future__ import annotations

import random

Sentence = tuple[list[str], list[str]]

SPLIT_SIZES = {"train": 300, "validation": 80, "test": 80}

CHEMICALS = (
    "aspirin",
    "cisplatin",
    "lithium",
    "haloperidol",
    "warfarin",
    "metformin",
    "nicotine",
    "dexamethasone",
    "valproic acid",
    "sodium nitroprusside",
    "calcium carbonate",
    "retinoic acid",
    "5 - fluorouracil",
    "all - trans retinoic acid",
    "angiotensin converting enzyme inhibitor",
)
DISEASES = (
    "hypertension",
    "nephrotoxicity",
    "seizures",
    "hepatitis",
    "bradycardia",
    "migraine",
    "myocardial infarction",
    "renal failure",
    "breast cancer",
    "Parkinson disease",
    "acute liver failure",
    "deep vein thrombosis",
    "type 2 diabetes",
    "acute myeloid leukemia",
    "non - small cell lung cancer",
)
# {C}/{D} are replaced by a chemical/disease mention, {N} by a number; a repeated placeholder
# ({C1} twice) repeats the same mention.
TEMPLATES = (
    "{C} induced {D} in {N} patients .",
    "Treatment with {C} reduced the risk of {D} .",
    "{D} was not associated with {C} exposure .",
    "We report a case of {D} after {C} therapy .",
    "Patients with {D} received {C} and {C} .",
    "The mechanism of {C} - related {D} remains unclear .",
    "{C} ( {N} mg / kg ) caused {D} in rats .",
    "{D1} recurred , and {D1} was treated with {C} .",
    "High doses of {C1} may worsen {D} ; {C1} should be avoided .",
    "Both {D} and {D} were reported during {C} use .",
    "No adverse events were observed in {N} subjects .",
    "Blood pressure was measured every {N} hours .",
    "The study included {N} healthy volunteers .",
)


def _mention(placeholder: str, rng: random.Random, fixed: dict[str, str]) -> tuple[list[str], str]:
    """Tokens and entity type for one placeholder; numbered placeholders reuse their first choice."""
    kind = placeholder[0]
    if kind == "N":
        return [str(rng.randint(2, 120))], "O"
    name = fixed.get(placeholder) or rng.choice(CHEMICALS if kind == "C" else DISEASES)
    if len(placeholder) > 1:
        fixed[placeholder] = name
    return name.split(), "Chemical" if kind == "C" else "Disease"


def _fill(template: str, rng: random.Random) -> Sentence:
    """Instantiate a template as IOB2-tagged tokens."""
    tokens: list[str] = []
    tags: list[str] = []
    fixed: dict[str, str] = {}
    for word in template.split():
        if not (word.startswith("{") and word.endswith("}")):
            tokens.append(word)
            tags.append("O")
            continue
        words, entity_type = _mention(word[1:-1], rng, fixed)
        tokens.extend(words)
        if entity_type == "O":
            tags.extend("O" for _ in words)
        else:
            tags.extend([f"B-{entity_type}"] + [f"I-{entity_type}"] * (len(words) - 1))
    tokens[0] = tokens[0][:1].upper() + tokens[0][1:]
    return tokens, tags


def make_demo_splits(seed: int = 13) -> dict[str, list[Sentence]]:
    """Train/validation/test lists of (tokens, tags); the same ``seed`` always gives the same corpus."""
    rng = random.Random(seed)
    return {
        split: [_fill(rng.choice(TEMPLATES), rng) for _ in range(size)] for split, size in SPLIT_SIZES.items()
    }
