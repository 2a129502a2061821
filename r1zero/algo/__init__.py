"""Pure RL algorithms (advantages, losses). No config objects, no Ray, no vLLM."""
