"""Signals: the first stops the work after saying so, a second acts at once, cleanup holds a first back."""

import subprocess
import sys

import pytest

_RUN = (
    "import os, signal, time\n"
    "from evoact.interrupts import exit_stopped, held, stopping\n"
    "{setup}"
    "with stopping({then!r}) as received:\n"
    "    try:\n"
    "{body}"
    "    except KeyboardInterrupt:\n"
    "        print('stopped', flush=True)\n"
    "        exit_stopped(received)\n"
)


def _run(body: str, setup: str = "", then: str = "") -> subprocess.CompletedProcess:
    script = _RUN.format(setup=setup, then=then, body="".join(f"        {line}\n" for line in body.splitlines()))
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("body", "setup", "printed"),
    [
        (  # a background job's Ctrl-C (SIGINT ignored from the start) stops nothing; SIGTERM still does
            "os.kill(os.getpid(), signal.SIGINT)\ntime.sleep(0.2)\nprint('still running', flush=True)\n"
            "os.kill(os.getpid(), signal.SIGTERM)\ntime.sleep(5)",
            "signal.signal(signal.SIGINT, signal.SIG_IGN)\n",
            "still running\nstopped\n",
        ),
        (  # a session's last records and Ray's shutdown run whole; the command then stops as the signal said
            "with held():\n    os.kill(os.getpid(), signal.SIGTERM)\n    time.sleep(0.2)\n"
            "    print('cleanup done', flush=True)\nprint('went on', flush=True)",
            "",
            "cleanup done\nstopped\n",
        ),
    ],
    ids=["ignored-ctrl-c", "held-cleanup"],
)
def test_sigterm_stops_the_command_saying_so_on_stderr(body, setup, printed):
    """Stopped with 143, the line on stderr (stdout may be --json)."""
    done = _run(body, setup)
    assert done.returncode == 143 and done.stdout == printed, (done.stdout, done.stderr)
    assert "stopping; terminated (SIGTERM)" in done.stderr


def test_a_second_signal_during_cleanup_acts_at_once_and_the_first_said_how_to_go_on():
    done = _run(
        "with held():\n    os.kill(os.getpid(), signal.SIGINT)\n    time.sleep(0.2)\n"
        "    os.kill(os.getpid(), signal.SIGINT)\n    time.sleep(5)\n    print('cleanup done', flush=True)",
        setup="signal.signal(signal.SIGINT, signal.default_int_handler)\n",
        then="evoact resume runs/a",
    )
    assert done.returncode == -2 and done.stdout == "", (done.stdout, done.stderr)  # killed by the signal itself
    assert done.stderr == (
        "stopping; Ctrl-C again to stop at once (what is finished is saved either way; go on later with evoact"
        " resume runs/a)\n"
    )
