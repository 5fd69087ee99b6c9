"""The auto-graded assignment (issue 18, item 3): `make assignment` and `make grade`.

The assignment is built once (otter assign, into a temporary folder), then five notebooks are
graded with `python utils/grading.py grade`, what `make grade` runs, two at a time: the master
itself (full marks), the untouched student release (less than half) and three wrong submissions
holding six mistakes, each made by editing the master's solutions (the solutions notebook otter
assign writes from the master, without the master's test cells) in memory. A submission holds
at most one mistake per question, and the questions test separate functions, so each mistake
must cost points on its own question, and a question without a mistake keeps full marks. Each
grading executes a notebook with TensorFlow in a kernel otter starts (not forked: see
`forked_kernels.py`), so the file takes about two minutes on 2 free cores (one test: one worker
grades).
"""

import json
import re
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor

import pytest

from utils import ROOT
from utils.grading import MASTER
from utils.run_notebooks import all_notebooks

pytestmark = pytest.mark.notebook  # executes notebooks: slow

#: Six mistakes (a name, the question that must lose points, [(text in the master's
#: solutions, replacement)]), graded three submissions at a time: `SUBMISSIONS`.
MISTAKES = {
    "no flip-back": ("q1", [("backward = ops.flip(backward, axis=1)", "pass")]),
    "flip applied twice (input flipped too)": (
        "q1", [("backward_rnn(x, mask=mask)", "backward_rnn(ops.flip(x, axis=1), mask=mask)")]),
    "backward half ignored in the merge": ("q1", [
        ("ops.concatenate([forward, backward], axis=-1)", "ops.concatenate([forward, forward], "
                                                         "axis=-1)"),
        ("return forward + backward", "return 2 * forward"),
        ("return (forward + backward) / 2", "return forward"),
        ("return forward * backward", "return forward * forward"),
    ]),
    "sign error in the BPTT sweep": ("q2", [("dh = da @ U_b.T", "dh = -da @ U_b.T")]),
    "backward half of the plan not flipped back": ("q3", [
        ("h = ops.flip(h, axis=1)  # back in reading order", "pass")]),
    "two-loss plan trained where one loss was asked": ("q3", [(
        "one_loss_model = fit(one_loss_tagger())",
        "one_loss_model = glue(fit(one_direction(backwards=False)), "
        "fit(one_direction(backwards=True)))",
    )]),
}
#: Each wrong submission: its mistakes, at most one per question (each grading runs the whole
#: notebook, so six mistakes share three notebooks).
SUBMISSIONS = [
    ("no flip-back", "sign error in the BPTT sweep"),
    ("flip applied twice (input flipped too)", "two-loss plan trained where one loss was asked"),
    ("backward half ignored in the merge", "backward half of the plan not flipped back"),
]
GRADING = str(ROOT / "utils" / "grading.py")  # what make assignment / make grade run
LINE = re.compile(r"^(q\d|score): (\S+) / (\S+)$")


def edited_solutions(assignment, edits) -> dict:
    """The master's solutions notebook with each `(old, new)` applied to its code (each `old`
    found once)."""
    notebook = json.loads((assignment / "autograder" / "birnn_assignment.ipynb").read_text())
    for old, new in edits:
        hits = [cell for cell in notebook["cells"]
                if cell["cell_type"] == "code" and old in "".join(cell["source"])]
        assert len(hits) == 1, f"{old!r} is in {len(hits)} cells of the solutions, not one"
        source = "".join(hits[0]["source"])
        assert source.count(old) == 1, old
        hits[0]["source"] = source.replace(old, new)
    return notebook


def grade(path, out) -> dict:
    """`python utils/grading.py grade path` -> {"q1": (score, max), ..., "score": (X, Y)}."""
    result = subprocess.run([sys.executable, GRADING, "grade", str(path),
                             "--out", str(out)], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    assert LINE.match(lines[-1]) and lines[-1].startswith("score: "), lines[-3:]
    return {m[1]: (float(m[2]), float(m[3])) for m in map(LINE.match, lines) if m}


def assign(out):
    """`python utils/grading.py assign --out out`, what `make assignment` runs."""
    subprocess.run([sys.executable, GRADING, "assign", "--out", str(out)],
                   check=True, capture_output=True, cwd=ROOT)


def check_the_release(assignment):
    """The student release has the public tests and no solution or hidden test; the
    autograder's zip has the hidden ones."""
    student = json.loads((assignment / "student" / "birnn_assignment.ipynb").read_text())
    text = "".join("".join(cell["source"]) for cell in student["cells"])
    text += json.dumps(student["metadata"])  # the public tests live there
    assert "ops.flip(backward" not in text and "U_b.T" not in text  # no solutions
    assert "grader.check(\"q1\")" in text  # public tests, run by the student
    assert "test_q1_every_merge_without_mask" in text
    for hidden in ("HIDDEN", "test_q1_masks_with_sequences", "test_q2_edge_sizes",
                   "test_q3_one_loss_learns", "90210"):
        assert hidden not in text, f"{hidden} leaked into the student release"
    (zip_path,) = (assignment / "autograder").glob("*.zip")
    with zipfile.ZipFile(zip_path) as archive:
        tests = {name: archive.read(name).decode() for name in archive.namelist()
                 if name.startswith("tests/")}
    assert "test_q1_masks_with_sequences" in tests["tests/q1.py"]
    assert "test_q3_one_loss_learns" in tests["tests/q3.py"]


def grade_all(assignment, folder) -> dict:
    """Every submission graded once, two at a time: {name: grade(...)}."""
    submissions = {"master": MASTER,
                   "student release": assignment / "student" / "birnn_assignment.ipynb"}
    for i, mistakes in enumerate(SUBMISSIONS):
        path = folder / f"wrong_{i}.ipynb"
        edits = [edit for mistake in mistakes for edit in MISTAKES[mistake][1]]
        path.write_text(json.dumps(edited_solutions(assignment, edits)))
        submissions[" + ".join(mistakes)] = path
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {name: pool.submit(grade, path, assignment)
                   for name, path in submissions.items()}
        return {name: future.result() for name, future in futures.items()}


def problems(name, scores) -> list[str]:
    """What is wrong with one submission's grade: the master scores full marks on q1-q3 (q4 is
    graded by hand), the untouched release less than half, a wrong submission loses points on
    its own question and only there."""
    got, possible = scores["score"]
    if name == "master":
        return [] if got == possible > 0 and set(scores) == {"q1", "q2", "q3", "score"} else [
            f"the master: {scores}"]
    if name == "student release":
        return [] if got < possible / 2 else [f"the untouched release: {scores}"]
    mistakes = name.split(" + ")
    questions = {MISTAKES[mistake][0]: mistake for mistake in mistakes}
    found = [f"{mistake}: no points lost on {question}: {scores}"
             for question, mistake in questions.items()
             if scores[question][0] == scores[question][1]]
    return found + [f"{name} lost points on {other}: {scores}"
                    for other in sorted({"q1", "q2", "q3"} - set(questions))
                    if scores[other][0] != scores[other][1]]


def test_each_wrong_submission_holds_at_most_one_mistake_per_question():
    """What makes a shared submission fair: each mistake graded once, on its own question."""
    graded = [mistake for mistakes in SUBMISSIONS for mistake in mistakes]
    assert sorted(graded) == sorted(MISTAKES)
    for mistakes in SUBMISSIONS:
        questions = [MISTAKES[mistake][0] for mistake in mistakes]
        assert len(set(questions)) == len(questions), mistakes


def test_assign_then_every_submission_scores_where_it_should(tmp_path):
    """One test, so one worker assigns and grades once. (pytest-xdist 3.8's `xdist_group`
    does not keep tests together under pytest 9.2: make test ran this grading three times,
    2026-12-07.)"""
    assign(tmp_path / "assignment")
    check_the_release(tmp_path / "assignment")
    grades = grade_all(tmp_path / "assignment", tmp_path)
    found = [line for name, scores in grades.items() for line in problems(name, scores)]
    assert not found, "\n".join(found)


def test_missing_or_unreadable_submission_names_the_fix(tmp_path):
    broken = tmp_path / "broken.ipynb"
    broken.write_text("{not json")
    for argument, expected in (("", "No submission given"), (str(tmp_path / "nope.ipynb"),
                               "no such file"), (str(broken), "not a readable Jupyter notebook")):
        result = subprocess.run([sys.executable, GRADING, "grade", argument,
                                 "--out", str(tmp_path)], capture_output=True, text=True, cwd=ROOT)
        assert result.returncode != 0
        assert expected in result.stderr and "make grade SUBMISSION=" in result.stderr


def test_the_assignment_is_not_a_lesson_notebook():
    """`make run` and the quick-mode notebook tests leave notebooks/assignments/ alone."""
    assert MASTER.is_file()
    assert MASTER not in all_notebooks() and MASTER.parent.name == "assignments"
