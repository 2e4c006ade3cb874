"""bioner: biomedical NER with encoder token classifiers and prompted LLM taggers, scored the SemEval way."""

__version__ = "0.1.0"
