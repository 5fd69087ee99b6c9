"""Shared pieces of the exercise checks (utils/exercises): a measured outcome is printed, never
raised; a wrong answer raises with its message."""

import pytest

from utils.exercises import ExerciseCheckFailed, expect, measured, must_reject


def test_a_measured_outcome_is_printed_and_never_raises(capsys):
    assert measured(True, "lead", "> 0.1", "+0.2") is True
    assert measured(False, "lead", "> 0.1", "-0.3") is False
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "measured: lead: expected > 0.1, this run +0.2 (as expected)"
    assert lines[1].startswith("measured: lead: expected > 0.1, this run -0.3 (NOT as expected")


def test_must_reject_passes_on_a_rejection_and_fails_on_an_acceptance():
    def check(value):
        expect(value > 0, "must be positive")

    assert must_reject(check, -1) == "must be positive"
    with pytest.raises(AssertionError, match="accepted a wrong answer"):
        must_reject(check, 1)
    with pytest.raises(ExerciseCheckFailed):
        check(0)
