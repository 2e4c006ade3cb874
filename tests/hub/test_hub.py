"""bioner.hub end to end against the local fake Hub (tests/fixtures/fakehub.py).

Pushes and loads run the way users run them: in fresh subprocesses whose environment points HF_ENDPOINT at the
fake server before huggingface_hub/datasets/transformers/evaluate are imported, each loader with its own empty
cache so everything it returns really came over HTTP.
"""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
from pathlib import Path

import pytest
from huggingface_hub import DatasetCard, ModelCard

from bioner.hub import model_card
from tests.fixtures.fakehub import serve
from tests.helpers import ROOT, run_python

METRIC_DIR = ROOT / "metrics" / "bio_ner"
LABELS = ["O", "B-Chemical", "I-Chemical", "B-Disease"]
RESULTS = {
    "dev": {
        "strict": {"precision": 0.5, "recall": 0.25, "f1": 1 / 3},
        "partial": {"precision": 0.6, "recall": 0.3, "f1": 0.4},
    },
    "test": {
        "strict": {"precision": 0.75, "recall": 0.6, "f1": 2 / 3},
        "exact": {"precision": 0.8, "recall": 0.64, "f1": 0.711},
        "partial": {"precision": 0.85, "recall": 0.7, "f1": 0.7677},
    },
    "meta": {"world_size": 1},
}
# Builds the same small DatasetDict in whichever process runs it.
BUILD_DATASET = f"""
import datasets
features = datasets.Features({{
    "tokens": datasets.Sequence(datasets.Value("string")),
    "ner_tags": datasets.Sequence(datasets.ClassLabel(names={LABELS!r})),
}})
rows = {{
    "train": [(["Aspirin", "causes", "ulcers"], [1, 0, 3]), (["No", "effect"], [0, 0])],
    "validation": [(["Sodium", "chloride", "is", "salt"], [1, 2, 0, 0])],
    "test": [(["Cisplatin", "nephrotoxicity"], [1, 3]), (["None"], [0]), (["Lithium", "."], [1, 0])],
}}
dsdict = datasets.DatasetDict({{
    split: datasets.Dataset.from_dict(
        {{"tokens": [t for t, _ in split_rows], "ner_tags": [n for _, n in split_rows]}}, features=features
    )
    for split, split_rows in rows.items()
}})
"""
# Its stale dataset_info must give way to the one push_to_hub computes.
DATASET_CARD = """---
license: cc-by-4.0
pretty_name: Demo NER
dataset_info:
  splits:
  - name: train
    num_examples: 99
---
# Demo NER

Three tiny splits for tests.
"""


def last_json(result: subprocess.CompletedProcess[str]) -> dict:
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_fake_hub_answers_like_the_hub(fake_hub, tmp_path):
    """The huggingface_hub calls other tests rely on, including the errors clients branch on."""
    folder = tmp_path / "repo"
    (folder / "sub").mkdir(parents=True)
    (folder / "notes.txt").write_text("v1")
    (folder / "sub" / "weights.bin").write_bytes(bytes(range(256)))
    code = f"""
import json
from huggingface_hub import HfApi, hf_hub_download
api, out = HfApi(), {{}}
out["user"] = api.whoami()["name"]
api.create_repo("testorg/private", private=True)
first = api.upload_folder(folder_path={str(folder)!r}, repo_id="testorg/private").oid
again = api.upload_folder(folder_path={str(folder)!r}, repo_id="testorg/private").oid
api.upload_file(path_or_fileobj=b"v2", path_in_repo="notes.txt", repo_id="testorg/private")
info = api.model_info("testorg/private", files_metadata=True)
out["commits"] = [first, again, info.sha]
out["siblings"] = {{s.rfilename: [s.size, s.lfs is not None] for s in info.siblings}}
out["tree"] = [e.path for e in api.list_repo_tree("testorg/private", recursive=True)]
out["top"] = [e.path for e in api.list_repo_tree("testorg/private")]
out["paths"] = [type(e).__name__ for e in api.get_paths_info("testorg/private", ["sub", "notes.txt", "nope"])]
out["old"] = open(hf_hub_download("testorg/private", "notes.txt", revision=first)).read()
out["new"] = open(hf_hub_download("testorg/private", "notes.txt")).read()
def error(call):
    try:
        call()
    except Exception as err:
        return type(err).__name__
out["missing_repo"] = error(lambda: api.model_info("testorg/nope"))
out["anonymous"] = error(lambda: HfApi(token=False).model_info("testorg/private"))
out["bad_revision"] = error(lambda: hf_hub_download("testorg/private", "notes.txt", revision="v1"))
out["missing_file"] = error(lambda: hf_hub_download("testorg/private", "nope.txt"))
out["bad_token"] = error(lambda: HfApi(token="hf_wrong").create_repo("testorg/other"))
print(json.dumps(out))
"""
    out = last_json(run_python(["-c", code], fake_hub.env(tmp_path / "home")))
    assert out["user"] == "testuser"
    first, again, latest = out["commits"]
    assert first == again != latest  # re-uploading unchanged files makes no commit
    siblings = out["siblings"]
    assert siblings.pop(".gitattributes")[1] is False  # created with the repo, like on the Hub
    assert siblings == {"notes.txt": [2, False], "sub/weights.bin": [256, True]}  # [size, stored with LFS]
    assert out["tree"] == [".gitattributes", "notes.txt", "sub", "sub/weights.bin"]
    assert out["top"] == [".gitattributes", "notes.txt", "sub"]
    assert out["paths"] == ["RepoFolder", "RepoFile"]
    assert (out["old"], out["new"]) == ("v1", "v2")
    assert out["missing_repo"] == out["anonymous"] == "RepositoryNotFoundError"
    assert out["bad_revision"] == "RevisionNotFoundError"
    assert out["missing_file"] == "RemoteEntryNotFoundError"
    assert out["bad_token"] == "HfHubHTTPError"
    assert fake_hub.store.files("testorg/private")["sub/weights.bin"] == bytes(range(256))
    assert ("PUT", f"/lfs-upload/{hashlib.sha256(bytes(range(256))).hexdigest()}") in fake_hub.log


def test_push_metric_cli_then_evaluate_load_by_repo_id(fake_hub, tmp_path):
    env = fake_hub.env(tmp_path / "pusher")
    for name in ("bio_ner", "ner_f1"):
        out = run_python(["-m", "bioner.hub", "push-metric", f"testorg/{name}"], env)
        assert out.stdout.strip() == f"{fake_hub.endpoint}/spaces/testorg/{name}"
    assert fake_hub.store.get("testorg/bio_ner", "space").sdk == "gradio"
    local = {
        p.relative_to(METRIC_DIR).as_posix()
        for p in METRIC_DIR.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert set(fake_hub.store.files("testorg/bio_ner", "space")) == local | {".gitattributes"}
    renamed = fake_hub.store.files("testorg/ner_f1", "space")
    assert renamed["ner_f1.py"] == (METRIC_DIR / "bio_ner.py").read_bytes()
    assert "bio_ner.py" not in renamed and renamed["scoring.py"] == (METRIC_DIR / "scoring.py").read_bytes()

    code = """
import json, evaluate
scores = {}
for name in ("bio_ner", "ner_f1"):
    metric = evaluate.load(f"testorg/{name}")
    scores[name] = metric.compute(predictions=[["B-X", "I-X", "O"]], references=[["B-X", "I-X", "O"]])
print(json.dumps(scores))
"""
    scores = last_json(run_python(["-c", code], fake_hub.env(tmp_path / "loader")))
    assert scores["bio_ner"]["strict"]["f1"] == scores["ner_f1"]["strict"]["f1"] == 1.0
    # evaluate tries its version tag first, then main, and fetched the relatively imported scoring.py.
    assert ("HEAD", "/spaces/testorg/bio_ner/resolve/v0.4.6/bio_ner.py") in fake_hub.log
    assert ("GET", "/spaces/testorg/bio_ner/resolve/main/scoring.py") in fake_hub.log


@pytest.fixture(scope="module")
def demo_on_hub(tmp_path_factory):
    """A fake Hub holding testorg/demo, pushed twice with `push_dataset` (a re-push must keep the card)."""
    with serve() as hub:
        code = (
            BUILD_DATASET
            + f"""
from bioner.hub import push_dataset
for _ in range(2):
    url = push_dataset(dsdict, "testorg/demo", {DATASET_CARD!r})
print(url)
"""
        )
        out = run_python(["-c", code], hub.env(tmp_path_factory.mktemp("pusher")))
        assert out.stdout.strip().splitlines()[-1] == f"{hub.endpoint}/datasets/testorg/demo"
        assert "Ignoring part of dataset_info" not in out.stderr  # the card's stale dataset_info was dropped
        yield hub


def test_push_dataset_then_load_dataset_by_repo_id(demo_on_hub, tmp_path):
    code = """
import json, datasets
loaded = datasets.load_dataset("testorg/demo")
print(json.dumps({split: {"rows": ds.to_list(), "features": ds.features.to_dict()} for split, ds in
loaded.items()}))
"""
    loaded = last_json(run_python(["-c", code], demo_on_hub.env(tmp_path)))
    namespace: dict = {}
    exec(BUILD_DATASET, namespace)
    expected = namespace["dsdict"]
    assert list(loaded) == ["train", "validation", "test"]
    for split, ds in expected.items():
        assert loaded[split]["rows"] == ds.to_list()
        assert loaded[split]["features"] == ds.features.to_dict()

    card = DatasetCard(demo_on_hub.store.files("testorg/demo", "dataset")["README.md"].decode())
    assert card.text.strip() == "# Demo NER\n\nThree tiny splits for tests."
    assert card.data.license == "cc-by-4.0" and card.data.pretty_name == "Demo NER"
    splits = {s["name"]: s["num_examples"] for s in card.data.dataset_info["splits"]}
    assert splits == {"train": 2, "validation": 1, "test": 3}
    assert [c["config_name"] for c in card.data.configs] == ["default"]


def test_load_ner_dataset_by_repo_id(demo_on_hub, tmp_path):
    code = """
import json
from bioner.corpora.sources import load_ner_dataset
from bioner.data.conll import label_names
ds = load_ner_dataset("testorg/demo")
names = label_names(ds)
print(json.dumps({s: [[r["tokens"], [names[i] for i in r["ner_tags"]]] for r in ds[s]] for s in ds}))
"""
    loaded = last_json(run_python(["-c", code], demo_on_hub.env(tmp_path)))
    namespace: dict = {}
    exec(BUILD_DATASET, namespace)
    for split, rows in namespace["rows"].items():
        assert loaded[split] == [[tokens, [LABELS[i] for i in tags]] for tokens, tags in rows]


@pytest.fixture
def tiny_ner_model(tmp_path) -> Path:
    """A random 2-layer BertForTokenClassification and its WordPiece tokenizer, saved to a folder."""
    import torch
    from transformers import BertConfig, BertForTokenClassification, BertTokenizerFast

    vocab = tmp_path / "vocab.txt"
    words = ["aspirin", "causes", "ulcers", "cis", "##platin", "renal", "damage", "."]
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n")
    tokenizer = BertTokenizerFast(vocab_file=str(vocab), do_lower_case=True)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        id2label=dict(enumerate(LABELS)),
        label2id={label: i for i, label in enumerate(LABELS)},
    )
    torch.manual_seed(0)
    folder = tmp_path / "tiny-ner"
    BertForTokenClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_push_model_folder_then_from_pretrained_by_repo_id(fake_hub, tiny_ner_model, tmp_path):
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    push = f"""
from pathlib import Path
from bioner.hub import model_card, push_model_folder
card = model_card(
    base_model="testorg/tiny-bert", dataset="testorg/demo", results={RESULTS!r}, repo_id="testorg/tiny-ner"
)
print(push_model_folder(Path({str(tiny_ner_model)!r}), "testorg/tiny-ner", card))
"""
    out = run_python(["-c", push], fake_hub.env(tmp_path / "pusher"))
    assert out.stdout.strip() == f"{fake_hub.endpoint}/testorg/tiny-ner"

    text = ["Cisplatin", "causes", "renal", "damage", "."]
    load = f"""
import json, os
from huggingface_hub import snapshot_download
from transformers import AutoModelForTokenClassification, AutoTokenizer
tokenizer = AutoTokenizer.from_pretrained("testorg/tiny-ner")
model = AutoModelForTokenClassification.from_pretrained("testorg/tiny-ner")
enc = tokenizer({text!r}, is_split_into_words=True, return_tensors="pt")
files = sorted(os.listdir(snapshot_download("testorg/tiny-ner")))
print(json.dumps({{"ids": enc["input_ids"].tolist(), "logits": model(**enc).logits.tolist(),
                   "id2label": model.config.id2label, "files": files}}))
"""
    remote = last_json(run_python(["-c", load], fake_hub.env(tmp_path / "loader")))

    tokenizer = AutoTokenizer.from_pretrained(tiny_ner_model)
    model = AutoModelForTokenClassification.from_pretrained(tiny_ner_model).eval()
    enc = tokenizer(text, is_split_into_words=True, return_tensors="pt")
    assert remote["ids"] == enc["input_ids"].tolist()
    with torch.no_grad():
        assert torch.equal(torch.tensor(remote["logits"]), model(**enc).logits)
    assert remote["id2label"] == {str(i): label for i, label in enumerate(LABELS)}
    assert {"README.md", "config.json", "model.safetensors", "tokenizer.json"} <= set(remote["files"])

    hub_files = fake_hub.store.files("testorg/tiny-ner")
    assert hub_files["README.md"] == (tiny_ner_model / "README.md").read_bytes()
    assert fake_hub.store.get("testorg/tiny-ner").head.files["model.safetensors"].lfs
    index = ModelCard(hub_files["README.md"].decode()).data.to_dict()["model-index"][0]
    metrics = {(m["config"], m["type"]): m["value"] for m in index["results"][0]["metrics"]}
    assert index["name"] == "tiny-ner"
    assert metrics == {
        ("strict", "precision"): 0.75,
        ("strict", "recall"): 0.6,
        ("strict", "f1"): 0.6667,
        ("partial", "f1"): 0.7677,
    }


def test_model_card_metadata_and_body(tmp_path):
    card = ModelCard(
        model_card(base_model="org/bert", dataset="org/bc5cdr", results=RESULTS, repo_id="org/ner")
    )
    data = card.data
    assert data.library_name == "transformers" and data.pipeline_tag == "token-classification"
    assert data.base_model == "org/bert" and data.datasets == ["org/bc5cdr"]
    assert data.tags == ["token-classification", "ner", "biomedical", "bioner"]
    result = data.eval_results[0]
    assert (result.task_type, result.dataset_type, result.dataset_split) == (
        "token-classification",
        "org/bc5cdr",
        "test",
    )
    assert "python evaluate_ner.py --model org/ner --dataset org/bc5cdr" in card.text
    assert "| test | strict | 0.7500 | 0.6000 | 0.6667 |" in card.text
    assert "| dev | partial | 0.6000 | 0.3000 | 0.4000 |" in card.text
    assert "meta" not in card.text

    # A local base model is named in the prose only: base_model metadata must be a Hub model id.
    adapter = ModelCard(
        model_card(base_model=str(tmp_path), dataset="d", results={}, model_type="adapter", extra="Notes.")
    )
    assert adapter.data.library_name == "peft" and adapter.data.base_model is None
    assert adapter.data.eval_results is None and "model-index" not in adapter.data.to_dict()
    assert f"`{tmp_path.name}`" in adapter.text and "No scores were recorded" in adapter.text
    assert str(tmp_path) not in adapter.text  # a pushed card does not carry this machine's paths
    assert adapter.text.rstrip().endswith("Notes.")
    with pytest.raises(ValueError, match="model_type"):
        model_card(base_model="b", dataset="d", results={}, model_type="seq2seq")


def _closed_port_endpoint() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.mark.parametrize("failure", ["unreachable", "bad_token"])
def test_push_failure_is_one_clear_line(fake_hub, tmp_path, failure):
    env = fake_hub.env(tmp_path)
    if failure == "unreachable":
        env["HF_ENDPOINT"] = _closed_port_endpoint()
        expected = f"cannot reach the Hub at {env['HF_ENDPOINT']}"
    else:
        env["HF_TOKEN"] = "hf_wrong"
        expected = "Log in with `hf auth login` or set HF_TOKEN"
    metric_dir = tmp_path / "tiny_metric"
    metric_dir.mkdir()
    (metric_dir / "tiny_metric.py").write_text("")
    result = run_python(
        ["-m", "bioner.hub", "push-metric", "testorg/bio_ner", "--metric_dir", str(metric_dir)],
        env,
        check=False,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: publishing metric Space testorg/bio_ner: ")
    assert expected in lines[0]
