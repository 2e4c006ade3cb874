"""Decoder path: train_decoder.py on tiny random Llamas, constrained and free decoding, evaluation, the
Hub."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import evaluate_ner
import train_decoder
from bioner.corpora.sources import load_ner_dataset
from bioner.tagging.taggers import load_tagger
from metrics.bio_ner.scoring import compute_ner_scores
from tests.fixtures.decoders import DECODER_FAST
from tests.fixtures.decoders import train_instances as _train_instances
from tests.helpers import ROOT

FAST = DECODER_FAST


def test_overfit_constrained_reproduces_gold(overfit_run):
    output, _ = overfit_run
    words, gold = _train_instances()
    tagger = load_tagger(str(output), decoding="constrained", batch_size=16)
    predictions = tagger(words, progress=False)
    assert compute_ner_scores(predictions, gold)["strict"]["f1"] >= 0.95
    passes = tagger.last_stats["forward_passes"]
    if tagger.prompt_format.output_format == "tags":
        assert passes == [len(w) for w in words]  # one forward pass per word, prompt included in the first
    else:
        assert all(p >= len(w) for p, w in zip(passes, words, strict=True))


def test_free_equals_constrained_on_well_formed_output(overfit_run):
    output, _ = overfit_run
    words, _ = _train_instances()
    constrained = load_tagger(str(output), decoding="constrained", batch_size=16)(words, progress=False)
    free_tagger = load_tagger(str(output), decoding="free", batch_size=4)
    free = free_tagger(words, progress=False)
    alignment = free_tagger.last_stats["alignment"]
    assert alignment["aligned"] == alignment["instances"] == 16  # canonical, well-formed answers ...
    assert free == constrained  # ... give the same greedy choices
    assert free_tagger.last_stats["forward_passes_per_instance"] > 2 * sum(map(len, words)) / len(words)


def test_batched_constrained_equals_one_at_a_time(overfit_run):
    output, _ = overfit_run
    words, _ = _train_instances()
    batched = load_tagger(str(output), decoding="constrained", batch_size=5)
    single = load_tagger(str(output), decoding="constrained", batch_size=1)
    assert batched(words, progress=False) == single(words, progress=False)
    assert batched.last_stats["forward_passes"] == single.last_stats["forward_passes"]


def test_long_instances_are_windowed_at_inference(overfit_run):
    output, _ = overfit_run
    words, _ = _train_instances()
    tagger = load_tagger(str(output), decoding="constrained", batch_size=4, max_length=120)
    predictions = tagger(words, progress=False)
    assert [len(p) for p in predictions] == [len(w) for w in words]
    assert tagger.last_stats["windowed_instances"] > 0


def test_training_outputs_and_evaluate_ner_agree(overfit_run, tmp_path):
    output, result = overfit_run
    for name in (
        "results.json",
        "predictions_test.jsonl",
        "report.md",
        "f1_by_length.png",
        "bioner_decoder.json",
    ):
        assert (output / name).is_file(), name
    meta = json.loads((output / "results.json").read_text())["meta"]
    assert meta["decoding"] == "constrained" and meta["world_size"] == 1
    assert meta["decode"]["test"]["forward_passes_per_instance"] > 0
    evaluated = evaluate_ner.main(
        ["--model", str(output), "--dataset", "demo", "--max_instances", "16", "--output_dir", str(tmp_path)]
    )
    assert evaluated["scores"]["strict"] == result["scores"]["test"]["strict"]
    assert evaluated["meta"]["decoding"] == "constrained"


@pytest.mark.parametrize(
    ("output_format", "fixture", "four_bit"),
    [
        ("tags", "tiny_llama", False),
        ("paper", "tiny_llama_untied", False),
        ("tags", "tiny_llama_untied", True),
        ("paper", "tiny_llama", True),
    ],
)
def test_lora_steps_train_adapter_and_tag_rows(output_format, fixture, four_bit, tmp_path, request):
    """A few QLoRA/LoRA steps: every adapted part (LoRA incl. lm_head, tag-token rows) receives gradient."""
    from safetensors.torch import load_file

    base = request.getfixturevalue(fixture)
    args = [
        *FAST,
        "--model_name_or_path", str(base),
        "--output_dir", str(tmp_path),
        "--answer_format", output_format,
        "--lora_r", "8",
        "--lora_alpha", "16",
        "--learning_rate", "1e-2",
        "--max_steps", "2",
        "--max_train_samples", "8",
        "--max_eval_samples", "4",
        "--load_in_4bit", str(four_bit).lower(),
    ]  # fmt: skip
    result = train_decoder.main(args)
    config = json.loads((tmp_path / "adapter_config.json").read_text())
    weights = load_file(tmp_path / "adapter_model.safetensors")
    assert config["base_model_name_or_path"] == str(base)
    assert not any("base_layer" in key for key in weights)  # only adapter weights, not the embeddings
    lora_b = [v for k, v in weights.items() if "lora_B" in k]
    assert lora_b and all(v.abs().sum() > 0 for v in lora_b)  # LoRA B starts at zero: each one got gradient
    if fixture == "tiny_llama_untied":
        assert "lm_head" in config["target_modules"]
        assert any("lm_head" in k and "lora_B" in k for k in weights)
    if output_format == "tags":
        from transformers import AutoTokenizer

        tag_ids = AutoTokenizer.from_pretrained(tmp_path).convert_tokens_to_ids(
            ["<O>", "<B-Chemical>", "<B-Disease>", "<I-Chemical>", "<I-Disease>"]
        )
        assert sorted(config["trainable_token_indices"]["embed_tokens"]) == sorted(tag_ids)
        assert any("trainable_tokens_delta" in k for k in weights)
    assert result["meta"]["load_in_4bit"] is four_bit and result["meta"]["peft"] is True
    # The adapter evaluates back by path, to the same predictions as right after training.
    tagger = load_tagger(str(tmp_path), load_in_4bit=four_bit)
    records = [json.loads(line) for line in (tmp_path / "predictions_test.jsonl").read_text().splitlines()]
    assert tagger([r["tokens"] for r in records], progress=False) == [r["pred"] for r in records]


def test_dev_loss_each_epoch_with_best_checkpoint_restored(tiny_llama, tmp_path):
    """The seed's schedule in miniature: evaluation and checkpoint every epoch, best adapter restored and
    saved."""
    result = train_decoder.main(
        ["--dataset", "demo", "--disable_tqdm", "true", "--model_name_or_path", str(tiny_llama),
         "--output_dir", str(tmp_path), "--lora_r", "8", "--learning_rate", "1e-2", "--num_train_epochs", "2",
         "--max_train_samples", "8", "--max_eval_samples", "4", "--effective_batch_size", "8",
         "--keep_checkpoints", "true"]
    )  # fmt: skip
    meta = result["meta"]
    assert meta["epochs_run"] == 2 and meta["best_checkpoint"] is not None
    assert Path(meta["best_checkpoint"]).parent == tmp_path
    history = json.loads((Path(meta["best_checkpoint"]) / "trainer_state.json").read_text())["log_history"]
    assert any("eval_loss" in entry for entry in history)
    assert (tmp_path / "adapter_model.safetensors").is_file()


def test_unavailable_model_is_a_clear_error(tmp_path):
    """Offline, the default Mistral cannot load: one line says what to do, no traceback."""
    import os
    import subprocess
    import sys

    completed = subprocess.run(
        [sys.executable, "train_decoder.py", *FAST, "--output_dir", str(tmp_path), "--max_steps", "1"],
        cwd=ROOT,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode != 0
    assert "Traceback" not in completed.stderr
    assert "mistralai/Mistral-7B-Instruct-v0.3" in completed.stderr and "offline" in completed.stderr


def test_4bit_model_is_quantized(tiny_llama):
    from trl import ModelConfig

    from bioner.models.llm import load_causal_lm

    model = load_causal_lm(
        str(tiny_llama), ModelConfig(load_in_4bit=True, dtype="bfloat16", use_bnb_nested_quant=True)
    )
    kinds = {type(m).__name__ for m in model.modules()}
    assert "Linear4bit" in kinds


def test_completion_only_loss_on_a_collated_batch(tiny_llama, tmp_path):
    """Labels are -100 on every prompt and padding position and equal the ids on the answer."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig

    from bioner.decoding.prompts import AnswerTokenizer, build_prompt_format
    from bioner.models.llm import add_tag_tokens
    from bioner.training.decoder import AnswerOnlySFTTrainer, sft_dataset
    from tests.fixtures.models import LABELS

    tokenizer = AutoTokenizer.from_pretrained(tiny_llama)
    model = AutoModelForCausalLM.from_pretrained(tiny_llama)
    prompt_format = build_prompt_format("tags", LABELS, tokenizer)
    add_tag_tokens(model, tokenizer, prompt_format)
    answers = AnswerTokenizer(tokenizer, prompt_format)
    split = load_ner_dataset("demo")["train"].select(range(6))
    data, _ = sft_dataset(split, LABELS, answers, 2048, "train")
    trainer = AnswerOnlySFTTrainer(
        model=model,
        args=SFTConfig(output_dir=str(tmp_path), use_cpu=True, bf16=False, per_device_train_batch_size=6,
                       report_to="none", max_length=2048),
        train_dataset=data,
        processing_class=tokenizer,
    )  # fmt: skip
    batch = next(iter(trainer.get_train_dataloader()))
    assert batch["input_ids"].shape[0] == 6
    for row in range(6):
        ids, labels, mask = batch["input_ids"][row], batch["labels"][row], batch["attention_mask"][row]
        length = int(mask.sum())
        example = next(e for e in data if e["input_ids"] == ids[:length].tolist())
        answer = torch.tensor(example["completion_mask"], dtype=torch.bool)
        assert (labels[:length][~answer] == -100).all()  # prompt
        assert (labels[:length][answer] == ids[:length][answer]).all()  # answer, EOS included
        assert (labels[length:] == -100).all()  # padding
        assert tokenizer.decode(ids[:length][answer]).endswith("<O>\n" + tokenizer.eos_token)
    loss = trainer.compute_loss(model, {k: v for k, v in batch.items()})
    assert torch.isfinite(loss)


def test_over_long_training_instances_are_windowed_not_cut(tiny_llama, tmp_path, caplog):
    result = train_decoder.main(
        [*FAST, "--model_name_or_path", str(tiny_llama), "--output_dir", str(tmp_path), "--use_peft", "false",
         "--max_steps", "1", "--max_train_samples", "16", "--max_eval_samples", "4", "--max_length", "110"]
    )  # fmt: skip
    stats = result["meta"]["train_examples"]
    assert stats["windowed"] > 0 and stats["examples"] > 16 and stats["longest"] <= 110
    assert "split into windows" in caplog.text


def test_max_length_too_small_names_the_word(tiny_llama, tmp_path):
    with pytest.raises(SystemExit, match="alone does not fit --max_length 40"):
        train_decoder.main(
            [*FAST, "--model_name_or_path", str(tiny_llama), "--output_dir", str(tmp_path),
             "--max_steps", "1", "--max_train_samples", "2", "--max_length", "40"]
        )  # fmt: skip


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--answer_format", "json", "--answer_format must be one of"),
        ("--output_format", "json", "--answer_format must be one of"),  # the old spelling, same check
        ("--decoding", "beam", "--decoding must be"),
    ],
)
def test_bad_arguments_are_clear_errors(flag, value, message, tiny_llama, tmp_path):
    with pytest.raises(SystemExit, match=message):
        train_decoder.main(
            [*FAST, "--model_name_or_path", str(tiny_llama), "--output_dir", str(tmp_path), flag, value]
        )


def test_decoder_defaults_follow_the_seed():
    data_args, training_args, model_args = train_decoder.parse_args(["--output_dir", "/tmp/unused"])
    assert model_args.model_name_or_path == "mistral"
    assert (model_args.lora_r, model_args.lora_alpha, model_args.lora_dropout) == (128, 256, 0.05)
    assert model_args.use_bnb_nested_quant and model_args.bnb_4bit_quant_type == "nf4"
    assert model_args.load_in_4bit == torch.cuda.is_available()
    assert training_args.learning_rate == 4e-5 and training_args.num_train_epochs == 20
    assert training_args.per_device_train_batch_size * training_args.gradient_accumulation_steps == 32
    assert training_args.max_length == 2048 and data_args.early_stopping_patience == 3
    assert data_args.answer_format == "tags" and data_args.decoding == "constrained"


def test_answer_format_flag_and_its_deprecated_spelling():
    data_args, _, _ = train_decoder.parse_args(["--output_dir", "/tmp/unused", "--answer_format", "paper"])
    assert data_args.answer_format == "paper"
    with pytest.warns(FutureWarning, match="--output_format is deprecated: use --answer_format"):
        data_args, _, _ = train_decoder.parse_args(
            ["--output_dir", "/tmp/unused", "--output_format", "paper"]
        )
    assert data_args.answer_format == "paper" and data_args.output_format is None
    with pytest.raises(SystemExit, match="pass only --answer_format"):
        train_decoder.parse_args(
            ["--output_dir", "/tmp/unused", "--output_format", "paper", "--answer_format", "tags"]
        )


def test_free_decoding_reports_alignment(tiny_llama, tmp_path):
    """An untrained model rambles: free decoding still gives one tag per word and counts the repairs."""
    result = train_decoder.main(
        [*FAST, "--model_name_or_path", str(tiny_llama), "--output_dir", str(tmp_path), "--use_peft", "false",
         "--max_steps", "1", "--max_train_samples", "4", "--max_eval_samples", "3", "--decoding", "free"]
    )  # fmt: skip
    alignment = result["meta"]["decode"]["test"]["alignment"]
    assert alignment["instances"] == 3 and alignment["aligned"] < 3
    records = [json.loads(line) for line in (tmp_path / "predictions_test.jsonl").read_text().splitlines()]
    assert all(len(r["pred"]) == len(r["tokens"]) for r in records)


def test_adapter_round_trip_through_the_hub(fake_hub, tiny_llama, tmp_path):
    """Push an adapter with a model card to the (local) Hub and evaluate it back by repo id, as users do."""
    from tests.helpers import run_python

    env = fake_hub.env(tmp_path / "home")
    output = tmp_path / "run"
    run_python(
        ["train_decoder.py", *FAST, "--model_name_or_path", str(tiny_llama), "--output_dir", str(output),
         "--lora_r", "8", "--max_steps", "2", "--max_train_samples", "8", "--max_eval_samples", "6",
         "--push_to_hub", "true", "--hub_model_id", "testorg/tiny-adapter"],
        env,
    )  # fmt: skip
    files = fake_hub.store.files("testorg/tiny-adapter", "model")
    assert {"adapter_config.json", "adapter_model.safetensors", "bioner_decoder.json", "README.md"} <= set(
        files
    )
    card = files["README.md"].decode()
    assert "model-index" in card and "library_name: peft" in card and "`<B-Chemical>`" in card
    assert 'load_tagger("testorg/tiny-adapter"' in card  # usage goes through bioner (prompt, tag tokens)
    run_python(
        ["evaluate_ner.py", "--model", "testorg/tiny-adapter", "--dataset", "demo", "--max_instances", "6",
         "--output_dir", str(tmp_path / "eval")],
        env,
    )  # fmt: skip
    trained = json.loads((output / "results.json").read_text())["test"]["strict"]
    evaluated = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert evaluated["test"]["strict"] == trained
    assert evaluated["meta"]["decoding"] == "constrained"
    run_python(
        ["evaluate_ner.py", "--model", "testorg/tiny-adapter", "--dataset", "demo", "--max_instances", "6",
         "--decoding", "speculative", "--draft", "all-O", "--output_dir", str(tmp_path / "speculative")],
        env,
    )  # fmt: skip
    speculative = json.loads((tmp_path / "speculative" / "results.json").read_text())
    assert speculative["test"]["strict"] == trained  # the same tags, from the Hub adapter
    assert speculative["meta"]["decoding"] == "speculative"
    assert speculative["meta"]["draft_model"] == "all-O"
    # tag.py by repo id: the adapter's predictions on raw text equal its evaluate_ner predictions on the
    # words.
    predicted = [
        json.loads(line) for line in (tmp_path / "eval" / "predictions.jsonl").read_text().splitlines()
    ]
    source = tmp_path / "words.jsonl"
    source.write_text("".join(json.dumps({"id": r["id"], "tokens": r["tokens"]}) + "\n" for r in predicted))
    run_python(["tag.py", "--model", "testorg/tiny-adapter", "--input", str(source), "--with_tags",
                "--output", str(tmp_path / "tagged.jsonl")], env)  # fmt: skip
    tagged = [json.loads(line) for line in (tmp_path / "tagged.jsonl").read_text().splitlines()]
    assert [[t["tag"] for t in r["tokens"]] for r in tagged] == [r["pred"] for r in predicted]


def test_training_without_evaluation_keeps_its_facts_but_writes_no_results(tiny_llama, tmp_path):
    """--evaluate false: no results.json (the grid reads its absence as a failed run), train_meta.json
    instead."""
    result = train_decoder.main(
        [*FAST, "--model_name_or_path", str(tiny_llama), "--output_dir", str(tmp_path), "--use_peft", "false",
         "--max_steps", "1", "--max_train_samples", "8", "--evaluate", "false"]
    )  # fmt: skip
    assert result["scores"] == {}
    assert not (tmp_path / "results.json").exists()
    meta = json.loads((tmp_path / "train_meta.json").read_text())
    assert meta == json.loads(json.dumps(result["meta"])) and meta["train_seconds"] >= 0
