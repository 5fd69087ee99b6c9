"""The course kit: the licence, the citation, and TEACHING.md's generated tables."""

import ast
import json
import re

import pandas as pd
import yaml

from utils import ROOT, teaching


def test_licence_citation_and_teachers_page_are_linked_from_the_readme():
    readme = (ROOT / "README.md").read_text()
    for name in ("LICENSE", "CITATION.cff", "TEACHING.md"):
        assert (ROOT / name).is_file(), name
        assert f"]({name})" in readme, f"the README does not link {name}"
    licence = (ROOT / "LICENSE").read_text()
    assert "MIT License" in licence and "CC BY 4.0" in licence
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert {"cff-version", "message", "title", "authors"} <= set(citation)
    assert set(citation["license"]) == {"MIT", "CC-BY-4.0"}


def test_teaching_page_is_what_the_notebooks_and_results_say():
    assert teaching.teaching_is_current(results=ROOT / "results"), (  # the committed run
        "TEACHING.md's tables are stale: run `make report`")


def test_student_time_is_words_over_the_reading_rate_plus_the_run(tmp_path):
    lesson = teaching.LESSONS[2]
    pd.DataFrame({"notebook": [lesson.stem], "seconds": [600.0]}).to_csv(
        tmp_path / "run_times.csv", index=False)
    row = teaching.times_table(tmp_path).set_index("lesson").loc[lesson.stem]
    cells = json.loads(lesson.read_text())["cells"]
    words = sum(len("".join(c["source"]).split()) for c in cells if c["cell_type"] == "markdown")
    assert row["words"] == words and row["run (min)"] == 10
    assert row["student time (min)"] == words / teaching.WORDS_PER_MINUTE + 10


def test_every_exercise_has_a_difficulty_and_names_a_check_that_its_solution_rejects():
    """Each lesson's exercise names `nbNN.exercise_K`; that function exists; the solutions
    notebook calls it on the worked answer and hands it a wrong answer with `must_reject`."""
    found = set()
    for lesson in teaching.LESSONS:
        number = lesson.name[:2]
        solutions = ROOT / "notebooks" / "solutions" / f"{lesson.stem}_solutions.ipynb"
        code = "\n".join("".join(c["source"]) for c in json.loads(solutions.read_text())["cells"]
                         if c["cell_type"] == "code")
        module = ast.parse((ROOT / "utils" / "exercises" / f"nb{number}.py").read_text())
        functions = {f.name for f in module.body if isinstance(f, ast.FunctionDef)}
        for k, _title, check in teaching.exercises_of(lesson):
            found.add((number, k))
            assert check == f"nb{number}.exercise_{k}", f"{number}-E{k} names no check"
            assert f"exercise_{k}" in functions, f"utils/exercises/nb{number}.py lacks it"
            assert re.search(rf"\bnb{number}\.exercise_{k}\(", code), f"{number}-E{k} unchecked"
            assert re.search(rf"must_reject\(\s*nb{number}\.exercise_{k}\b", code), (
                f"solutions {number}: no wrong answer is shown rejected by exercise_{k}")
    assert found == set(teaching.EXERCISES), "EXERCISES and the lessons' exercises differ"


def test_the_path_a_student_finishes_fits_the_word_budget():
    words = {lesson.stem: teaching.prose_words(lesson) for lesson in teaching.LESSONS}
    assert set(teaching.APPENDICES) <= set(words), "an appendix is not among the notebooks"
    too_long = {name: n for name, n in words.items() if n > teaching.WORDS_PER_NOTEBOOK}
    assert not too_long, f"over {teaching.WORDS_PER_NOTEBOOK:,} words of prose: {too_long}"
    path = sum(n for name, n in words.items() if name not in teaching.APPENDICES)
    assert path <= teaching.WORDS_FOR_THE_LESSONS, f"the lessons hold {path:,} words"
    assert max(words) in teaching.APPENDICES, "the appendix comes after the lessons"
