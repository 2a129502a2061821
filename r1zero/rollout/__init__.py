"""Rollout generation (the only package that imports vLLM)."""
