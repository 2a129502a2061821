"""The arithmetic task, the R1 format reward and the exact integer reward."""

import pytest

from rewards.exact import integer_answer, parse_int
from rewards.format import strict_format, tag_credit
from tasks.base import R1_SYSTEM_PROMPT, render_prompt
from tasks.registry import make_task


def test_strict_format():
    assert strict_format("<think> 2+3 is 5 </think> <answer>5</answer>").value == 1.0
    assert strict_format("<think>a</think>\n<answer> 5 </answer>\n").value == 1.0
    for bad in [
        "<answer>5</answer>",  # no think block
        "<think>a</think><answer>5</answer> extra",  # text after the answer
        "<think>a</think><answer>5</answer><answer>6</answer>",  # two answers
        "<think>a<think>b</think><answer>5</answer>",  # nested / repeated think
        "<answer>5</answer><think>a</think>",  # wrong order
        "<think>a</think>",
    ]:
        assert strict_format(bad).value == 0.0, bad
    assert strict_format("<think>a</think><answer> </answer>").reason == "empty_answer"
    assert tag_credit("<think>a</think> 5") == 0.5


def test_prefilled_think_earns_no_tag_credit():
    # the response passed to score() starts with the prefill: that '<think>' is the prompt's, not the model's
    assert tag_credit("<think> rambling", prefill="<think>") == 0.0
    assert tag_credit("<think> a </think> 5", prefill="<think>") == pytest.approx(1 / 3)
    assert tag_credit("<think> a </think> <answer>5</answer>", prefill="<think>") == 1.0
    assert tag_credit("no prefill here </think>", prefill="<think>") == 0.25  # not prefilled: all four tags count
    assert tag_credit("<think> rambling") == 0.25
    p = make_task("arithmetic").problem("train", 0)
    assert make_task("arithmetic").score("<think> rambling", p).value == 0.0  # no constant bonus
    assert make_task("arithmetic", prefill_think=False).score("<think> rambling", p).parts["tags"] == 0.25


def test_integer_answer():
    assert integer_answer("<think>4+1</think><answer>5</answer>", "5").reason == "correct"
    assert integer_answer("<think>4+1</think><answer>-1,234</answer>", "-1234").value == 1.0
    assert integer_answer("<think>5</think><answer>6</answer>", "5").reason == "wrong"
    assert integer_answer("<think>x</think><answer>5 or 6</answer>", "5").reason == "hedged"
    assert integer_answer("<think>x</think><answer>5.5</answer>", "5").reason == "no_answer"
    # the answer is taken after </think>, never from inside the reasoning
    assert integer_answer("<think>it is 5</think><answer>six</answer>", "5").value == 0.0
    # lenient: no answer block, last integer after the reasoning counts; strict mode refuses it
    assert integer_answer("<think>2+3</think> so 5", "5").value == 1.0
    assert integer_answer(" 2 + 3 = 5", "5").value == 1.0
    assert integer_answer(" 2 + 3 = 5", "5", lenient=False).reason == "no_answer"
    assert integer_answer("<think>x</think><answer>5</answer>", "five").reason == "unparseable_gold"
    assert parse_int("1,000") == 1000 and parse_int("1.5") is None and parse_int(r"\boxed{7}") == 7


def test_arithmetic_task_is_seeded_and_scores():
    t1, t2 = make_task("arithmetic", seed=5), make_task("arithmetic", seed=5)
    p1, p2 = t1.problems("train", 20), t2.problems("train", 20)
    assert p1 == p2
    assert p1 != make_task("arithmetic", seed=6).problems("train", 20)
    assert t1.problem("test", 0) != t1.problem("train", 0) or t1.problem("test", 1) != t1.problem("train", 1)
    for p in p1:
        a, b = p.meta["expression"].split(" + ") if "+" in p.meta["expression"] else (None, None)
        if a is not None:
            assert int(p.answer) == int(a) + int(b)
        good = t1.score(f"<think>{p.meta['expression']}</think> <answer>{p.answer}</answer>", p)
        assert good.value == 1.5 and good.parts == {"accuracy": 1.0, "format": 1.0, "tags": 1.0}
        wrong = t1.score(f"<think>x</think> <answer>{int(p.answer) + 1}</answer>", p)
        assert wrong.value == 0.5 and wrong.reason == "wrong"
        # one of the three tags left after the prefilled '<think>': a third of the partial credit (0.5 * 0.5 / 3),
        # plus accuracy from the lenient parse
        partial = t1.score(f"<think>{p.meta['expression']}</think> so {p.answer}", p)
        assert partial.value == pytest.approx(1 + 0.25 / 3) and partial.parts["format"] == 0.0
        assert partial.parts["tags"] == pytest.approx(1 / 3)


def test_arithmetic_digits_terms_and_bad_args():
    t = make_task("arithmetic", family="basic_arithmetic", digits=2, terms=3)
    p = t.problem("train", 0)
    assert len([x for x in p.meta["expression"].split() if x.lstrip("-").isdigit()]) == 3
    with pytest.raises(ValueError, match="valid"):
        make_task("arithmetic", family="calculus")
    with pytest.raises(ValueError, match=r"unknown argument \['dgits'\] \(did you mean 'digits'"):
        make_task("arithmetic", dgits=2)
    with pytest.raises(KeyError, match="valid: .*arithmetic"):
        make_task("poetry")


@pytest.mark.parametrize("args", [{"family": "chain_sum", "digits": 1, "terms": 2},
                                  {"family": "basic_arithmetic", "digits": 1, "terms": 2}])
def test_arithmetic_test_split_is_disjoint_from_training_for_any_seed(args):
    # 1-digit 2-term chain sums have 200 distinct problems: the seed-offset split of old repeated most of them
    def keys(split: str, seed: int, n: int) -> set[str]:
        task = make_task("arithmetic", seed=seed, **args)
        return {task.canonical(p) for p in task.problems(split, n)}

    train = keys("train", 0, 3000) | keys("train", 1, 3000)
    test = keys("test", 0, 500) | keys("test", 5, 500)
    assert len(test) >= 20 and not train & test


def test_default_run_eval_sees_no_training_problem():
    from tasks.overlap import seen_in_training
    from tasks.registry import TaskMixture

    mix = TaskMixture({"arithmetic": (1.0, {"family": "chain_sum", "digits": 1, "terms": 2})}, seed=0)
    test = mix.tasks["arithmetic"].problems("test", 32)
    assert seen_in_training(mix, test, steps=40, prompts_per_step=8) == 0  # 26 of 32 before splits were keyed
    train = [p for step in range(40) for p in mix.batch(step, 8)]
    assert seen_in_training(mix, train[:32], steps=40, prompts_per_step=8) == 32


def test_raw_template():
    s = render_prompt("What is 1 + 1?", chat=False)
    assert s == f"{R1_SYSTEM_PROMPT} User: What is 1 + 1? Assistant: <think>"
    with pytest.raises(ValueError, match="chat template"):
        render_prompt("q", tokenizer=None, chat=True)
