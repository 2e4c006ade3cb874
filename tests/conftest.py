pytest_plugins = [
    "tests.fakehub",
    "tests.fixtures_models",
    "tests.fixtures_tokenizers",
    "tests.fixtures_decoders",
    "tests.fixtures_llm",
    "tests.fixtures_offline",
]
