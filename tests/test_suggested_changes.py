"""Every change the lessons suggest runs: each exercise that changes a lesson's parameter, at
its stated value, and `cell = "gru"` and `"lstm"` in every notebook that has `cell`. Each run
is the notebook top to bottom in quick mode (the other knobs small) with the change:
an exception or a failed identity fails it; its measured outcomes are recorded as "changed"
settings and not held against it (they were established for the defaults).

Exercises that add their own cells instead of changing the lesson (most of them) run in their
solutions notebooks, which `test_notebooks.py` executes. `test_the_list_covers_every_change`
reads the exercises: an exercise that sets one of its lesson's parameters (`name = value`, or
`name` = / to values) must be applied here, or listed in `NOT_A_CHANGE` with the reason.
"""

import json
import re

import papermill as pm
import pytest

from utils import ROOT
from utils.run_notebooks import all_notebooks, execute, quick_parameters
from utils.teaching import exercise_texts

#: (notebook stem prefix, the change, the exercises it applies: (lesson, number, parameter)).
#: Several changes share a run where they touch different parameters.
CHANGES = [
    ("00_", {"maxlen": 400, "vocab_size": 2_000}, [("00", 1, "maxlen"), ("00", 2, "vocab_size")]),
    ("01_", {"cell": "gru"}, [("01", 1, "cell")]),
    ("01_", {"cell": "lstm"}, [("01", 1, "cell")]),
    ("02_", {"u_norm": 0.5}, [("02", 2, "u_norm")]),
    ("02_", {"u_norm": 1.5}, [("02", 2, "u_norm")]),
    ("02_", {"u_norm": 3.0}, [("02", 2, "u_norm")]),
    ("03_", {"cell": "gru", "maxlen": 400}, [("03", 1, "cell"), ("03", 4, "maxlen")]),
    ("03_", {"cell": "lstm"}, [("03", 1, "cell")]),
    ("08_", {"units": 128}, [("08", 3, "units")]),  # 8 is the quick size, 32 the default
    ("04_", {"cell": "gru", "pooling": None}, [("04", 1, "pooling")]),
    ("04_", {"cell": "lstm"}, []),
    ("05_", {"cell": "gru"}, [("05", 3, "cell")]),
    ("05_", {"cell": "lstm"}, []),
    ("06_", {"cell": "gru", "target": "end"}, [("06", 1, "target"), ("06", 3, "cell")]),
    ("06_", {"cell": "lstm", "target": "start"}, [("06", 2, "target")]),
    ("07_", {"cell": "gru"}, []),
    ("07_", {"cell": "lstm"}, []),
    ("01_bidirectional_by_hand_solutions", {"cell": "gru"}, []),
    ("01_bidirectional_by_hand_solutions", {"cell": "lstm"}, []),
    ("07_two_losses_or_one_solutions", {"cell": "gru"}, []),
    ("07_two_losses_or_one_solutions", {"cell": "lstm"}, []),
]

#: Exercises that name a parameter of their lesson without changing the lesson, and why.
NOT_A_CHANGE = {
    ("04", 3, "seeds"): "works out what five seeds can change before paying for them: the check "
                        "simulates sets of seeds; the lesson keeps its three",
    ("02", 1, "merge"): "adds `mul` to the student's copy of the reference; the lesson's `merge` "
                        "stays concat, sum or ave (check_parameters says so)",
}


def _notebook(prefix):
    solutions = "solutions" in prefix
    found = [nb for nb in all_notebooks()
             if nb.stem.startswith(prefix) and solutions == ("solutions" in nb.stem)]
    assert len(found) == 1, (prefix, found)
    return found[0]


def _ids():
    return [f"{prefix.rstrip('_')} " + " ".join(f"{k}={v}" for k, v in change.items())
            for prefix, change, _ in CHANGES]


@pytest.mark.notebook
@pytest.mark.parametrize("prefix, change, exercises", CHANGES, ids=_ids())
def test_a_suggested_change_runs_top_to_bottom(prefix, change, exercises, tmp_path, monkeypatch):
    notebook = _notebook(prefix)
    monkeypatch.setenv("BIRNN_RESULTS_DIR", str(tmp_path / "results"))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    monkeypatch.setenv("BIRNN_STRICT", "1")
    monkeypatch.setenv("BIRNN_SETTINGS", "changed")  # measured outcomes: recorded, not held
    declared = pm.inspect_notebook(str(notebook))
    assert set(change) <= set(declared), (notebook.name, set(change) - set(declared))
    output = tmp_path / notebook.name
    execute(notebook, output, {**quick_parameters(notebook), **change}, timeout=600)
    cells = json.loads(output.read_text())["cells"]
    assert not [o for c in cells for o in c.get("outputs", []) if o.get("output_type") == "error"]


def _changes_named(text, parameters):
    """Parameters the text sets: `name = value`, or `name` followed by = or `to` and a value."""
    named = set(re.findall(r"`(\w+)\s*=\s*[^`]+`", text))
    named |= set(re.findall(r"`(\w+)`\s*(?:=|to)\s", text))
    return named & set(parameters)


def test_the_list_covers_every_change():
    covered = {e for _, _, exercises in CHANGES for e in exercises}
    found = set()
    for notebook in all_notebooks(solutions=False):
        lesson, parameters = notebook.stem[:2], pm.inspect_notebook(str(notebook))
        for number, text in exercise_texts(notebook).items():
            found |= {(lesson, number, name) for name in _changes_named(text, parameters)}
    assert found - covered - set(NOT_A_CHANGE) == set(), "apply these changes in CHANGES"
    assert covered | set(NOT_A_CHANGE) <= found, "listed, but no exercise names it any more"
    with_cell = {nb.stem for nb in all_notebooks() if "cell" in pm.inspect_notebook(str(nb))}
    for name in with_cell:
        cells = {change["cell"] for prefix, change, _ in CHANGES
                 if "cell" in change and _notebook(prefix).stem == name}
        assert cells == {"gru", "lstm"}, name


@pytest.mark.notebook
def test_a_lesson_parameter_outside_its_choices_is_refused_with_the_fix(tmp_path):
    """The one exercise parameter not applied above: 02's `merge` = "mul" stops at the setup
    cell, naming the parameter and its choices."""
    notebook = ROOT / "notebooks" / "02_backprop_through_time.ipynb"
    with pytest.raises(pm.PapermillExecutionError) as error:
        execute(notebook, tmp_path / notebook.name, {"merge": "mul"}, timeout=120)
    assert error.value.ename == "ValueError" and "merge" in error.value.evalue
