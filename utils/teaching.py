"""The generated parts of TEACHING.md, the teacher's page: `make report` rewrites them.

    python -m utils.teaching          # rewrite the generated blocks of TEACHING.md
    python -m utils.teaching --check  # exit 1 if they differ from the notebooks and results/

Two blocks are generated, so they stay true when a notebook or a run changes:
- the student time per lesson: reading time from the lesson's own word count (its Markdown
  cells, whitespace-separated words, at `WORDS_PER_MINUTE`) plus its run time from
  `results/run_times.csv` (the last full run);
- every exercise: its title as the lesson states it, the check it names, its difficulty and
  the expected time, from `EXERCISES` below (a test keeps the two in step).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pandas as pd

from .paths import RESULTS_DIR, ROOT
from .report import markdown_table, replace_block

TEACHING = ROOT / "TEACHING.md"
LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
#: Optional notebooks after the lessons, outside the students' path and its word budget.
APPENDICES = ("08_fused_bidirectional_rnn",)
#: The path a student finishes: at most this many words of prose in the lessons together
#: (appendices not counted), and in any one notebook (appendices included).
WORDS_FOR_THE_LESSONS = 16_000
WORDS_PER_NOTEBOOK = 2_500

#: Careful reading of technical prose with equations runs well below the 200-250 words a
#: minute of plain text; 120 is the rate this page assumes.
WORDS_PER_MINUTE = 120

#: (lesson, exercise number) -> (difficulty, minutes a student needs, run time included).
#: Difficulty: 1 = change a parameter and read the output, 2 = write a few lines of code
#: against a named check, 3 = derive something and implement it.
EXERCISES = {
    ("00", 1): (1, 15), ("00", 2): (1, 15), ("00", 3): (2, 30),
    ("01", 1): (1, 20), ("01", 2): (1, 10), ("01", 3): (1, 15), ("01", 4): (2, 30),
    ("02", 1): (3, 45), ("02", 2): (2, 30), ("02", 3): (3, 60), ("02", 4): (2, 30),
    ("02", 5): (2, 30),
    ("03", 1): (1, 15), ("03", 2): (2, 20), ("03", 3): (2, 30), ("03", 4): (2, 30),
    ("08", 1): (2, 30), ("08", 2): (2, 30), ("08", 3): (2, 30), ("08", 4): (3, 45),
    ("04", 1): (2, 30), ("04", 2): (1, 20), ("04", 3): (2, 30),
    ("05", 1): (2, 30), ("05", 2): (3, 45), ("05", 3): (2, 30),
    ("06", 1): (1, 20), ("06", 2): (1, 20), ("06", 3): (1, 20), ("06", 4): (2, 30),
    ("07", 1): (2, 30), ("07", 2): (2, 30), ("07", 3): (2, 30),
}
STARS = {1: "★", 2: "★★", 3: "★★★"}

#: The core path: two 90-minute sessions, each a few lessons and the exercises done in class.
SESSIONS = {
    "Session 1: one layer, two directions, one loss": (("01", "02"), (("01", 2), ("02", 5))),
    "Session 2: the wrapper equals Keras; the learner's plan as an experiment":
        (("03", "07"), (("07", 1),)),
}

BLOCKS = {
    "times": ("<!-- teaching:times:begin (written by `make report`; do not edit by hand) -->",
              "<!-- teaching:times:end -->"),
    "sessions": ("<!-- teaching:sessions:begin (written by `make report`; do not edit by "
                 "hand) -->", "<!-- teaching:sessions:end -->"),
    "exercises": ("<!-- teaching:exercises:begin (written by `make report`; do not edit by "
                  "hand) -->", "<!-- teaching:exercises:end -->"),
}


def _markdown(notebook: Path) -> list[str]:
    cells = json.loads(notebook.read_text())["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "markdown"]


def prose_words(notebook: Path) -> int:
    """Words of prose in a notebook: its Markdown cells, split at whitespace."""
    return sum(len(text.split()) for text in _markdown(notebook))


def exercise_texts(notebook: Path) -> dict[int, str]:
    """{number: text} of each exercise in the lesson's "## Exercises" section (up to the
    next "## " heading of the cell)."""
    text = next((t for t in _markdown(notebook) if "## Exercises" in t), "")
    section = text.split("## Exercises", 1)[-1].split("\n## ", 1)[0]
    items = re.split(r"^(?=\d+\. \*\*)", section, flags=re.M)
    return {int(m[1]): item for item in items if (m := re.match(r"(\d+)\. \*\*", item))}


def exercises_of(notebook: Path) -> list[tuple[int, str, str]]:
    """(number, title, check) of each exercise in the lesson's "## Exercises" cell; the
    check is the first `nbNN.exercise_K` the exercise's text names ("" if none)."""
    found = []
    for number, item in exercise_texts(notebook).items():
        title = re.match(r"\d+\. \*\*(.+?)\*\*", item)[1]
        check = re.search(r"nb\d\d\.exercise_\d+", item)
        found.append((number, title.strip().rstrip("."), check[0] if check else ""))
    return found


def times_table(results: Path | None = None) -> pd.DataFrame:
    """Per lesson: words of prose, reading minutes, run minutes (last full run) and their sum."""
    results = Path(results) if results is not None else RESULTS_DIR
    runs = pd.read_csv(results / "run_times.csv", index_col="notebook").seconds
    rows = []
    for lesson in LESSONS:
        words = prose_words(lesson)
        run = runs.get(lesson.stem, float("nan")) / 60
        rows.append({"lesson": lesson.stem, "words": words,
                     "reading (min)": words / WORDS_PER_MINUTE, "run (min)": run,
                     "exercises": len(exercises_of(lesson))})
    table = pd.DataFrame(rows)
    table["student time (min)"] = table["reading (min)"] + table["run (min)"]
    return table


def times_block(results: Path | None = None) -> str:
    table = times_table(results)
    shown = table.assign(**{c: table[c].map(lambda v: f"{v:.0f}") for c in
                            ("reading (min)", "run (min)", "student time (min)")},
                         words=table.words.map("{:,}".format))
    path = table[~table.lesson.isin(APPENDICES)]
    total = path[["words", "reading (min)", "run (min)", "student time (min)"]].sum()
    return "\n".join([
        markdown_table(shown), "",
        f"The {len(path)} lessons without the appendix ({', '.join(APPENDICES)}): "
        f"{int(total['words']):,} words, about "
        f"{total['reading (min)'] / 60:.1f} hours of reading at {WORDS_PER_MINUTE} words a "
        f"minute and {total['run (min)']:.0f} minutes of running at the full settings "
        "(`results/run_times.csv`, where `make run` ran most notebooks two at a time: alone, "
        "a notebook runs a little faster; `make lab-run`'s small settings take a fraction of "
        "that).",
    ])


def sessions_block(results: Path | None = None) -> str:
    """The core path: per session, its lessons' student time plus its exercises' minutes."""
    table = times_table(results).set_index(times_table(results).lesson.str[:2])
    rows = []
    for title, (lessons, exercises) in SESSIONS.items():
        lesson_minutes = table.loc[list(lessons), "student time (min)"].sum()
        exercise_minutes = sum(EXERCISES[e][1] for e in exercises)
        rows.append({"session": title, "lessons": ", ".join(lessons),
                     "in class": ", ".join(f"{n}-E{k}" for n, k in exercises),
                     "reading and running (min)": f"{lesson_minutes:.0f}",
                     "exercises (min)": exercise_minutes,
                     "total (min)": f"{lesson_minutes + exercise_minutes:.0f}"})
    return markdown_table(pd.DataFrame(rows))


def exercises_block() -> str:
    rows = []
    for lesson in LESSONS:
        for number, title, check in exercises_of(lesson):
            level, minutes = EXERCISES.get((lesson.name[:2], number), (None, None))
            rows.append({"exercise": f"{lesson.name[:2]}-E{number}", "title": title,
                         "the student produces, checked by": f"`{check}`" if check else "",
                         "difficulty": STARS.get(level, "?"), "minutes": minutes or "?"})
    table = pd.DataFrame(rows)
    return "\n".join([markdown_table(table), "",
                      f"{len(table)} exercises, about {table.minutes.sum() / 60:.0f} hours in all. "
                      "★ change a parameter and read the output; ★★ write a few lines against "
                      "a named check; ★★★ derive something and implement it."])


def generated(results: Path | None = None) -> dict[str, str]:
    return {"times": times_block(results), "sessions": sessions_block(results),
            "exercises": exercises_block()}


def _replace(text: str, blocks: dict[str, str]) -> str:
    for name, body in blocks.items():
        begin, end = BLOCKS[name]
        text = replace_block(text, begin, end, f"{begin}\n{body}\n{end}", "TEACHING.md", name)
    return text


def update_teaching(path: Path | None = None, results: Path | None = None) -> bool:
    """Rewrite the generated blocks of TEACHING.md; return True if it changed."""
    path = Path(path) if path is not None else TEACHING
    text = path.read_text()
    new = _replace(text, generated(results))
    path.write_text(new)
    return new != text


def teaching_is_current(path: Path | None = None, results: Path | None = None) -> bool:
    path = Path(path) if path is not None else TEACHING
    text = path.read_text()
    return _replace(text, generated(results)) == text


if __name__ == "__main__":
    if "--check" in sys.argv[1:]:
        ok = teaching_is_current()
        print("TEACHING.md is current." if ok else "TEACHING.md differs: run `make report`.")
        sys.exit(0 if ok else 1)
    print("TEACHING.md " + ("updated." if update_teaching() else "already current."))
