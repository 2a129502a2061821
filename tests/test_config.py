"""Typed config: defaults, YAML overrides, dotted overrides, one-line errors naming the key."""

import pytest

from r1zero.config import Config, ConfigError, describe, load_config


def test_defaults_and_every_field_documented():
    cfg = load_config()
    assert cfg.algo.estimator == "grpo" and cfg.rollout.n == 8
    lines = describe(cfg)
    assert all("# None" not in line and line.split("# ", 1)[1].strip() for line in lines)
    assert any(line.startswith("algo.clip_high = 0.2") for line in lines)


def test_yaml_then_dotted_overrides(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("algo:\n  clip_high: 0.28\nrollout:\n  n: 4\ndata:\n  tasks:\n    arithmetic:\n      args: {digits: 2}\n")
    cfg = load_config(p, ["rollout.n=6", "rollout.stop=[a, b]", "learner.lr=3e-6"])
    assert cfg.algo.clip_high == 0.28 and cfg.algo.clip_low == 0.2  # untouched sibling keeps its default
    assert cfg.rollout.n == 6 and cfg.rollout.stop == ["a", "b"] and cfg.learner.lr == 3e-6
    assert cfg.data.tasks["arithmetic"].args == {"digits": 2}  # tasks replaced whole by the YAML


def test_unknown_key_names_closest():
    with pytest.raises(ConfigError) as e:
        load_config(None, ["algo.clip_hgh=0.3"])
    msg = str(e.value)
    assert "algo.clip_hgh" in msg and "clip_high" in msg and "\n" not in msg


def test_unknown_section_in_yaml(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("rollouts:\n  n: 4\n")
    with pytest.raises(ConfigError, match="unknown key 'rollouts'.*rollout"):
        load_config(p)


def test_unknown_task_arg_key(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("data:\n  tasks:\n    arithmetic:\n      wieght: 2\n")
    with pytest.raises(ConfigError, match="data.tasks.arithmetic.wieght.*weight"):
        load_config(p)


def test_bad_type_and_bad_value():
    with pytest.raises(ConfigError, match=r"rollout\.n: .*'many'"):
        load_config(None, ["rollout.n=many"])
    with pytest.raises(ConfigError, match=r"algo\.agg"):
        load_config(None, ["algo.agg=sum"])
    with pytest.raises(ConfigError, match="key.sub=value"):
        load_config(None, ["rollout.n"])


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "nope.yaml")
    p = tmp_path / "bad.yaml"
    p.write_text("algo: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(p)


def test_assignment_is_validated():
    cfg = Config()
    with pytest.raises(ValueError):
        cfg.rollout.n = "x"


def test_estimator_brings_its_own_aggregation_unless_set():
    """Audit item 6: estimator=dr_grpo alone used to keep token_mean, which is not Dr. GRPO's objective."""
    assert load_config(None, ["algo.estimator=dr_grpo"]).algo.aggregation == "seq_sum_norm"
    assert load_config(None, ["algo.estimator=grpo"]).algo.aggregation == "token_mean"
    assert load_config(None, ["algo.estimator=dr_grpo", "algo.agg=token_mean"]).algo.aggregation == "token_mean"


def test_settings_the_learner_cannot_match_are_refused():
    for bad, needle in ((["rollout.top_p=0.9"], "nucleus"), (["algo.kl_coef=0.1", "algo.kl_estimator=k1"], "k1")):
        with pytest.raises(ConfigError, match=needle):
            load_config(None, bad)
