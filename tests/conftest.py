pytest_plugins = [
    "tests.fixtures.fakehub",
    "tests.fixtures.models",
    "tests.fixtures.tokenizers",
    "tests.fixtures.decoders",
    "tests.fixtures.llm",
    "tests.fixtures.offline",
    "tests.fixtures.ensembles",
]
