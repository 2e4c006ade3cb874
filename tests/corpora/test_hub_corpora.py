"""``--dataset org/name`` for a Hub dataset repo of PubTator or brat files, through the local fake Hub.

The loaders run in subprocesses whose environment points ``HF_ENDPOINT`` at the fake server (huggingface_hub
reads it at import); each returns what it loaded as JSON, compared here with loading the same files locally.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bioner.corpora.sources import load_ner_dataset
from bioner.data.conll import label_names
from tests.fixtures.fakehub import Blob, FakeHub, Repo, serve
from tests.helpers import ROOT

PUBTATOR_REPO = "testorg/tiny-pubtator"
BRAT_REPO = "testorg/tiny-brat"
SENTENCES = {
    "train": ("Aspirin cures pain. Heparin", "thins blood."),
    "dev": ("Naloxone reverses overdose.", ""),
    "test": ("Codeine causes constipation. It", "helps."),
}
# Loads each name given on the command line; one JSON line: {name: rows and labels, or the error}.
LOADER = """
import json, os, sys
from bioner.corpora.sources import load_ner_dataset
from bioner.data.conll import label_names
out = {}
for name in sys.argv[1:]:
    try:
        dataset = load_ner_dataset(name)
        out[name] = {"labels": label_names(dataset), **{s: dataset[s].to_list() for s in dataset}}
    except Exception as err:
        out[name] = {"error": f"{type(err).__name__}: {err}"}
if os.environ.get("PREPARE_OUT"):  # and prepare_datasets.py on the first name
    import prepare_datasets
    out["prepare"] = prepare_datasets.main([sys.argv[1], "--output_dir", os.environ["PREPARE_OUT"]])
print(json.dumps(out))
"""


def pubtator(pmid: int, title: str, abstract: str) -> str:
    """One PubTator document, its words ending in ``in``/``ine``/``one`` tagged Chemical."""
    text = f"{title} {abstract}" if abstract else title
    lines = [f"{pmid}|t|{title}", f"{pmid}|a|{abstract}"]
    start = 0
    for word in text.replace(".", " ").split():
        start = text.index(word, start)
        if word.endswith(("in", "ine", "one")):
            lines.append(f"{pmid}\t{start}\t{start + len(word)}\t{word}\tChemical\tD{pmid}")
        start += len(word)
    return "\n".join(lines) + "\n\n"


def corpus_files() -> dict[str, dict[str, bytes]]:
    """The same tiny corpus as PubTator (one file per split) and as brat (one folder per split)."""
    pubtator_files, brat_files = {}, {}
    for number, (split, (title, abstract)) in enumerate(SENTENCES.items(), 1):
        document = pubtator(number, title, abstract)
        pubtator_files[f"{split}.PubTator"] = document.encode()
        text = f"{title} {abstract}" if abstract else title
        mentions = [line.split("\t") for line in document.splitlines()[2:] if line]
        ann = "".join(f"T{i}\tChemical {m[1]} {m[2]}\t{m[3]}\n" for i, m in enumerate(mentions, 1))
        brat_files[f"{split}/{number}.txt"] = text.encode()
        brat_files[f"{split}/{number}.ann"] = ann.encode()
    readme = b"---\nlicense: cc0-1.0\n---\n# A tiny corpus\n"
    return {
        PUBTATOR_REPO: {**pubtator_files, "README.md": readme},
        BRAT_REPO: {**brat_files, "README.md": readme},
    }


def put_dataset_repo(hub: FakeHub, repo_id: str, files: dict[str, bytes]) -> None:
    """Store a dataset repo on the fake Hub as if it had been uploaded."""
    repo = Repo("dataset", repo_id, private=False)
    repo.add_commit("upload", {path: Blob(data) for path, data in files.items()})
    hub.store.repos[("dataset", repo_id)] = repo


def write_local(folder: Path, files: dict[str, bytes]) -> Path:
    for path, data in files.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_bytes(data)
    return folder


def load(names: list[str], env: dict[str, str]) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", LOADER, *names], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def as_loaded(folder: Path) -> dict:
    dataset = load_ner_dataset(str(folder))
    return {"labels": label_names(dataset), **{s: dataset[s].to_list() for s in dataset}}


@pytest.fixture(scope="module")
def hub_corpora(tmp_path_factory):
    """The fake Hub with both repos, the home whose cache an online load filled, and what that load
    returned."""
    with serve() as hub:
        for repo_id, files in corpus_files().items():
            put_dataset_repo(hub, repo_id, files)
        home = tmp_path_factory.mktemp("home")
        out = tmp_path_factory.mktemp("prepared")
        env = {**hub.env(home), "PREPARE_OUT": str(out)}
        loaded = load([PUBTATOR_REPO, BRAT_REPO, "testorg/no-such-corpus"], env)
        yield hub, home, loaded, out


def test_hub_repo_of_document_files_loads_like_the_local_folder(hub_corpora, tmp_path: Path) -> None:
    hub, _, loaded, _ = hub_corpora
    for repo_id, files in corpus_files().items():
        local = as_loaded(write_local(tmp_path / repo_id.split("/")[1], files))
        assert loaded[repo_id] == local, repo_id
    test = loaded[PUBTATOR_REPO]["test"]
    assert [row["id"] for row in test] == ["3-0", "3-1", "3-2"]  # passages end sentences
    assert test[0]["tokens"] == ["Codeine", "causes", "constipation", "."] and test[0]["ner_tags"] == [
        1,
        0,
        0,
        0,
    ]
    assert loaded[PUBTATOR_REPO]["labels"] == ["O", "B-Chemical"]
    # Only the corpus files were downloaded, not the card.
    fetched = {path for method, path in hub.log if method == "GET" and "/resolve/" in path}
    assert not any(path.endswith("README.md") for path in fetched)
    assert any(path.endswith("/test.PubTator") for path in fetched)


def test_missing_repo_is_named(hub_corpora) -> None:
    error = hub_corpora[2]["testorg/no-such-corpus"]["error"]
    assert error.startswith("DataFormatError: testorg/no-such-corpus: no dataset repo testorg/no-such-corpus")


def test_prepare_datasets_converts_a_hub_repo(hub_corpora) -> None:
    _, _, loaded, out = hub_corpora
    assert loaded["prepare"] == 0
    converted = out / "testorg__tiny-pubtator"
    assert (converted / "test.tsv").read_text().startswith("Codeine\tB-Chemical\ncauses\tO\n")
    assert "## Conversion from documents" in (converted / "README.md").read_text()


def test_offline_uses_the_cached_copy_or_names_the_repo(hub_corpora) -> None:
    hub, home, loaded, _ = hub_corpora
    env = {**hub.env(home), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    offline = load([PUBTATOR_REPO, "testorg/never-downloaded"], env)
    assert offline[PUBTATOR_REPO] == loaded[PUBTATOR_REPO]
    error = offline["testorg/never-downloaded"]["error"]
    assert error.startswith("DataFormatError: testorg/never-downloaded: ") and "offline" in error.lower(), (
        error
    )
