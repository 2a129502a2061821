"""Pure, verifiable reward functions: (completion, truth) -> RewardResult.

Nothing here imports Ray, vLLM or torch: rewards run in plain worker processes.
"""

from rewards.base import RewardResult

__all__ = ["RewardResult"]
