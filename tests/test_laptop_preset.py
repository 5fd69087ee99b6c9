"""The laptop preset (`make laptop-run`, `LAPTOP` in utils/run_notebooks.py) runs every lesson
top to bottom, strict: an exception or a failed identity fails it; its measured outcomes are
recorded as the laptop's and not held against it (they were established for the defaults).

It trains for real (4,000 reviews, 2 epochs, 2 seeds): 9 minutes for the nine lessons two at a
time on the 2-core machine, more than `make test` can spend, so it runs with `make test-laptop`
and its last result is recorded in tests/README.md. `make test` runs the checks of the
preset itself (`test_run_notebooks.py`) and every lesson at quick size.
"""

import json
import os

import pytest

from utils.run_notebooks import all_notebooks, execute, preset_parameters

LESSONS = all_notebooks(solutions=False)

pytestmark = [
    pytest.mark.notebook,
    pytest.mark.skipif(os.environ.get("BIRNN_TEST_LAPTOP") != "1",
                       reason="trains for real (9 minutes): run by make test-laptop"),
]


@pytest.mark.parametrize("notebook", LESSONS, ids=[n.stem for n in LESSONS])
def test_a_lesson_runs_at_the_laptop_preset(notebook, tmp_path, monkeypatch):
    monkeypatch.setenv("BIRNN_RESULTS_DIR", str(tmp_path / "results"))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    monkeypatch.setenv("BIRNN_STRICT", "1")
    monkeypatch.setenv("BIRNN_SETTINGS", "laptop")  # as make laptop-run sets it
    parameters = preset_parameters(notebook, "laptop")
    assert "quick" not in parameters  # the checks of a full run, not loosened
    output = tmp_path / notebook.name
    execute(notebook, output, parameters, timeout=900)
    cells = json.loads(output.read_text())["cells"]
    assert not [o for c in cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
