"""`r1zero report`: one self-contained, script-free HTML page; model text stays inert; partial and empty runs."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
from test_traces import make_run, write_synthetic_step

from r1zero.cli import main

PAYLOADS = ["<script>document.title='PWNED'</script>",
            "<img src=x onerror=\"document.body.setAttribute('data-pwned','1')\">",
            # no alert(): should escaping ever break, a modal dialog would hang the browser test instead of failing it
            "</pre></td></tr></table><svg onload=\"document.title='PWNED'\">", "{{ 7*7 }} {% raw %}"]


class Tags(HTMLParser):
    """Every start tag with its attributes, as the browser's parser would see them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def tags(page: str) -> list[tuple[str, dict[str, str | None]]]:
    p = Tags()
    p.feed(page)
    return p.tags


def report(capsys, run: Path, *args: str) -> tuple[int, str, str]:
    out = run.parent / "out.html"
    code = main(["report", str(run), "-o", str(out), *args])
    o, err = capsys.readouterr()
    return code, out.read_text() if code == 0 else o, err


def test_report_is_self_contained_and_model_text_is_inert(tmp_path, capsys):
    run = make_run(tmp_path, extra=PAYLOADS)
    code, page, _ = report(capsys, run, "--top", "100")  # every sample is in the best/worst tables
    assert code == 0
    t = tags(page)
    names = [n for n, _ in t]
    assert "script" not in names and "svg" not in names and "iframe" not in names
    csp = [a for n, a in t if n == "meta" and (a.get("http-equiv") or "").lower() == "content-security-policy"]
    assert csp and "script-src 'none'" in csp[0]["content"] and "default-src 'none'" in csp[0]["content"]
    assert names.index("meta") < names.index("style")  # the policy comes before any content
    for n, attrs in t:
        assert not any(k.startswith("on") for k in attrs), (n, attrs)  # no event handler attribute anywhere
        for k in ("src", "href"):
            assert attrs.get(k) is None or attrs[k].startswith("data:image/png;base64,"), (n, attrs)
    imgs = [a for n, a in t if n == "img"]
    assert len(imgs) >= 4  # reward/accuracy, length, behaviour rates, KL/entropy
    # the payloads are in the page, as text
    assert "&lt;script&gt;document.title=&#39;PWNED&#39;&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=" in page and "{{ 7*7 }}" in page
    assert "&lt;b&gt;bold?&lt;/b&gt;" in page  # prompts are escaped too


def test_report_sections(tmp_path, capsys):
    run = make_run(tmp_path)
    code, page, _ = report(capsys, run, "--top", "3")
    assert code == 0
    for heading in ("Reward and accuracy", "Response length", "Reflection, format and truncation rates",
                    "KL to the reference", "Per-step emergence metrics", "Aha", "Best samples", "Worst samples",
                    "Most changed prompts", "One prompt across steps", "Test-time scaling"):
        assert heading in page, heading
    assert "<td class=\"text\">wait</td><td>2</td><td>6</td>" in page  # aha: phrase, first step, count
    assert "+0.750" in page and "-0.750" in page  # most changed, both directions
    assert "in progress" in page  # no final/ folder yet
    (run / "final").mkdir()
    assert "in progress" not in report(capsys, run)[1]


def test_default_output_and_follow(tmp_path, capsys):
    run = make_run(tmp_path)
    assert main(["report", str(run), "--follow", "3 + 5"]) == 0
    page = (run / "report.html").read_text()
    follow = page.split("One prompt across steps")[1]
    assert "What is 3 + 5?" in follow and "What is 2 + 2?" not in follow
    assert str(run / "report.html") in capsys.readouterr().out
    assert not list(run.glob(".report.html*"))  # the temp file was renamed into place


def test_partial_run_in_progress(tmp_path, capsys):
    run = make_run(tmp_path, steps=2)
    with (run / "metrics.jsonl").open("a") as f:  # the trainer is mid-way through appending step 2
        f.write('{"step": 2, "reward_mean": 0.')
    code, page, _ = report(capsys, run)
    assert code == 0 and "2 steps done" in page
    write_synthetic_step(run, 2)  # traces ahead of metrics
    code, page, _ = report(capsys, run)
    assert code == 0 and "3 steps done" in page


def test_traces_only_and_metrics_only(tmp_path, capsys):
    run = make_run(tmp_path, metrics=False)
    code, page, _ = report(capsys, run)
    assert code == 0 and "from traces" in page and "no data yet" in page  # no KL/entropy without metrics
    only = tmp_path / "m" / "run"
    only.mkdir(parents=True)
    (only / "metrics.jsonl").write_text(json.dumps({"step": 0, "reward_mean": 0.1, "accuracy": 0.1,
                                                    "entropy": 3.0}) + "\n")
    code, page, _ = report(capsys, only)
    assert code == 0 and page.count("data:image/png") == 2 and "no traces yet" in page


@pytest.mark.parametrize("make, message", [
    (lambda p: p / "missing", "no such run directory"),
    (lambda p: (p / "empty").mkdir() or p / "empty", "nothing to report yet"),
    (lambda p: (p / "file").write_text("x") and p / "file", "not a run directory"),
])
def test_bad_run_dir_is_one_line_and_exit_2(tmp_path, capsys, make, message):
    code = main(["report", str(make(tmp_path))])
    out, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1 and message in err, err


def test_bad_options_are_one_line(tmp_path, capsys):
    run = make_run(tmp_path, steps=1)
    for args, message in ((["-o", str(tmp_path / "no" / "dir" / "r.html")], "no such directory"),
                          (["--top", "0"], "--top"), (["--follow", "zzz"], "no problem id or prompt")):
        code = main(["report", str(run), *args])
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and message in err, err


def test_scaling_section(tmp_path, capsys):
    run = make_run(tmp_path, steps=1)
    (run / "eval").mkdir()
    curve = {"k": [1, 2, 4, 8], "pass_at_k": [0.2, 0.3, 0.45, 0.6], "maj_at_k": [0.2, 0.25, 0.3, 0.32],
             "label": "step 100 $x<script>"}
    (run / "eval" / "scaling.json").write_text(json.dumps(curve))
    code, page, _ = report(capsys, run)
    section = page.split('id="test-time-scaling"')[1]
    assert code == 0 and "data:image/png" in section and "step 100 $x&lt;script&gt;" in section
    (run / "eval" / "scaling.json").write_text(json.dumps([curve, {**curve, "label": "base", "maj_at_k": None}]))
    assert "data:image/png" in report(capsys, run)[1].split('id="test-time-scaling"')[1]
    (run / "eval" / "scaling.json").write_text(json.dumps({"k": [1, 2], "pass_at_k": [0.1]}))
    code, page, err = report(capsys, run)  # a malformed optional file: warned about, the report still comes
    section = page.split('id="test-time-scaling"')[1]
    assert code == 0 and "as long as" in section and "data:image/png" not in section and "warning" in err



def test_alarm_metrics():
    from r1zero.metrics import alarm_metrics

    ok = {"entropy": 1.5, "equal_reward_group_frac": 0.25, "train_tokens": 100.0}
    assert alarm_metrics(ok) == {"alarm/entropy_collapse": 0.0, "alarm/no_gradient": 0.0}
    bad = {"entropy": 0.1, "equal_reward_group_frac": 0.75}
    assert alarm_metrics(bad) == {"alarm/entropy_collapse": 1.0, "alarm/no_gradient": 1.0}
    # under dynamic sampling the kept batch has no equal group: the fraction before the filter counts, and only
    # when the refills could not fill the batch
    assert alarm_metrics({**ok, "dynamic/equal_reward_group_frac": 0.9, "dynamic/filled": 0.0})["alarm/no_gradient"]
    assert not alarm_metrics({**ok, "dynamic/equal_reward_group_frac": 0.9, "dynamic/filled": 1.0})["alarm/no_gradient"]
    assert alarm_metrics({"entropy": 0.0, "train_tokens": 0.0})["alarm/entropy_collapse"] == 0.0  # nothing trained
    assert alarm_metrics({}) == {"alarm/entropy_collapse": 0.0, "alarm/no_gradient": 0.0}
    assert alarm_metrics(ok, entropy_floor=2.0)["alarm/entropy_collapse"] == 1.0


def test_alarm_box(tmp_path, capsys):
    run = make_run(tmp_path, steps=5)
    code, page, _ = report(capsys, run)
    assert code == 0 and 'id="alarms"' not in page  # a healthy run: no box
    lines = [{"step": s, "reward_mean": 0.5, "accuracy": 0.5, "entropy": 2.0 if s < 2 else 0.05,
              "equal_reward_group_frac": 0.9 if s == 1 else 0.1} for s in range(5)]
    lines[3]["alarm/no_gradient"] = 1.0  # logged alarms are taken as they are
    (run / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    code, page, _ = report(capsys, run)
    box = page.split('id="alarms"')[1].split("</section>")[0]
    assert code == 0 and "entropy fell below 0.2" in box and "steps 2-4 (3 of 5 steps, still at the last step)" in box
    assert "all-equal rewards" in box and "steps 1, 3 (2 of 5 steps)" in box
    assert not any(k.startswith("on") for _, a in tags(page) for k in a)


@pytest.mark.parametrize("control,words", [("random", "coin flip"), ("format_only", "format only")])
def test_control_arm_runs_are_labelled(tmp_path, capsys, control, words):
    run = make_run(tmp_path, steps=2)
    code, page, _ = report(capsys, run)
    assert code == 0 and 'id="control"' not in page  # a real run carries no banner
    cfg_file = run / "config.json"
    cfg = json.loads(cfg_file.read_text()) if cfg_file.exists() else {}
    cfg["reward"] = {**cfg.get("reward", {}), "control": control}
    cfg_file.write_text(json.dumps(cfg))
    code, page, _ = report(capsys, run)
    banner = page.split('id="control"')[1].split("</section>")[0]
    assert code == 0 and f"reward.control={control}" in banner and words in banner
