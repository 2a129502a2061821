"""rewards/, tasks/ and r1zero.algo must import where ray and vllm cannot (reward workers, laptops)."""

import subprocess
import sys

CODE = """
import sys
sys.modules['ray'] = None   # any `import ray` now raises ImportError
sys.modules['vllm'] = None
import r1zero.algo.advantages, r1zero.algo.losses, r1zero.types, r1zero.batching, r1zero.config
import rewards, rewards.format, rewards.exact
import tasks.base, tasks.registry, tasks.arithmetic
import glob, importlib, os
for path in sorted(glob.glob('rewards/*.py') + glob.glob('tasks/*.py') + glob.glob('r1zero/algo/*.py')):
    importlib.import_module(path[:-3].replace(os.sep, '.'))
print('ok')
"""


def test_pure_packages_import_without_ray_or_vllm():
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("ok")
