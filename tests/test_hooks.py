"""Hooks: a subscriber is a declared ``Hook``; one with a method that no event calls is refused when registered."""

import subprocess
import sys

import pytest

from evoact.hooks import EVENTS, Checkpoints, Hook, HookError, Hooks
from evoact.records import Candidate, Outcome


class Recorder(Hook):
    def __init__(self) -> None:
        self.heard: list[tuple] = []

    def finished(self, candidate: Candidate) -> None:
        self.heard.append(("finished", candidate.id))

    def note(self, message: str) -> None:
        self.heard.append(("note", message))

    def close(self) -> None:
        self.heard.append(("close",))


def test_the_events_are_the_hook_methods():
    assert set(EVENTS) == {
        *("start", "note", "planned", "generation", "resumed", "finished", "scored", "raced", "step", "end", "close")
    }


def test_each_subscriber_hears_the_events_it_overrides_in_order():
    first, second = Recorder(), Recorder()
    hooks = Hooks(first, second)
    row = Candidate(3, "tanh(x)", "random", outcome=Outcome(status="ok", fitness=0.5))
    hooks.note("hello")
    hooks.generation(1)  # nobody overrides it: nothing happens, nothing fails
    hooks.finished(row)
    hooks.close()
    assert first.heard == second.heard == [("note", "hello"), ("finished", 3), ("close",)]


def test_every_subscriber_ends_and_closes_though_one_before_it_raises():
    class Broken(Hook):
        def end(self, state: str) -> None:
            raise OSError("disk full")

        def close(self) -> None:
            raise OSError("disk still full")

    class Ends(Recorder):
        def end(self, state: str) -> None:
            self.heard.append(("end", state))

    after = Ends()
    hooks = Hooks(Broken(), after)
    with pytest.raises(OSError, match="disk full"):
        hooks.end("finished")
    with pytest.raises(OSError, match="disk still full"):
        hooks.close()
    assert after.heard == [("end", "finished"), ("close",)]


def test_a_misspelt_event_is_refused_when_registered():
    class Typo(Hook):
        def finnished(self, candidate: Candidate) -> None:  # never an event
            pass

    with pytest.raises(HookError, match="Typo has method\\(s\\) finnished that no event calls"):
        Hooks(Recorder(), Typo())


def test_a_subscriber_that_is_no_hook_is_refused():
    class Plain:
        def finished(self, candidate: Candidate) -> None:
            pass

    with pytest.raises(HookError, match="Plain must subclass evoact.hooks.Hook"):
        Hooks(Plain())


def test_private_helpers_are_allowed_and_checkpoints_are_a_hook(tmp_path):
    class Helper(Hook):
        def _count(self) -> int:
            return 1

    Hooks(Helper(), Checkpoints(tmp_path))


def test_an_event_method_that_takes_other_arguments_is_refused():
    class Short(Hook):
        def step(self, index: int) -> None:  # the event also gives the state
            pass

    with pytest.raises(HookError, match=r"Short.step takes \(index\); the event gives \(index, state\)"):
        Hooks(Short())


def test_an_event_method_that_takes_anything_is_a_hook_and_the_hooks_module_is_named_from_evoact():
    import evoact

    heard = []

    class Any(evoact.hooks.Hook):
        def finished(self, *args, **kwargs) -> None:
            heard.append(args)

        def step(self, index, state=None, extra=None) -> None:
            heard.append(index)

    Hooks(Any()).step(3, {})
    assert heard == [3]
    names = ("hooks.Hook", "loggers.MLflowLogger", "benchtable.load_table", "formula.parse", "records.Candidate")
    script = f"import evoact; print({', '.join(f'evoact.{n}.__name__' for n in names)})"  # the docs' names, freshly
    said = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert said.split() == [n.split(".")[1] for n in names]
