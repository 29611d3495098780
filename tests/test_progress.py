import io
import re

from rich.console import Console

from evoact.progress import CountProgress, SearchProgress
from evoact.records import Candidate, Outcome


def _lines(progress: SearchProgress, outcomes: list[Outcome]) -> list[str]:
    for i, outcome in enumerate(outcomes, 1):
        progress.finished(Candidate(i, "x*tanh(x)", "random", outcome=outcome))
    return progress.console.file.getvalue().splitlines()


def test_the_eta_is_timed_from_the_first_wave_of_workers_and_said_after_the_second():
    """The first wave pays the start (Ray's workers, the tasks' data: in a tiny search the first ETA was 4 times the
    whole run), and a wave's results come together: the pace is timed over a whole wave after the first."""
    progress = SearchProgress(12, 2, Console(file=io.StringIO(), force_terminal=False, width=200), workers=3)
    lines = _lines(progress, [Outcome("ok", fitness=0.5 + i / 100, val_acc=0.5) for i in range(7)])
    assert [line.endswith("ETA -") for line in lines] == [True] * 5 + [False] * 2
    assert re.search(r"ETA \d+m\d\ds$", lines[5]) and "6/12" in lines[5] and "best 0.5500" in lines[5]


def test_a_session_whose_work_is_one_wave_says_it_is_done_after_it():
    """A resumed run whose last evaluations are fewer than its workers, or a run with more workers than evaluations:
    the first wave is the last, and the next line (racing's) divided by no jobs timed, ending the search."""
    progress = SearchProgress(3, 1, Console(file=io.StringIO(), force_terminal=False, width=200), workers=2)
    for i in (1, 2):
        progress.resumed(Candidate(i, "x*tanh(x)", "random", outcome=Outcome("ok", fitness=0.5, val_acc=0.5)))
    progress.finished(Candidate(3, "x*tanh(x)", "random", outcome=Outcome("ok", fitness=0.7, val_acc=0.7)))
    progress.raced(Candidate(3, "x*tanh(x)", "random", raced_fitness=0.69, raced_seeds=2, outcome=Outcome("ok", 0.7)))
    lines = progress.console.file.getvalue().splitlines()
    assert "3/3 #3 ok" in lines[0] and lines[0].endswith("ETA 0m00s") and lines[1].endswith("ETA 0m00s")
    counting = CountProgress(2, "confirming", Console(file=io.StringIO(), force_terminal=False, width=200), workers=4)
    counting.update("job 0: ok")
    counting.update("job 1: ok")
    assert counting.console.file.getvalue().splitlines() == ["1/2 job 0: ok | ETA -", "2/2 job 1: ok | ETA 0m00s"]


def test_a_screened_out_candidate_is_not_an_evaluation():
    progress = SearchProgress(5, 1, Console(file=io.StringIO(), force_terminal=False, width=200))
    lines = _lines(
        progress,
        [Outcome("rejected", stage="static", error="constant"), Outcome("failed", error="nan loss"), Outcome("ok")],
    )
    assert lines[0].startswith("[baselines] screened out #1") and "ETA -" in lines[0]
    assert "1/5 #2 failed: nan loss" in lines[1] and "failed 1" in lines[1]
    assert "2/5 #3 ok" in lines[2] and re.search(r"ETA \d+m\d\ds$", lines[2])  # one worker: a wave is one job


def test_a_search_says_what_its_first_silent_seconds_do():
    progress = SearchProgress(6, 2, Console(file=io.StringIO(), force_terminal=False, width=200), workers=2)
    progress.start({"seed": 1})
    progress.start({"seed": 1, "address": "10.0.0.5:6379"})
    assert progress.console.file.getvalue().splitlines() == [
        "evoact: starting 2 workers (Ray) and loading the tasks' data",
        "evoact: starting 2 workers on the Ray cluster at 10.0.0.5:6379 and loading the tasks' data",
    ]


def test_a_confirmation_s_eta_waits_for_its_workers_too():
    progress = CountProgress(6, "confirming", Console(file=io.StringIO(), force_terminal=False, width=200), workers=2)
    for job in range(4):
        progress.update(f"job {job}: ok")
    lines = progress.console.file.getvalue().splitlines()
    assert lines[:3] == ["1/6 job 0: ok | ETA -", "2/6 job 1: ok | ETA -", "3/6 job 2: ok | ETA -"]
    assert re.fullmatch(r"4/6 job 3: ok \| ETA \d+m\d\ds", lines[3])


def test_a_confirmation_s_live_bar_on_a_terminal_shows_the_same_eta():
    """On a terminal the bar showed rich's own estimate, which counts the start's cost (Ray, the data) in the pace."""
    progress = CountProgress(6, "confirming", Console(file=io.StringIO(), force_terminal=True, width=120), workers=2)
    progress.update("job 0: ok")
    progress._bar.refresh()
    assert progress.console.file.getvalue().rstrip().endswith("ETA -")  # one job of the first wave of two
    for job in range(1, 4):
        progress.update(f"job {job}: ok")
    progress.close()
    assert re.search(r"4/6\S* \S+ ETA \d+m\d\ds\n", progress.console.file.getvalue())


def test_a_resumed_run_counts_on_from_what_was_finished_each_candidate_once():
    progress = SearchProgress(6, 2, Console(file=io.StringIO(), force_terminal=False, width=200))
    done = [Candidate(i, "x*tanh(x)", "random", outcome=Outcome("ok", fitness=0.5, val_acc=0.5)) for i in (1, 2, 3)]
    for row in done + done[2:]:  # the driver reports every stored outcome; a re-read candidate is reported again
        progress.resumed(row)
    assert (progress.done, progress.skipped) == (3, 3)
    progress.finished(done[2])  # an asynchronous run collects a stored outcome as finished: still counted once
    progress.finished(Candidate(4, "x*sigmoid(x)", "random", outcome=Outcome("ok", fitness=0.6, val_acc=0.6)))
    assert progress.console.file.getvalue().splitlines()[-1].startswith("[baselines] 4/6 #4 ok 0.6000")


def test_baselines_are_counted_apart_from_the_budget_s_evaluations_and_generations_count_from_0():
    progress = SearchProgress(96, 6, Console(file=io.StringIO(), force_terminal=False, width=200), baselines=4)
    progress.finished(Candidate(1, "Max(0, x)", "baseline", label="relu", outcome=Outcome("ok", fitness=0.5)))
    progress.generation(5)
    progress.finished(Candidate(5, "x*tanh(x)", "random", outcome=Outcome("ok", fitness=0.6, val_acc=0.6)))
    first, last = progress.console.file.getvalue().splitlines()
    assert first.startswith("[baselines] baseline 1/4 #1 ok 0.5000 relu")
    assert last.startswith("[gen 5 of 0-5] 1/96 #5 ok 0.6000")  # the sixth generation, numbered as show numbers it


def test_when_the_quota_counts_trainings_reuses_are_shown_uncounted_and_ranked_out_candidates_not_at_all():
    progress = SearchProgress(2, 1, Console(file=io.StringIO(), force_terminal=False, width=200), trainings=True)
    _lines(
        progress,
        [
            Outcome("rejected", stage="surrogate", error="the surrogate ranks it 9 of 9"),
            Outcome("duplicate", stage="cache", fitness=0.7, equivalent_to="#1 x*tanh(x)"),
            Outcome("ok", fitness=0.6, val_acc=0.6),
        ],
    )
    lines = progress.console.file.getvalue().splitlines()
    assert len(lines) == 2 and "reused #2" in lines[0] and "1/2 #3 ok 0.6000" in lines[1]
    assert (progress.done, progress.rejected, progress.removed) == (1, 0, {"surrogate": 1, "cache": 1})
    assert "best 0.7000" in lines[1]  # a reuse's fitness is still the best seen


def test_an_enumeration_counts_down_every_proposal_it_plans_screened_out_ones_too():
    progress = SearchProgress(3840, 60, Console(file=io.StringIO(), force_terminal=False, width=200))
    progress.planned(3)
    lines = _lines(
        progress, [Outcome("rejected", stage="static", error="constant"), Outcome("ok", fitness=0.5, val_acc=0.5)]
    )
    assert lines[0].startswith("[baselines] 1/3 screened out #1") and "rejected 1" in lines[0]
    assert "2/3 #2 ok 0.5000" in lines[1] and (progress.done, progress.removed) == (2, {"static": 1})


def test_the_surrogate_s_skips_are_told_apart_from_the_cascade_s_other_rejections():
    progress = SearchProgress(4, 1, Console(file=io.StringIO(), force_terminal=False, width=200))
    lines = _lines(
        progress,
        [
            Outcome("rejected", stage="surrogate", error="the surrogate ranks it 9 of 9"),
            Outcome("rejected", stage="quality", error="validation accuracy 0.1"),
        ],
    )
    assert "| rejected 1 (1 skipped by the surrogate) |" in lines[0]
    assert "| rejected 2 (1 skipped by the surrogate) |" in lines[1]


def test_a_baseline_scored_after_it_finished_counts_for_the_best_shown():
    progress = SearchProgress(4, 1, Console(file=io.StringIO(), force_terminal=False, width=200), baselines=1)
    relu = Candidate(1, "Max(0, x)", "baseline", label="relu", outcome=Outcome("ok", val_acc=0.5))
    progress.finished(relu)  # a multi-task search's baseline: no fitness until the references are known
    progress.scored(Candidate(1, "Max(0, x)", "baseline", label="relu", outcome=Outcome("ok", fitness=1.0)))
    progress.finished(Candidate(2, "x*tanh(x)", "random", outcome=Outcome("ok", fitness=0.9, val_acc=0.45)))
    assert "best 1.0000 relu" in progress.console.file.getvalue().splitlines()[-1]


def test_the_best_shown_follows_the_raced_mean_as_the_ranking_does():
    """A lucky first seed leads until racing's further seeds bring its mean below another's; a candidate that
    failed a raced seed ranks below every other, there as in the ranking. A raced best says it is a mean, so a best
    that falls is not a mystery."""
    from dataclasses import replace

    progress = SearchProgress(4, 1, Console(file=io.StringIO(), force_terminal=False, width=200), baselines=1)
    gelu = Candidate(1, "x*(erf(sqrt(2)*x/2) + 1)/2", "baseline", label="gelu", outcome=Outcome("ok", fitness=1.0))
    lucky = Candidate(2, "x*tanh(x)", "random", outcome=Outcome("ok", fitness=1.03))
    progress.finished(gelu)
    progress.finished(lucky)
    assert "best 1.0300 x*tanh(x)" in progress.console.file.getvalue().splitlines()[-1]
    progress.raced(replace(lucky, raced_fitness=0.99, raced_std=0.04, raced_seeds=3))
    progress.finished(Candidate(3, "tanh(x)", "random", outcome=Outcome("ok", fitness=0.5)))  # the next line says
    assert "best 1.0000 gelu" in progress.console.file.getvalue().splitlines()[-1]
    progress.raced(replace(gelu, raced_fitness=1.01, raced_seeds=2, raced_failed=1))
    progress.finished(Candidate(4, "sin(x)", "random", outcome=Outcome("rejected")))
    assert "best 0.9900 (mean of 3) x*tanh(x)" in progress.console.file.getvalue().splitlines()[-1]  # why it fell


def test_the_live_display_counts_the_baselines_and_racing_and_uses_a_wide_terminal():
    """On a terminal the display said only "baselines 0/38" (the evaluations) while baselines trained, stalled silently
    while racing trained, and cut the best's formula to 12 characters on any terminal."""
    from dataclasses import replace

    out = io.StringIO()
    progress = SearchProgress(38, 6, Console(file=out, force_terminal=True, width=160), baselines=4)
    relu = Candidate(1, "Max(0, x)", "baseline", label="relu", outcome=Outcome("ok", fitness=1.0))
    progress.finished(relu)
    progress.close()
    assert "baselines 1/4" in out.getvalue()
    out = io.StringIO()
    progress = SearchProgress(38, 6, Console(file=out, force_terminal=True, width=160), baselines=1)
    progress.finished(relu)
    progress.generation(0)
    long = Candidate(2, "x*tanh(softplus(x)) + asinh(x)/4", "random", outcome=Outcome("ok", fitness=1.1))
    progress.finished(long)
    progress.raced(replace(long, raced_fitness=1.05, raced_std=0.01, raced_seeds=2))
    progress.close()
    assert "raced 1 best 1.0500 (mean of 2) x*tanh(softplus(x)) + asinh(x)/4" in out.getvalue()


def test_plain_lines_say_each_raced_seed():
    from dataclasses import replace

    progress = SearchProgress(4, 1, Console(file=io.StringIO(), force_terminal=False, width=200), baselines=1)
    lucky = Candidate(2, "x*tanh(x)", "random", outcome=Outcome("ok", fitness=1.03))
    progress.finished(lucky)
    progress.raced(replace(lucky, raced_fitness=0.99, raced_std=0.04, raced_seeds=3, raced_failed=1))
    last = progress.console.file.getvalue().splitlines()[-1]
    assert "raced #2 x*tanh(x): mean 0.9900 over 3 seeds, 1 failed | rejected 0 | failed 0 | raced 1 | best" in last
