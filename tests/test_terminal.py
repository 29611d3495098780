"""Text from files and users, made safe to print."""

from evoact.terminal import plain, shorten


def test_a_cut_line_stays_one_line_and_shows_control_characters():
    """A user task's error of several lines broke the progress line it was cut into (the adversary's find)."""
    error = 'Traceback (most recent call last):\n  File "t.py", line 3\n    raise ValueError("no")\nValueError: no'
    assert (
        shorten(error, 200)
        == 'Traceback (most recent call last): File "t.py", line 3 raise ValueError("no") ValueError: no'
    )
    assert shorten("a\n\nb", 3) == "a b" and shorten("abcdef", 4) == "abc…"
    assert plain("\x1b[31mred") == "\\x1b[31mred" and shorten("\x1b[2J", 10) == "\\x1b[2J"
