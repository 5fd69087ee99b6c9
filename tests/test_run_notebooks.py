"""`make run`'s runner never loses work: a notebook that raises leaves the committed one as it
was, its failed run is kept with the error, and the notebooks after it still run."""

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from utils import ROOT, run_notebooks


def notebook_with(path, code):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell(code)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, path)
    return path


@pytest.mark.notebook
def test_a_failing_notebook_is_kept_aside_and_the_committed_one_untouched(tmp_path, monkeypatch):
    monkeypatch.setattr(run_notebooks, "ROOT", tmp_path)
    monkeypatch.setattr(run_notebooks, "RUNS_DIR", tmp_path / "build" / "runs")
    monkeypatch.setattr(run_notebooks, "FAILED_DIR", tmp_path / "build" / "failed")
    (tmp_path / "notebooks").mkdir()
    bad = notebook_with(tmp_path / "notebooks" / "01_bad.ipynb", "1 / 0")
    good = notebook_with(tmp_path / "notebooks" / "02_good.ipynb", "print(x + 1)")
    before = bad.read_bytes()

    status, _, error = run_notebooks.execute_one(bad, timeout=120)
    assert status == "failed" and "ZeroDivisionError" in error
    assert bad.read_bytes() == before  # the committed notebook is untouched
    kept = json.loads((tmp_path / "build" / "failed" / bad.name).read_text())
    assert any(o["output_type"] == "error" for c in kept["cells"] for o in c.get("outputs", []))

    status, seconds, error = run_notebooks.execute_one(good, timeout=120)
    assert (status, error) == ("ok", "") and seconds > 0
    ran = json.loads(good.read_text())
    assert "".join(ran["cells"][-1]["outputs"][0]["text"]) == "2\n"
    assert ran["metadata"]["papermill"]["output_path"] == "notebooks/02_good.ipynb"
    assert not list((tmp_path / "build" / "runs").iterdir())  # nothing half-written left


@pytest.mark.notebook
@pytest.mark.skipif(os.name == "nt", reason="Windows has no Unix sockets: its kernels keep TCP")
def test_kernels_talk_over_sockets_of_their_own_not_tcp_ports(tmp_path):
    """Kernels started side by side (make test's workers, make run's two) cannot race for a TCP
    port: a kernel's sockets are files in a folder of its own, removed when it ends."""
    code = ("import json, ipykernel.connect as c\n"
            "info = json.load(open(c.get_connection_file()))\n"
            "print(info['transport'], info['ip'])")
    ran = run_notebooks.execute(notebook_with(tmp_path / "a.ipynb", code), tmp_path / "b.ipynb",
                                timeout=120)
    transport, ip = ran.cells[-1].outputs[0]["text"].split()
    assert transport == "ipc" and Path(ip).name == "kernel"
    assert not Path(ip).parent.exists()


def test_the_laptop_preset_lies_between_quick_and_full():
    """Each knob of `LAPTOP` a lesson declares is at least its quick value and at most its
    default (a count of seeds for `seeds`; `subset=None`, all reviews, is the largest), at
    least one is strictly between for every lesson that trains, and every lesson runs with
    quick mode off."""
    import ast

    import papermill as pm

    def size(name, value):
        if name == "seeds":
            return len(value)
        return float("inf") if value is None else value

    for notebook in run_notebooks.all_notebooks(solutions=False):
        declared = pm.inspect_notebook(str(notebook))
        laptop = run_notebooks.preset_parameters(notebook, "laptop")
        quick = run_notebooks.quick_parameters(notebook)
        assert "quick" not in laptop
        for name, value in laptop.items():
            default = ast.literal_eval(declared[name]["default"])
            assert size(name, quick.get(name, value)) <= size(name, value), (notebook.name, name)
            assert size(name, value) <= size(name, default), (notebook.name, name)
        smaller = [name for name, value in laptop.items()
                   if size(name, value) < size(name, ast.literal_eval(declared[name]["default"]))]
        assert smaller or not laptop, notebook.name


def test_a_preset_is_named_or_refused():
    notebook = run_notebooks.all_notebooks(solutions=False)[0]
    assert run_notebooks.quick_parameters(notebook) == run_notebooks.preset_parameters(notebook)
    with pytest.raises(ValueError, match="preset must be one of"):
        run_notebooks.preset_parameters(notebook, "full")


@pytest.mark.notebook
def test_run_executes_two_at_a_time_and_a_speed_notebook_alone(tmp_path, monkeypatch):
    """`make run` with two workers: the two ordinary notebooks overlap in time, the one in
    `ALONE` overlaps with none, a failing one loses nothing, and the run's wall time is
    recorded only when every notebook ran clean."""
    folder = tmp_path / "notebooks"
    (folder / "solutions").mkdir(parents=True)
    for name, value in [("NOTEBOOK_DIR", folder), ("SOLUTIONS_DIR", folder / "solutions"),
                        ("ROOT", tmp_path), ("RUNS_DIR", tmp_path / "build" / "runs"),
                        ("FAILED_DIR", tmp_path / "build" / "failed"),
                        ("RESULTS_DIR", tmp_path / "results"), ("ALONE", ("03_alone",))]:
        monkeypatch.setattr(run_notebooks, name, value)
    for name in ("01_one", "02_two", "03_alone"):  # each notes when it started and ended
        notebook_with(folder / f"{name}.ipynb", "import pathlib, time; start = time.time(); "
                      f"time.sleep(4); pathlib.Path(r'{tmp_path}', '{name}.txt')"
                      ".write_text(f'{start} {time.time()}')")
    summary = run_notebooks.run(workers=2)
    assert list(summary.status) == ["ok"] * 3
    spans = {name: [float(t) for t in (tmp_path / f"{name}.txt").read_text().split()]
             for name in ("01_one", "02_two", "03_alone")}

    def overlap(a, b):
        return spans[a][0] < spans[b][1] and spans[b][0] < spans[a][1]

    assert overlap("01_one", "02_two")
    assert not overlap("03_alone", "01_one") and not overlap("03_alone", "02_two")
    totals = pd.read_csv(tmp_path / "results" / "run_totals.csv")
    assert totals.run.tolist() == ["make run"] and totals["at a time"].tolist() == [2]
    assert set(pd.read_csv(tmp_path / "results" / "run_times.csv").notebook) == set(spans)

    (tmp_path / "results" / "run_totals.csv").unlink()
    notebook_with(folder / "04_bad.ipynb", "1 / 0")
    summary = run_notebooks.run(workers=2)
    assert summary.set_index("notebook").status.to_dict() == {
        "01_one": "ok", "02_two": "ok", "03_alone": "ok", "04_bad": "failed"}
    assert (tmp_path / "build" / "failed" / "04_bad.ipynb").exists()
    assert not (tmp_path / "results" / "run_totals.csv").exists()  # not a complete clean run


def test_the_runner_imports_no_tensorflow_and_a_notebook_s_first_import_quiets_it():
    """`make run` starts a process per notebook that imports `utils.run_notebooks`: it must not
    import TensorFlow (seconds of CPU each time). A notebook's first import, `from utils import
    setup_notebook`, loads it without TensorFlow's C++ start-up notes."""
    code = ("import sys, utils.run_notebooks; print('tensorflow' in sys.modules); "
            "from utils import HandmadeBidirectional, setup_notebook; "
            "print('tensorflow' in sys.modules, setup_notebook.__module__, "
            "HandmadeBidirectional.__module__)")
    environment = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT, env=environment)
    assert result.stdout.split() == ["False", "True", "utils.notebook", "utils.layers"], (
        result.stdout + result.stderr[-2000:])
    assert "oneDNN" not in result.stderr and "cuda" not in result.stderr.lower(), result.stderr
