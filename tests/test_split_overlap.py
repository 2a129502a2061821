"""tasks/overlap.py: split keys, canonical forms, n-gram contamination of data files, seen-in-training counts."""

from __future__ import annotations

from pathlib import Path

from tasks.gsm8k import GSM8KTask
from tasks.overlap import (
    contamination,
    default_canonical,
    file_contamination,
    seen_in_training,
    split_of_key,
    split_overlap,
)
from tasks.registry import TaskMixture, make_task

FIXTURES = Path(__file__).parent / "fixtures"
MINI, HELDOUT, DIRTY = (str(FIXTURES / f"gsm8k_{n}.jsonl") for n in ("mini", "heldout", "contaminated"))


def test_split_keys_are_fixed_and_share_the_space():
    keys = [f"{a} + {b}" for a in range(100) for b in range(100)]
    splits = [split_of_key(k, 0.2) for k in keys]
    assert splits == [split_of_key(k, 0.2) for k in keys]  # no seed, no per-process hash
    assert 0.17 < splits.count("test") / len(keys) < 0.23
    assert split_of_key("3 + 5", 0.0) == "train" and split_of_key("3 + 5", 1.0) == "test"


def test_default_canonical_ignores_wording_but_not_numbers():
    assert default_canonical("What is 3 + 5?", "8") == default_canonical("Add 3 and 5.", " 8")
    assert default_canonical("What is 3 + 5?", "8") != default_canonical("What is 3 + 6?", "9")
    assert default_canonical("A factory makes 1,250 bottles", "1") == default_canonical("It makes 1250 bottles", "1")
    assert default_canonical("Spell 'Planet' backwards.", "tenalp") == default_canonical("spell planet backwards",
                                                                                          "x")


def test_contamination_of_overlapping_and_clean_files():
    dirty = file_contamination(MINI, DIRTY)  # one copied row, one with a single number changed, two fresh
    assert (dirty.eval, dirty.exact, dirty.ngram, dirty.clean) == (4, 1, 2, False)
    assert dirty.examples[1].startswith("Mia has 14 apples")
    clean = file_contamination(MINI, HELDOUT)
    assert (clean.eval, clean.exact, clean.ngram, clean.clean) == (4, 0, 0, True)
    assert file_contamination(MINI, MINI).exact == 8


def test_contamination_short_texts_count_only_as_exact():
    rep = contamination(["one two three"], ["One, two; three", "one two four"])
    assert (rep.exact, rep.ngram) == (1, 1)


def test_split_overlap_of_data_tasks():
    same = split_overlap(GSM8KTask(path=MINI), n=8)
    assert same.same_source and (same.exact, same.normalised, same.test, same.train) == (8, 8, 8, 8)
    assert "reads the training data" in same.line()
    held = split_overlap(GSM8KTask(path=MINI, test_path=HELDOUT), n=8)
    assert held.disjoint and not held.same_source and held.ngram is not None and held.ngram.clean
    dirty = split_overlap(GSM8KTask(path=MINI, test_path=DIRTY), n=8)
    assert (dirty.exact, dirty.normalised, dirty.ngram.ngram) == (1, 1, 2) and dirty.examples == ["gsm8k/test/0"]


def test_generators_keep_splits_disjoint():
    for name, args in [("arithmetic", {}), ("countdown", {}), ("gym:basic_arithmetic", {"size": 300})]:
        rep = split_overlap(make_task(name, seed=3, **args), n=50, train_n=500)
        assert rep.disjoint and rep.test == 50, (name, rep)


def test_seen_in_training_counts_what_the_stream_drew():
    # a data task whose test split is its training file: every test problem the stream drew is seen
    mix = TaskMixture({"gsm8k": (1.0, {"path": MINI})}, seed=0)
    test = mix.tasks["gsm8k"].problems("test", 8)
    assert seen_in_training(mix, test, steps=1, prompts_per_step=3) == 3
    assert seen_in_training(mix, test, steps=10, prompts_per_step=3) == 8
    assert seen_in_training(mix, test, steps=0, prompts_per_step=3) == 0
    held = TaskMixture({"gsm8k": (1.0, {"path": MINI, "test_path": HELDOUT})}, seed=0)
    assert seen_in_training(held, held.tasks["gsm8k"].problems("test", 4), steps=10, prompts_per_step=8) == 0
    assert seen_in_training(held, make_task("countdown").problems("test", 2), 10, 8) == 0  # not in the mixture
