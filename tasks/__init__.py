"""Verifiable tasks: each file keeps its generator/data, prompt and reward together. Registry in tasks.registry."""
