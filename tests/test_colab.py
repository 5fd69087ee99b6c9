"""The Colab set-up cell: in every notebook, generated from one address, and working where the
package is not installed (a fresh Colab runtime, simulated)."""

import json
import os
import subprocess
import sys
import sysconfig

import pytest

from utils import ROOT, colab
from utils.run_notebooks import all_notebooks

NOTEBOOKS = all_notebooks()


def code_sources(notebook):
    cells = json.loads(notebook.read_text())["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[n.stem for n in NOTEBOOKS])
def test_every_notebook_carries_the_current_setup_cell_second(notebook):
    assert code_sources(notebook)[1] == colab.setup_cell_source(), (
        f"{notebook.name}: run `python -m utils.colab` to write the current set-up cell")


def test_the_marker_is_how_utils_begins():
    import utils

    assert open(utils.__file__).read().startswith('"""' + colab.MARKER)


def test_the_address_is_written_once():
    source = colab.setup_cell_source()
    assert source.count(colab.REPOSITORY) == 1 and len(source.splitlines()) <= 15
    assert "tensorflow" not in colab.EXTRAS and "keras" not in colab.EXTRAS


def test_the_readme_has_a_current_badge_per_notebook():
    readme = (ROOT / "README.md").read_text()
    for notebook in all_notebooks(solutions=False):
        link = f"]({notebook.relative_to(ROOT).as_posix()})"
        row = next(line for line in readme.splitlines() if line.startswith("|") and link in line)
        assert colab.badge(notebook) in row, f"{notebook.name}: run `python -m utils.colab`"
    assert colab.readme_with_badges(readme, all_notebooks(solutions=False)) == readme


def test_badges_point_at_the_notebook_on_the_branch():
    url = colab.colab_url(ROOT / "notebooks" / "01_bidirectional_by_hand.ipynb")
    assert url == ("https://colab.research.google.com/github/"
                   + colab.REPOSITORY.removeprefix("https://github.com/")
                   + f"/blob/{colab.BRANCH}/notebooks/01_bidirectional_by_hand.ipynb")


@pytest.mark.notebook
def test_setup_cells_run_where_the_package_is_not_installed(tmp_path):
    """A fresh runtime, simulated: Python started without site-packages' .pth files (so the
    editable install of `utils` is invisible, while TensorFlow stays importable), in an empty
    folder. Notebook 00's parameters, Colab and setup cells run; `utils` must then come from
    the clone the Colab cell made (of this repository's committed `main`), even though the
    folder holds another package named `utils`."""
    notebook = ROOT / "notebooks" / "00_imdb_data_tour.ipynb"
    parameters, setup_colab, setup = code_sources(notebook)[:3]
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True,
                          text=True).stdout.strip()
    (tmp_path / "utils").mkdir()  # another package named `utils`, as a runtime may hold
    (tmp_path / "utils" / "__init__.py").write_text('"""Other helpers."""\n')
    site_packages = sysconfig.get_paths()["purelib"]
    probe = (f"import sys; sys.path.append({site_packages!r})\n"
             "import importlib.util; assert 'bidirectional' not in "
             "open(importlib.util.find_spec('utils').origin).read()\n")
    report = "\nimport utils; print('UTILS FROM', utils.__file__)\n"
    env = {**os.environ, "BIRNN_REPOSITORY": ROOT.as_uri(), "TF_CPP_MIN_LOG_LEVEL": "2",
           "BIRNN_RESULTS_DIR": str(tmp_path / "results"), "MPLBACKEND": "Agg"}
    result = subprocess.run(
        [sys.executable, "-S", "-c", "\n".join([probe, parameters, setup_colab, setup, report])],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    clone = tmp_path / colab.CLONE_DIR
    assert f"UTILS FROM {clone / 'utils' / '__init__.py'}" in result.stdout
    assert f"utils: commit {head[:7]}" in result.stdout  # says which revision it took
    assert (clone / "notebooks" / notebook.name).exists()
    # Run again in the same runtime folder: the clone is reused, not made twice.
    again = subprocess.run(
        [sys.executable, "-S", "-c", "\n".join([probe, parameters, setup_colab, report])],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "UTILS FROM" in again.stdout, again.stderr[-2000:]
