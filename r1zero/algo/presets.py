"""Recipes in one word: `algo.preset=<name>` sets every key its paper implies.

Each preset is a plain dict of dotted config keys -> values. r1zero.config.load_config applies it after merging the
YAML and the overrides, only to the keys neither of them set: defaults < preset < YAML < overrides. docs/recipes.md
lists the same settings with the reasons; tests/test_presets.py checks both stay in step.

Only what the paper implies is set; the run's size (model, task, prompts_per_step, rollout.n, max_tokens, lr, steps)
stays with the config file, so a preset composes with any model and task.
"""

from __future__ import annotations

from typing import Any

PRESETS: dict[str, dict[str, Any]] = {
    # DeepSeek-R1-Zero (DeepSeek-AI 2025, "DeepSeek-R1"): GRPO as DeepSeekMath defines it (Shao et al. 2024).
    "r1-zero": {
        "algo.estimator": "grpo",  # group-normalised advantage (r - mean) / std (R1 eq. 3, DeepSeekMath sec. 4.1.2)
        "algo.agg": "seq_mean_token_mean",  # 1/G sum_i 1/|o_i| sum_t: each answer's token mean (DeepSeekMath eq. 3)
        "algo.loss": "ppo_clip",  # the clipped surrogate inside GRPO's objective (DeepSeekMath eq. 3)
        "algo.clip_low": 0.2,  # symmetric PPO clip (Schulman et al. 2017), GRPO's usual epsilon
        "algo.clip_high": 0.2,
        "algo.kl_coef": 0.001,  # KL toward the reference policy; R1 reports a coefficient of 0.001
        "algo.kl_estimator": "k3",  # the unbiased, non-negative estimator of DeepSeekMath eq. 4 (Schulman 2020)
        "rollout.temperature": 1.0,  # R1 samples its rollouts at temperature 1
    },
    # Dr. GRPO (Liu et al. 2025, "Understanding R1-Zero-Like Training: A Critical Perspective").
    "dr-grpo": {
        "algo.estimator": "dr_grpo",  # r - group mean, no std division: removes the question-difficulty bias (sec. 3.1)
        "algo.agg": "seq_sum_norm",  # sum over tokens / a constant (the generation budget), not / |o_i|: removes
        # the response-length bias that lets wrong answers grow long (sec. 3.1, their "unbiased" loss)
        "algo.loss": "ppo_clip",
        "algo.clip_low": 0.2,
        "algo.clip_high": 0.2,
        "algo.kl_coef": 0.0,  # their Oat-Zero recipe trains without the KL term to a reference
        "reward.truncated": "zero",  # a cut-off answer earns nothing (their verifier finds no answer in it)
        "rollout.temperature": 1.0,
    },
    # DAPO (Yu et al. 2025, "DAPO: An Open-Source LLM Reinforcement Learning System at Scale").
    "dapo": {
        "algo.estimator": "grpo",  # DAPO keeps GRPO's group-normalised advantage (eq. 9)
        "algo.agg": "token_mean",  # token-level policy-gradient loss: every token weighs the same (sec. 3.3)
        "algo.loss": "ppo_clip",
        "algo.clip_low": 0.2,  # clip-higher: eps_low 0.2, eps_high 0.28 leaves room for low-probability tokens to
        "algo.clip_high": 0.28,  # rise, against entropy collapse (sec. 3.1)
        "algo.mini_batches": 4,  # several optimizer steps per rollout batch (DAPO: 16), else the ratio is 1 and
        # clip-higher never acts; 4 keeps whole groups per mini-batch at 8 prompts per step
        "algo.kl_coef": 0.0,  # no KL penalty: a long-CoT policy is meant to move far from the start (sec. 2.3)
        "algo.dynamic_sampling": True,  # drop all-equal groups, refill from further prompts (sec. 3.2)
        "algo.max_sampling_rounds": 3,  # bounded refill (verl's DAPO recipe: max_num_gen_batches)
        "reward.truncated": "soft",  # soft overlong punishment over reward.overlong_buffer tokens (sec. 3.4, eq. 13)
        "rollout.temperature": 1.0,  # DAPO samples at temperature 1
    },
}
