"""Import boundaries: rewards/, tasks/ and r1zero.algo import where ray and vllm cannot (reward workers, laptops);
tasks/ and rewards/ import nothing from r1zero/ and never torch (a scoring process loads only them)."""

import subprocess
import sys

MODULES = """
import glob, importlib, os
for path in sorted(glob.glob('rewards/**/*.py', recursive=True) + glob.glob('tasks/*.py') + glob.glob(ALGO)):
    if path.endswith('__main__.py'):
        continue
    importlib.import_module(path[:-3].replace(os.sep, '.').removesuffix('.__init__'))
print('ok')
"""

NO_RAY = """
import sys
sys.modules['ray'] = None   # any `import ray` now raises ImportError
sys.modules['vllm'] = None
ALGO = 'r1zero/algo/*.py'
import r1zero.algo.advantages, r1zero.algo.losses, r1zero.types, r1zero.batching, r1zero.config
""" + MODULES

NO_TRAINER = """
import sys
sys.modules['r1zero'] = None  # tasks/ and rewards/ must not reach into the trainer
sys.modules['torch'] = None   # ... nor load torch, which a scoring process never uses
ALGO = '-'
""" + MODULES


def _run(code: str) -> None:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("ok")


def test_pure_packages_import_without_ray_or_vllm():
    _run(NO_RAY)


def test_tasks_and_rewards_import_without_the_trainer_or_torch():
    _run(NO_TRAINER)
