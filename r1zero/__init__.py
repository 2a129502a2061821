"""r1zero: a reasoning-focused, pure-RL trainer in the DeepSeek-R1-Zero style."""

__version__ = "0.1.0"
