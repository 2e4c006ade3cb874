"""BioNER: entity-level SemEval-2013 scores (strict, exact, partial, ent_type) for BIO tagging, per entity
type and by entity length, as an `evaluate` metric.  The scoring itself lives in scoring.py beside this
file."""

import datasets
import evaluate

from .scoring import compute_ner_scores

_CITATION = """\
@inproceedings{segura-bedmar-etal-2013-semeval,
    title = "{S}em{E}val-2013 Task 9: Extraction of Drug-Drug Interactions from Biomedical Texts
    ({DDIE}xtraction 2013)", author = "Segura-Bedmar, Isabel and Mart{\\'\\i}nez, Paloma and Herrero-Zazo,
    Mar{\\'\\i}a", booktitle = "Second Joint Conference on Lexical and Computational Semantics (*SEM), Volume
    2: Proceedings of the Seventh International Workshop on Semantic Evaluation (SemEval 2013)", year =
    "2013", pages = "341--350",
}
@inproceedings{chinchor-sundheim-1993-muc,
    title = "{MUC}-5 Evaluation Metrics",
    author = "Chinchor, Nancy and Sundheim, Beth",
    booktitle = "Fifth Message Understanding Conference (MUC-5)",
    year = "1993",
}
@misc{obeidat2025llms,
    title = "Do {LLM}s Surpass Encoders for Biomedical {NER}?",
    author = "Obeidat, Motasem S. and Al Nahian, Md Sultan and Kavuluru, Ramakanth",
    year = "2025",
    eprint = "2504.00664",
    archivePrefix = "arXiv",
}
"""

_DESCRIPTION = """\
Entity-level evaluation of BIO (IOB2) sequence tagging in the four schemes of SemEval-2013 Task 9.1 / MUC:
strict (exact boundaries and type), exact (exact boundaries, any type), partial (any overlap, half credit
unless the boundaries are exact) and ent_type (any overlap, right type).  Each comes with the SemEval counts
(correct, incorrect, partial, missed, spurious, possible, actual), overall and per entity type, and the
numbers equal those of nervaluate 1.2.1 (list loader) on every input, more than 10x faster.  Also returned:
strict precision/recall/F1 by entity length (recall over gold entities of a length, precision over predicted
entities of that length, matching on the whole sentence) and token accuracy.  Invalid IOB2 is read
leniently, like conlleval and nervaluate: an I-X after O or after another type starts an entity.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `list` of `str`): predicted tags, one list per sentence ('O', 'B-<type>',
    'I-<type>'). references (`list` of `list` of `str`): gold tags, one list per sentence, each as long as its
    prediction. length_bins (`tuple` of `int`, defaults to `(1, 2, 3)`): lower edges of the entity-length
    bins, in
        tokens, strictly increasing from 1; `(1, 2, 3)` gives bins "1", "2", "3+", and `(1, 2, 3, 5)` gives
        "1", "2", "3-4", "5+".
Returns:
    strict, exact, partial, ent_type (`dict`): `precision`, `recall`, `f1` and the counts `correct`,
        `incorrect`, `partial`, `missed`, `spurious`, `possible` (gold entities), `actual` (predicted ones).
    per_type (`dict`): for each entity type, the four schemes scored on that type's entities alone.
    by_length (`dict`): for each length bin, strict `precision`, `recall`, `f1` and the counts `gold`,
        `predicted` and `correct`.
    token_accuracy (`float`): share of tokens whose predicted tag equals the gold tag.
    num_sentences (`int`), num_tokens (`int`).
Raises:
    ValueError: on empty input, different numbers of sentences, a sentence whose prediction and reference
        differ in length (its index is given), or a tag that is not 'O', 'B-<type>' or 'I-<type>'.
Examples:
    >>> bio_ner = evaluate.load("/abs/path/to/metrics/bio_ner")  # or the Space id, "<namespace>/bio_ner"
    >>> results = bio_ner.compute(
    ...     predictions=[["O", "B-Disease", "I-Disease", "O", "B-Chemical"]],
    ...     references=[["O", "B-Disease", "I-Disease", "O", "B-Disease"]],
    ... )
    >>> results["strict"]["f1"], results["exact"]["f1"], results["by_length"]["2"]["recall"]
    (0.5, 1.0, 1.0)
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class BioNer(evaluate.Metric):
    """SemEval-2013 entity-level scores for BIO tagging (nervaluate-compatible), per type and by length."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            module_type="metric",
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": datasets.Sequence(datasets.Value("string")),
                    "references": datasets.Sequence(datasets.Value("string")),
                }
            ),
            codebase_urls=["https://github.com/MantisAI/nervaluate"],
            reference_urls=[
                "https://aclanthology.org/S13-2056/",
                "https://www.davidsbatista.net/blog/2018/05/09/Named_Entity_Evaluation/",
                "https://arxiv.org/abs/2504.00664",
            ],
        )

    def add_batch(self, *, predictions=None, references=None, **kwargs) -> None:
        """Check the batch pairs up before `evaluate` stores it, whose own errors are unclear or missing."""
        _check_batch(predictions, references)
        super().add_batch(predictions=predictions, references=references, **kwargs)

    def _compute(self, predictions, references, length_bins=(1, 2, 3)) -> dict:
        return compute_ner_scores(predictions, references, length_bins=length_bins)


def _check_batch(predictions, references) -> None:
    if predictions is None or references is None:
        raise ValueError("both predictions and references are required (one list of tags per sentence)")
    if len(predictions) != len(references):
        raise ValueError(
            f"got {len(predictions)} predicted sentences but {len(references)} reference sentences"
        )
    for index, (predicted, gold) in enumerate(zip(predictions, references, strict=True)):
        if isinstance(predicted, str) or isinstance(gold, str):
            raise ValueError(f"sentence {index} is a string; each sentence must be a list of tags")
        if len(predicted) != len(gold):
            raise ValueError(
                f"sentence {index}: prediction has {len(predicted)} tags but reference has {len(gold)}"
            )
