"""Every notebook runs top to bottom in a fresh kernel, in quick mode, with papermill.

Quick mode goes through each notebook's `parameters` cell: for every parameter a notebook
declares whose name is in QUICK, the test passes the small value instead. A new notebook
in notebooks/ or notebooks/solutions/ is picked up by the glob, with no edit here. The
executed copy is written to a temporary folder and figures/results go to a temporary results
folder, so the committed notebooks and results/ are never touched.
"""

import json
import os

import papermill as pm
import pytest

from utils import ROOT
from utils.run_notebooks import (  # shared with `make lab-run`
    all_notebooks,
    execute,
    quick_parameters,
)

NOTEBOOKS = all_notebooks()  # the numbered notebooks, then notebooks/solutions/

def test_every_notebook_has_a_parameters_cell_first():
    assert NOTEBOOKS, "no notebooks found"
    for notebook in NOTEBOOKS:
        cells = json.loads(notebook.read_text())["cells"]
        first_code = next(c for c in cells if c["cell_type"] == "code")
        assert "parameters" in first_code["metadata"].get("tags", []), notebook.name


@pytest.mark.notebook
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[n.stem for n in NOTEBOOKS])
def test_notebook_runs_in_quick_mode(notebook, tmp_path, monkeypatch):
    monkeypatch.setenv("BIRNN_RESULTS_DIR", str(tmp_path / "results"))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    monkeypatch.setenv("BIRNN_STRICT", "1")  # an expected outcome that is not met fails here
    before = notebook.read_bytes()
    output = tmp_path / notebook.name
    execute(notebook, output, quick_parameters(notebook), timeout=600)
    assert notebook.read_bytes() == before, "the committed notebook was modified"
    cells = json.loads(output.read_text())["cells"]
    errors = [o for c in cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors


def test_papermill_sees_every_parameter():
    """Papermill must parse each name the parameters cell assigns (a comment containing `=`
    once hid one), or quick mode would silently run that knob at full size."""
    import ast

    for notebook in NOTEBOOKS:
        cells = json.loads(notebook.read_text())["cells"]
        first_code = next(c for c in cells if c["cell_type"] == "code")
        tree = ast.parse("".join(first_code["source"]))
        assigned = {t.id for node in tree.body if isinstance(node, ast.Assign)
                    for t in node.targets if isinstance(t, ast.Name)}
        assert assigned == set(pm.inspect_notebook(str(notebook))), notebook.name


@pytest.mark.notebook
@pytest.mark.parametrize("parameters", [{"epochs": 0}, {"seeds": []}, {"seeds": "[0]"}],
                         ids=["epochs 0", "no seeds", "seeds as a string"])
def test_a_wrong_knob_stops_the_notebook_at_its_setup_cell(parameters, tmp_path, monkeypatch):
    """The cases of the reliability issue, through papermill as a user would pass them: the
    notebook stops in its setup cell (before any data is read), and the message names the
    parameter and the fix."""
    monkeypatch.setenv("BIRNN_RESULTS_DIR", str(tmp_path / "results"))
    notebook = ROOT / "notebooks" / "04_merge_modes_on_imdb.ipynb"
    with pytest.raises(pm.PapermillExecutionError) as error:
        execute(notebook, tmp_path / notebook.name, {"quick": True, **parameters}, timeout=120)
    name = next(iter(parameters))
    assert error.value.ename == "ValueError" and error.value.evalue.startswith(name)
    assert "check_parameters" in "".join(error.value.traceback)
    assert error.value.exec_count == 4  # parameters, papermill's injected cell, Colab, setup


@pytest.mark.notebook
def test_the_lab_preset_writes_outside_the_committed_files(tmp_path, monkeypatch):
    """`make lab-run` executes copies into lab/ (here a temporary folder), with the quick
    settings, and leaves the committed notebook untouched."""
    from utils import run_notebooks

    monkeypatch.setattr(run_notebooks, "LAB_DIR", tmp_path / "lab")
    monkeypatch.setenv("BIRNN_RESULTS_DIR", str(tmp_path / "unused"))
    notebook = ROOT / "notebooks" / "02_backprop_through_time.ipynb"
    before, environment = notebook.read_bytes(), dict(os.environ)
    times = run_notebooks.run_lab(["02"])
    assert dict(os.environ) == environment  # the preset went to the kernels, not to this process
    assert list(times.notebook) == ["02_backprop_through_time"] and (times.seconds > 0).all()
    executed = json.loads((tmp_path / "lab" / notebook.name).read_text())
    errors = [o for c in executed["cells"] for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors and (tmp_path / "lab" / "run_times.csv").exists()
    assert notebook.read_bytes() == before
    assert (tmp_path / "lab" / "results" / "figures").is_dir()  # the kernels wrote into lab/
    assert not (tmp_path / "unused").exists()
