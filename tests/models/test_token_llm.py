"""Decoder LLMs as one-pass token classifiers (train_encoder.py on a causal LM): attention masks, training,
saving and loading (full and LoRA, local and by Hub repo id), 4-bit QLoRA on CPU, two-process DDP."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bioner.models.attention import UNMASKED_LAYERS_KEY, parse_unmasked_layers, set_unmasked_layers
from bioner.models.registry import CAUSAL_LM, ENCODER, LLM_TOKEN_CLASSIFIER, load_tokenizer, model_kind
from bioner.models.token_llm import TOKEN_LLM_FILE, TokenLLMArguments, load_llm_token_classifier
from bioner.tagging.taggers import EncoderTagger, load_tagger
from tests.fixtures.models import LABELS
from tests.helpers import ROOT


def build_tiny_gemma3(directory: Path, tokenizer_dir: Path) -> Path:
    """A 3-layer random Gemma 3 text model (one sliding-window layer) with the tiny Llama's tokenizer."""
    from transformers import AutoTokenizer, Gemma3ForCausalLM, Gemma3TextConfig

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    torch.manual_seed(0)
    config = Gemma3TextConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=3,
        num_attention_heads=4,
        num_key_value_heads=1,
        head_dim=16,
        sliding_window=4,
        layer_types=["sliding_attention", "full_attention", "sliding_attention"],
        max_position_embeddings=512,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
    )
    Gemma3ForCausalLM(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def tiny_gemma3(tmp_path_factory, tiny_llama) -> Path:
    return build_tiny_gemma3(tmp_path_factory.mktemp("tiny-gemma3"), tiny_llama)


@pytest.fixture(params=["llama", "gemma3"])
def tiny_causal_lm(request, tiny_llama, tiny_gemma3) -> Path:
    return tiny_llama if request.param == "llama" else tiny_gemma3


def classifier(path: Path, attention: str, layers: str = "all", attn_implementation: str | None = None):
    model, tokenizer = load_llm_token_classifier(
        str(path), LABELS, TokenLLMArguments(attention=attention, unmasked_layers=layers)
    )
    if attn_implementation:
        model.set_attn_implementation(attn_implementation)
    return model.eval(), tokenizer


def logits(model, ids: list[list[int]], mask: list[list[int]] | None = None) -> torch.Tensor:
    with torch.no_grad():
        kwargs = {"attention_mask": torch.tensor(mask)} if mask is not None else {}
        return model(input_ids=torch.tensor(ids), **kwargs).logits


@pytest.mark.parametrize("attn_implementation", ["sdpa", "eager"])
def test_bidirectional_sees_the_right_context_causal_does_not(tiny_causal_lm, attn_implementation):
    sentence, changed = [5, 6, 7, 8, 9, 10, 11], [5, 6, 7, 8, 9, 10, 12]
    causal, _ = classifier(tiny_causal_lm, "causal", attn_implementation=attn_implementation)
    before, after = logits(causal, [sentence]), logits(causal, [changed])
    assert torch.equal(before[0, :6], after[0, :6])  # left of the change: untouched
    bidirectional, _ = classifier(tiny_causal_lm, "bidirectional", attn_implementation=attn_implementation)
    before, after = logits(bidirectional, [sentence]), logits(bidirectional, [changed])
    assert (before[0, 0] - after[0, 0]).abs().max() > 1e-4  # the first token now sees the last one


@pytest.mark.parametrize("attention", ["causal", "bidirectional"])
@pytest.mark.parametrize("attn_implementation", ["sdpa", "eager"])
def test_padding_never_changes_a_real_tokens_logits(tiny_causal_lm, attention, attn_implementation):
    model, tokenizer = classifier(tiny_causal_lm, attention, attn_implementation=attn_implementation)
    pad = tokenizer.pad_token_id
    short, long = [5, 6, 7], [8, 9, 10, 11, 12, 13, 14]
    alone = logits(model, [short])
    batch = logits(model, [short + [pad] * 4, long], [[1, 1, 1, 0, 0, 0, 0], [1] * 7])
    torch.testing.assert_close(batch[0, :3], alone[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(batch[1], logits(model, [long])[0], atol=1e-5, rtol=1e-5)


def test_only_the_unmasked_layers_see_the_right_context(tiny_llama):
    """With the first layer causal and the last unmasked, a token's last-layer state sees later tokens only
    through the last layer: changing a later token still changes it; with 'first:1' too; with none it
    can't."""
    sentence, changed = [5, 6, 7, 8], [5, 6, 7, 9]
    for spec in ("last:1", "first:1", "0", "-1"):
        model, _ = classifier(tiny_llama, "bidirectional", spec)
        assert getattr(model.config, UNMASKED_LAYERS_KEY) in ([1], [0])
        assert (logits(model, [sentence])[0, 0] - logits(model, [changed])[0, 0]).abs().max() > 1e-4
    set_unmasked_layers(model, [])  # back to causal, hooks removed
    assert torch.equal(logits(model, [sentence])[0, :3], logits(model, [changed])[0, :3])


def test_unmasked_layer_specs():
    assert parse_unmasked_layers("causal", "all", 4) == []
    assert parse_unmasked_layers("bidirectional", "all", 4) == [0, 1, 2, 3]
    assert parse_unmasked_layers("bidirectional", "last:2", 4) == [2, 3]
    assert parse_unmasked_layers("bidirectional", "first:1", 4) == [0]
    assert parse_unmasked_layers("bidirectional", "0,-1", 4) == [0, 3]
    for bad in ("last:0", "last:5", "7", "-5", "some"):
        with pytest.raises(ValueError, match="--unmasked_layers"):
            parse_unmasked_layers("bidirectional", bad, 4)
    with pytest.raises(ValueError, match="--attention"):
        parse_unmasked_layers("sideways", "all", 4)


def test_causal_lms_are_told_apart_from_encoders(tiny_llama, tiny_gemma3, tiny_bert):
    assert model_kind(str(tiny_llama)) == model_kind(str(tiny_gemma3)) == CAUSAL_LM
    assert model_kind(str(tiny_bert)) == ENCODER


# ---------------------------------------------------------------------------------------------- training


def write_corpus(directory: Path, sentences: list[tuple[list[str], list[str]]]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    text = "\n\n".join(
        "\n".join(f"{w}\t{t}" for w, t in zip(words, tags, strict=True)) for words, tags in sentences
    )
    for split in ("train", "dev", "test"):
        (directory / f"{split}.tsv").write_text(text + "\n")
    return directory


def sixteen_sentences(demo_splits) -> list[tuple[list[str], list[str]]]:
    return [(list(tokens), list(tags)) for tokens, tags in demo_splits["train"][:16]]


def train(model: Path, corpus: Path, output: Path, *extra: str, epochs: int = 20) -> dict:
    command = [
        sys.executable, "train_encoder.py", "--dataset", str(corpus), "--model_name_or_path", str(model),
        "--output_dir", str(output), "--num_train_epochs", str(epochs), "--learning_rate", "3e-3",
        "--per_device_train_batch_size", "4", "--use_cpu", "--disable_tqdm", "true", "--eval_strategy", "no",
        "--save_strategy", "no", "--load_best_model_at_end", "false", "--seed", "0", *extra,
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "2", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads((output / "results.json").read_text())


@pytest.fixture(scope="module")
def corpus16(tmp_path_factory, demo_splits) -> Path:
    return write_corpus(tmp_path_factory.mktemp("corpus16"), sixteen_sentences(demo_splits))


@pytest.fixture(scope="module")
def trained_full(tmp_path_factory, tiny_llama, corpus16) -> tuple[Path, dict]:
    output = tmp_path_factory.mktemp("tokcls") / "full"
    return output, train(tiny_llama, corpus16, output)


@pytest.fixture(scope="module")
def trained_lora(tmp_path_factory, tiny_gemma3, corpus16) -> tuple[Path, dict]:
    output = tmp_path_factory.mktemp("tokcls") / "lora"
    extra = ("--use_peft", "true", "--lora_r", "8", "--unmasked_layers", "last:2")
    return output, train(tiny_gemma3, corpus16, output, *extra, epochs=20)


def test_a_tiny_llm_token_classifier_overfits_sixteen_sentences(trained_full):
    output, results = trained_full
    assert results["test"]["strict"]["f1"] >= 0.95, results["test"]["strict"]
    meta = results["meta"]
    assert meta["model_kind"] == LLM_TOKEN_CLASSIFIER and meta["attention"] == "bidirectional"
    assert meta["unmasked_layers"] == [0, 1] and meta["peak_memory_gb"] > 0
    assert {"config.json", "model.safetensors", TOKEN_LLM_FILE} <= {p.name for p in output.iterdir()}


def predictions(output: Path) -> list[list[str]]:
    return [json.loads(line)["pred"] for line in (output / "predictions_test.jsonl").read_text().splitlines()]


def tokens(output: Path) -> list[list[str]]:
    return [
        json.loads(line)["tokens"] for line in (output / "predictions_test.jsonl").read_text().splitlines()
    ]


@pytest.mark.parametrize("run", ["trained_full", "trained_lora"])
def test_saved_then_loaded_predicts_exactly_as_trained(run, request):
    output, results = request.getfixturevalue(run)
    tagger = load_tagger(str(output))
    assert isinstance(tagger, EncoderTagger)
    assert tagger(tokens(output), progress=False) == predictions(output)
    assert tagger.word_style == results["meta"].get("word_style", tagger.word_style)


def test_lora_run_saves_an_adapter_with_its_head_and_attention(trained_lora):
    output, results = trained_lora
    files = {p.name for p in output.iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", TOKEN_LLM_FILE} <= files
    assert "model.safetensors" not in files
    info = json.loads((output / TOKEN_LLM_FILE).read_text())
    assert info["adapter"] is True and info[UNMASKED_LAYERS_KEY] == [1, 2]
    from safetensors import safe_open

    with safe_open(output / "adapter_model.safetensors", "pt") as weights:
        assert any("score" in key for key in weights.keys())  # the head, trained in full
        assert any("lora_A" in key for key in weights.keys())
    meta = results["meta"]
    assert meta["use_peft"] and meta["trainable_parameters"] < meta["parameters"] / 2
    assert results["test"]["strict"]["f1"] >= 0.8, results["test"]["strict"]


def test_evaluate_ner_scores_a_saved_llm_token_classifier(trained_full, corpus16, tmp_path):
    output, results = trained_full
    command = [sys.executable, "evaluate_ner.py", "--model", str(output), "--dataset", str(corpus16),
               "--output_dir", str(tmp_path / "eval")]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    evaluated = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert evaluated["test"]["strict"] == results["test"]["strict"]


def test_llm_only_flags_are_refused_for_an_encoder(tiny_bert, corpus16, tmp_path):
    command = [sys.executable, "train_encoder.py", "--dataset", str(corpus16), "--model_name_or_path",
               str(tiny_bert), "--attention", "causal", "--output_dir", str(tmp_path / "x"),
               "--use_cpu"]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode != 0
    assert "--attention is for decoder LLMs" in done.stderr


def test_qlora_on_a_4bit_base_trains_saves_and_reloads(tiny_llama, corpus16, tmp_path):
    """bitsandbytes' NF4 runs on CPU too: the same QLoRA path as on a GPU, reloaded in 4-bit as trained."""
    pytest.importorskip("bitsandbytes")
    output = tmp_path / "qlora"
    results = train(tiny_llama, corpus16, output, "--use_peft", "true", "--load_in_4bit", "true", epochs=2)
    info = json.loads((output / TOKEN_LLM_FILE).read_text())
    assert info["load_in_4bit"] is True and info["adapter"] is True
    tagger = load_tagger(str(output))
    assert (
        type(tagger.model.base_model.model.model.layers[0].self_attn.q_proj.base_layer).__name__
        == "Linear4bit"
    )
    assert tagger(tokens(output), progress=False) == predictions(output)
    assert results["meta"]["load_in_4bit"] is True


def test_push_and_load_by_repo_id(fake_hub, trained_lora, tmp_path):
    """An adapter pushed to the (local) Hub loads by repo id and predicts as the local directory does."""
    output, _ = trained_lora
    staged = tmp_path / "staged"
    shutil.copytree(output, staged, ignore=shutil.ignore_patterns("checkpoint-*"))
    (tmp_path / "sentences.json").write_text(json.dumps(tokens(output)))
    script = f"""
import json
from types import SimpleNamespace
from bioner.hub import push_training_output
from bioner.tagging.taggers import load_tagger
from bioner.training.publish import card_model_type
args = SimpleNamespace(hub_model_id="testorg/tiny-tokcls", output_dir={str(staged)!r}, hub_token=None,
                       hub_private_repo=False)
results = json.load(open({str(staged / "results.json")!r}))
push_training_output(args, base_model="google/gemma-3-270m", dataset="demo", results=results,
                     model_type=card_model_type({str(staged)!r}, "llm-token-classifier"))
sentences = json.load(open({str(tmp_path / "sentences.json")!r}))
print(json.dumps(load_tagger("testorg/tiny-tokcls")(sentences, progress=False)))
"""
    env = {**fake_hub.env(tmp_path / "home"), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-4000:]
    pushed = fake_hub.store.files("testorg/tiny-tokcls")
    assert TOKEN_LLM_FILE in pushed and "adapter_model.safetensors" in pushed
    card = pushed["README.md"].decode()
    assert "library_name: peft" in card and "pipeline_tag: token-classification" in card
    assert 'load_tagger("testorg/tiny-tokcls")' in card and "one-pass token classifier" in card
    assert json.loads(done.stdout.strip().splitlines()[-1]) == predictions(output)


def test_two_process_ddp_trains_one_llm_token_classifier(tiny_llama, corpus16, tmp_path):
    from tests.helpers import LAUNCH, free_port

    if torch.cuda.device_count() == 1:
        pytest.skip("--multi_gpu with 2 processes needs 2 GPUs (or none: gloo on CPU)")
    output = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}
    command = [
        *LAUNCH, "--main_process_port", str(free_port()), "train_encoder.py", "--dataset", str(corpus16),
        "--model_name_or_path", str(tiny_llama), "--output_dir", str(output), "--num_train_epochs", "1",
        "--per_device_train_batch_size", "4", "--eval_strategy", "no", "--save_strategy", "no",
        "--load_best_model_at_end", "false", "--use_peft", "true", "--disable_tqdm", "true", "--use_cpu",
    ]  # fmt: skip
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "world size 2" in done.stderr
    results = json.loads((output / "results.json").read_text())
    assert results["meta"]["world_size"] == 2 and results["meta"]["model_kind"] == LLM_TOKEN_CLASSIFIER
    assert (output / TOKEN_LLM_FILE).is_file() and (output / "adapter_model.safetensors").is_file()


@pytest.mark.parametrize("alias", ["gemma3", "smollm2", "mpnet"])
def test_pre_split_words_get_their_running_text_sub_words(alias, request):
    """Word starts are right for SentencePiece-style (Gemma: the normalizer makes spaces '▁'), byte-level
    (SmolLM2) and WordPiece (MPNet) tokenizers: each BC5CDR test sentence's word pieces, concatenated, are
    exactly the ids of the sentence as running text."""
    from bioner.corpora.sources import load_split
    from bioner.decoding.windows import WordEncoder

    path = str(request.getfixturevalue(alias))
    tokenizer = load_tokenizer(path) if alias == "mpnet" else load_tokenizer(path, LLM_TOKEN_CLASSIFIER)
    data_dir = os.environ.get("BIONER_DATA_DIR") or ROOT.parent / "shared" / "data"
    sentences = [list(s) for s in load_split("bc5cdr", str(data_dir), "test", 200)["tokens"]]
    pieces = WordEncoder(tokenizer, max_length=4096).word_pieces(sentences)
    for words, word_pieces in zip(sentences, pieces, strict=True):
        running = tokenizer(" ".join(words), add_special_tokens=False)["input_ids"]
        assert [i for piece in word_pieces for i in piece] == running, words
