"""The kernels of `make test` come from a zygote that has imported TensorFlow
(`tests/forked_kernels.py`): each must still be a fresh kernel, in its own process, with the
notebook's folder and the test's environment, and stop when papermill gives up on it."""

import json
import os

import nbformat
import pytest

from utils import run_notebooks

pytestmark = pytest.mark.skipif(run_notebooks.KERNEL_MANAGER is None,
                                reason="BIRNN_FORKED_KERNELS=0: kernels start as usual")

PROBE = """import json, os, sys
print(json.dumps({"pid": os.getpid(), "cwd": os.getcwd(), "path": sys.path[:2],
                  "marker": os.environ.get("BIRNN_PROBE"), "utils": "utils" in sys.modules,
                  "tensorflow": "tensorflow" in sys.modules,
                  "left_over": "left_over" in globals()}))
left_over = 1"""


def notebook_with(path, *sources):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    notebook.metadata["kernelspec"] = {"name": "python3", "language": "python",
                                       "display_name": "Python 3"}
    nbformat.write(notebook, path)
    return path


def probe(path):
    outputs = json.loads(path.read_text())["cells"][0]["outputs"]
    return json.loads("".join(outputs[0]["text"]))


@pytest.mark.notebook
def test_each_kernel_is_fresh_in_its_own_process_folder_and_environment(tmp_path, monkeypatch):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    source = notebook_with(folder / "probe.ipynb", PROBE)
    seen = []
    for marker in ("first", "second"):
        monkeypatch.setenv("BIRNN_PROBE", marker)
        monkeypatch.setenv("PYTHONPATH", str(tmp_path / marker))
        run_notebooks.execute(source, tmp_path / f"{marker}.ipynb", timeout=60)
        seen.append(probe(tmp_path / f"{marker}.ipynb"))
    first, second = seen
    assert first["pid"] != second["pid"] and os.getpid() not in (first["pid"], second["pid"])
    for run, marker in zip(seen, ("first", "second"), strict=True):
        assert run["marker"] == marker  # the environment of the test that started it
        # as python -m ipykernel_launcher: the folder, then the test's PYTHONPATH
        assert [run["cwd"], str(tmp_path / marker)] == run["path"] == [str(folder), run["path"][1]]
        assert run["tensorflow"]  # forked from the zygote: TensorFlow is loaded already
        assert not run["utils"] and not run["left_over"]  # nothing of ours, nothing left over


@pytest.mark.notebook
def test_a_kernel_that_runs_past_the_timeout_is_stopped(tmp_path):
    source = notebook_with(tmp_path / "slow.ipynb", PROBE, "import time\ntime.sleep(120)")
    with pytest.raises(Exception, match="[Tt]imeout|timed out"):
        run_notebooks.execute(source, tmp_path / "out.ipynb", timeout=3)
    pid = probe(tmp_path / "out.ipynb")["pid"]
    with pytest.raises(ProcessLookupError):
        for _ in range(100):
            os.kill(pid, 0)
            __import__("time").sleep(0.1)
