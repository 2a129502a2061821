"""The one result type every reward function returns."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RewardResult:
    """Outcome of scoring one completion.

    value:  the scalar reward used for advantages (float).
    reason: a short machine-readable word explaining the value, e.g. "correct", "wrong",
            "no_answer", "timeout", "bad_format". Counted per step so a silently failing
            verifier shows up in the metrics instead of as a flat zero reward.
    parts:  named components (e.g. {"accuracy": 1.0, "format": 0.0}) that were combined into
            `value`; logged separately so format and accuracy can be watched on their own.
    """

    value: float
    reason: str
    parts: dict[str, float] = field(default_factory=dict)
