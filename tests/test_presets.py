"""Recipes in one word: algo.preset resolves to its paper's settings; the YAML and the overrides still win."""

from __future__ import annotations

from pathlib import Path

import pytest

from r1zero.algo.presets import PRESETS
from r1zero.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[1]


def _get(cfg, dotted: str):
    node = cfg
    for part in dotted.split("."):
        node = getattr(node, part)
    return node


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_resolves_to_its_settings(name):
    cfg = load_config(None, [f"algo.preset={name}"])
    assert cfg.algo.preset == name
    for key, value in PRESETS[name].items():
        assert _get(cfg, key) == value, key


def test_the_three_recipes():
    r1 = load_config(None, ["algo.preset=r1-zero"]).algo
    assert (r1.estimator, r1.aggregation, r1.kl_coef, r1.clip_high) == ("grpo", "seq_mean_token_mean", 0.001, 0.2)
    dr = load_config(None, ["algo.preset=dr-grpo"])
    assert (dr.algo.estimator, dr.algo.aggregation, dr.algo.kl_coef) == ("dr_grpo", "seq_sum_norm", 0.0)
    dapo = load_config(None, ["algo.preset=dapo"])
    assert dapo.algo.clip_high == 0.28 and dapo.algo.mini_batches > 1  # clip-higher that acts
    assert dapo.algo.aggregation == "token_mean" and dapo.algo.dynamic_sampling and dapo.reward.truncated == "soft"


def test_none_is_the_defaults():
    assert load_config(None, ["algo.preset=none"]).model_dump() == {
        **load_config().model_dump(), "algo": {**load_config().algo.model_dump(), "preset": "none"}}


def test_explicit_overrides_win_even_at_the_default_value():
    cfg = load_config(None, ["algo.clip_high=0.3", "algo.preset=dapo", "algo.kl_coef=0.0"])
    assert cfg.algo.clip_high == 0.3  # the override, whatever its order relative to the preset
    assert cfg.algo.mini_batches == 4  # the preset's, where the user said nothing
    cfg = load_config(None, ["algo.preset=r1-zero", "algo.kl_coef=0"])
    assert cfg.algo.kl_coef == 0.0  # 0 is the default, yet said explicitly: it beats the preset's 0.001


def test_yaml_keys_win_and_overrides_beat_the_yaml(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("algo:\n  preset: dr-grpo\n  agg: token_mean\nreward:\n  truncated: mask\n")
    cfg = load_config(p)
    assert cfg.algo.estimator == "dr_grpo" and cfg.algo.agg == "token_mean" and cfg.reward.truncated == "mask"
    cfg = load_config(p, ["algo.preset=dapo"])  # the override picks the preset; the YAML's keys still win
    assert cfg.algo.clip_high == 0.28 and cfg.algo.agg == "token_mean" and cfg.reward.truncated == "mask"


def test_unknown_preset_is_a_config_error():
    with pytest.raises(ConfigError, match=r"algo\.preset.*'dappo'"):
        load_config(None, ["algo.preset=dappo"])


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_config_files_are_the_default_run_with_the_preset(name):
    cfg = load_config(ROOT / "configs" / f"{name}.yaml")
    default = load_config(ROOT / "configs" / "default.yaml")
    for key, value in PRESETS[name].items():  # the file leaves every preset key to the preset
        assert _get(cfg, key) == value, key
    for section in ("model", "data", "learner"):
        assert getattr(cfg, section) == getattr(default, section), section
    assert cfg.rollout.model_dump() == default.rollout.model_dump()
    assert cfg.train.steps == default.train.steps and cfg.train.output_dir == f"runs/{name}"


def test_docs_list_every_setting():
    doc = (ROOT / "docs" / "recipes.md").read_text()
    for name, settings in PRESETS.items():
        section = doc.split(f"## `{name}`", 1)[1].split("\n## ", 1)[0]
        for key, value in settings.items():
            shown = str(value).lower() if isinstance(value, bool) else str(value)
            assert f"`{key}={shown}`" in section, (name, key)
