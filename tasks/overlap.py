"""Held-out means held out: which split a problem belongs to, how far a task's splits overlap, whether a data file is
contaminated by another, and how many test problems a run's training stream drew.

Pure functions over Problems and texts (no trainer, no torch): `r1zero tasks check`, `r1zero tasks overlap` and
`r1zero eval` call them.

- exact duplicate: the same prompt text (whitespace aside);
- normalised duplicate: the same `task.canonical(problem)` (same numbers, other wording: see `default_canonical`);
- n-gram contamination (data tasks, files): an eval text counts as contaminated when at least 70 % of its word
  8-grams occur in the training texts, the rule of the PaLM paper's contamination analysis (Chowdhery et al. 2022,
  section 8).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, Iterable

NGRAM = 8
NGRAM_THRESHOLD = 0.7
MAX_FINITE = 200_000  # a finite split up to this size is compared whole; larger or unbounded ones by a sample
_WORD = re.compile(r"[^\W_]+")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?")


def words(text: str) -> list[str]:
    """Lower-cased runs of letters and digits: the unit of every text comparison here."""
    return _WORD.findall(text.lower())


def normalise(text: str) -> str:
    return " ".join(words(text))


def numbers(text: str) -> list[str]:
    """The numbers of a text in order, signs kept and thousands separators dropped ("1,250" -> "1250")."""
    return _NUMBER.findall(_THOUSANDS.sub("", text))


def default_canonical(prompt: str, answer: str) -> str:
    """A problem's identity when its task does not say better: the numbers of the prompt in order plus the gold
    answer (so "What is 3 + 5?" and "Add 3 and 5." are one problem), or, for a prompt without numbers, its words.
    Coarse on purpose: a false duplicate costs a look, a missed one a contaminated eval."""
    found = numbers(prompt)
    if found:
        return f"numbers: {' '.join(found)} | answer: {normalise(answer)}"
    return f"text: {normalise(prompt)}"


def _unit(key: str) -> float:
    """A uniform number in [0, 1) fixed by `key` alone (not by Python's per-process string hash, not by a seed)."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big") / 2.0**64


def split_of_key(key: str, test_share: float) -> str:
    """The split a canonical form belongs to: "test" for a fixed `test_share` of all keys, "train" for the rest.
    The same key gives the same split for every seed and every run, so train and test can never share a problem."""
    return "test" if _unit(key) < test_share else "train"


def stream_index(split: str, index: int, attempt: int, size: int) -> int:
    """A pseudo-random position in [0, size) for the attempt-th candidate of (split, index): where a keyed generator
    looks next when a candidate belongs to the other split."""
    return int(_unit(f"{split}/{index}/{attempt}") * size)


# ------------------------------------------------------------------------------------------------ texts and files

@dataclass
class Contamination:
    """How many eval texts also occur in the training texts: exactly (after normalisation) or by word n-grams."""

    eval: int
    exact: int
    ngram: int
    n: int = NGRAM
    threshold: float = NGRAM_THRESHOLD
    examples: list[str] = field(default_factory=list)  # up to 5 contaminated eval texts (their start)

    @property
    def clean(self) -> bool:
        return self.exact == 0 and self.ngram == 0

    def line(self) -> str:
        return (f"{self.exact}/{self.eval} exact duplicates, {self.ngram}/{self.eval} sharing >= "
                f"{self.threshold:.0%} of their {self.n}-grams with training")


def _grams(ws: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(ws[i:i + n]) for i in range(len(ws) - n + 1)}


def contamination(train_texts: Iterable[str], eval_texts: Iterable[str], n: int = NGRAM,
                  threshold: float = NGRAM_THRESHOLD) -> Contamination:
    """Exact and n-gram overlap of eval texts with training texts. An eval text shorter than n words can only be an
    exact duplicate. The n-gram count includes the exact duplicates."""
    seen_text: set[str] = set()
    seen_grams: set[tuple[str, ...]] = set()
    for text in train_texts:
        ws = words(text)
        seen_text.add(" ".join(ws))
        seen_grams |= _grams(ws, n)
    rep = Contamination(0, 0, 0, n, threshold)
    for text in eval_texts:
        rep.eval += 1
        ws = words(text)
        exact = " ".join(ws) in seen_text
        grams = _grams(ws, n)
        shared = sum(g in seen_grams for g in grams) / len(grams) if grams else float(exact)
        rep.exact += exact
        if exact or shared >= threshold:
            rep.ngram += 1
            if len(rep.examples) < 5:
                rep.examples.append(text[:80])
    return rep


TEXT_FIELDS = ("question", "problem", "prompt", "text")


def file_texts(path: str, text_field: str | None = None) -> list[str]:
    """The question texts of a jsonl/json/parquet/csv file: `text_field`, or the first of TEXT_FIELDS it has."""
    from tasks.base import load_rows

    rows = load_rows("overlap", path=path)
    name = text_field or next((f for f in TEXT_FIELDS if f in rows[0]), None)
    if name is None or name not in rows[0]:
        raise ValueError(f"{path}: no text column {text_field or list(TEXT_FIELDS)}; columns: {sorted(rows[0])} "
                         f"(name one with --field)")
    return [str(r.get(name) or "") for r in rows]


def file_contamination(train_path: str, eval_path: str, text_field: str | None = None, n: int = NGRAM,
                       threshold: float = NGRAM_THRESHOLD) -> Contamination:
    """`contamination` of one file's questions by another's (e.g. a training set and a benchmark)."""
    return contamination(file_texts(train_path, text_field), file_texts(eval_path, text_field), n, threshold)


# ------------------------------------------------------------------------------------------------ a task's splits

@dataclass
class SplitOverlap:
    """The first `test` test problems of a task compared with `train` training problems (all of a finite split)."""

    test: int
    train: int
    exact: int
    normalised: int
    same_source: bool = False  # a data task reading one file (or hub split) for both splits
    examples: list[str] = field(default_factory=list)  # ids of test problems that also occur in training
    ngram: Contamination | None = None  # data tasks: n-gram contamination of the test questions

    @property
    def disjoint(self) -> bool:
        return self.exact == 0 and self.normalised == 0

    def line(self) -> str:
        text = (f"split overlap: {self.normalised}/{self.test} test problems also among {self.train} training "
                f"problems ({self.exact} exact, {self.normalised} same canonical form)")
        if self.same_source:
            text += "; the test split reads the training data (give the task a separate test file or split)"
        return text


def _questions(task: Any, split: str, problems: list) -> list[str]:
    """A data task's raw questions (without its constant instruction, which every row shares), else the prompts."""
    rows = getattr(task, "rows", None)
    if callable(rows):
        table = rows(split)
        return [table[p.meta["row"]][0] if "row" in p.meta else p.prompt for p in problems]
    return [p.prompt for p in problems]


def split_overlap(task: Any, n: int, train_n: int = 1000) -> SplitOverlap:
    """How many of the task's first n test problems also occur in its training split: the whole split when it is
    finite (up to MAX_FINITE problems), else its first train_n problems. Data tasks also get the n-gram report."""
    size_test = task.num_problems("test")
    test = task.problems("test", min(n, size_test) if size_test else n)
    size = task.num_problems("train")
    train = task.problems("train", size if size and size <= MAX_FINITE else train_n)
    exact = {" ".join(p.prompt.split()) for p in train}
    keys = {task.canonical(p) for p in train}
    rep = SplitOverlap(len(test), len(train), 0, 0, bool(getattr(task, "same_source", lambda: False)()))
    for p in test:
        is_exact, is_norm = " ".join(p.prompt.split()) in exact, task.canonical(p) in keys
        rep.exact += is_exact
        rep.normalised += is_exact or is_norm
        if (is_exact or is_norm) and len(rep.examples) < 5:
            rep.examples.append(p.id)
    if callable(getattr(task, "rows", None)):
        rep.ngram = contamination(_questions(task, "train", train), _questions(task, "test", test))
    return rep


def seen_in_training(mixture: Any, test_problems: list, steps: int, prompts_per_step: int) -> int:
    """How many of `test_problems` the run's training stream drew (by canonical form) in its first `steps` steps of
    `prompts_per_step` problems: `mixture.batch(step, prompts_per_step)` for step < steps, as the trainer draws them.
    A test problem whose task is not in the mixture counts as unseen."""
    seen: set[tuple[str, str]] = set()
    for step in range(steps):
        for p in mixture.batch(step, prompts_per_step):
            seen.add((p.task, mixture.tasks[p.task].canonical(p)))
    return sum(p.task in mixture.tasks and (p.task, mixture.tasks[p.task].canonical(p)) in seen
               for p in test_problems)
