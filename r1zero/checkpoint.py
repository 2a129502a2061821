"""Atomic, exactly resumable checkpoints: learner state + controller state, written to a temp dir then renamed."""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any, Callable

_NAME = re.compile(r"^step_(\d{6})$")


def save(run_dir: Path, step: int, controller_state: dict[str, Any], save_learner: Callable[[str], None],
         keep: int) -> Path:
    """Write checkpoints/step_NNNNNN atomically; keep the newest `keep`. A crash mid-write leaves no partial dir."""
    root = Path(run_dir) / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step_{step:06d}"
    tmp = root / f".tmp_step_{step:06d}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        save_learner(str(tmp / "learner"))
        (tmp / "controller.json").write_text(json.dumps(controller_state))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # a full disk must not also hold a half checkpoint
        raise
    # The fault tests widen the window between writing and publishing a checkpoint to kill the driver inside it.
    time.sleep(float(os.environ.get("R1ZERO_TEST_CHECKPOINT_PAUSE_S", "0")))
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)  # atomic on one filesystem: a checkpoint either exists whole or not at all
    for old in list_checkpoints(run_dir)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def list_checkpoints(run_dir: Path) -> list[Path]:
    root = Path(run_dir) / "checkpoints"
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and _NAME.match(p.name))


def latest(run_dir: Path) -> Path | None:
    found = list_checkpoints(run_dir)
    return found[-1] if found else None


def load_controller_state(ckpt: Path) -> dict[str, Any]:
    return json.loads((Path(ckpt) / "controller.json").read_text())
