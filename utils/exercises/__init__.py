"""Checks of the exercises: one module per lesson (`nb00` ... `nb07`), one function per exercise.

A lesson's exercise names what the student produces (a variable or a function) and the check
to call on it, for example

    from utils.exercises import nb00
    nb00.exercise_1(loop)          # raises ExerciseCheckFailed, with a hint, if `loop` is wrong

Every check is an `assert` of what a right answer must satisfy, written so that the plausible
wrong answers fail it. The solutions notebooks prove that: after the worked answer passes its
check, they build at least one plausible wrong answer and show the check rejecting it with
`must_reject`, and the tests run every solutions notebook (`make test`). What training decides
(which tagger leads, whether a model learns) is a measured outcome, not a check: `measured`
prints it next to what was expected, at full size, and never raises.
"""

from __future__ import annotations


class ExerciseCheckFailed(AssertionError):
    """An exercise's answer is wrong; the message says what to look at."""


def expect(condition: bool, message: str) -> None:
    """Raise `ExerciseCheckFailed(message)` unless `condition` holds (asserts that survive
    `python -O`, with a message written for the student)."""
    if not condition:
        raise ExerciseCheckFailed(message)


def measured(met: bool, what: str, expected: str, observed: str) -> bool:
    """Print a measured outcome of the student's run (training and luck decide it) next to what
    was expected; never raise. A check calls it after the answer's computations have passed, at
    full size only: a correct answer can miss the expected outcome by chance (another seed, core
    count or machine), and that is a finding, not an error."""
    verdict = "as expected" if met else (
        "NOT as expected: a measured outcome, which another seed or machine can move; the "
        "checks of your computations passed")
    print(f"measured: {what}: expected {expected}, this run {observed} ({verdict})")
    return met


def must_reject(check, *wrong_answer, **wrong_keywords) -> str:
    """Run `check` on a wrong answer and return the message it fails with; raise an
    `AssertionError` if it accepts the wrong answer (then the check is too weak)."""
    try:
        check(*wrong_answer, **wrong_keywords)
    except ExerciseCheckFailed as failure:
        print(f"rejected, as it should be: {failure}")
        return str(failure)
    raise AssertionError(f"{check.__module__}.{check.__name__} accepted a wrong answer")


__all__ = ["ExerciseCheckFailed", "expect", "measured", "must_reject"]
