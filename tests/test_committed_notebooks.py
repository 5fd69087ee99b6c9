"""The notebooks as committed: what a reader on GitHub sees must come from one clean full run."""

import json
import re

import pytest

from utils import ROOT
from utils.run_notebooks import all_notebooks

NOTEBOOKS = all_notebooks()  # the numbered notebooks, then notebooks/solutions/
MAX_BYTES = 2 * 1024 * 1024
# Paths that would reveal the machine a notebook ran on.
MACHINE_PATH = re.compile(r"(/work/|/home/|/Users/|/tmp/|/root/|/private/var/|[A-Z]:\\\\Users)")


def code_cells(notebook):
    return [c for c in json.loads(notebook.read_text())["cells"] if c["cell_type"] == "code"]


def output_text(cell):
    return json.dumps(cell.get("outputs", []))


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[n.stem for n in NOTEBOOKS])
def test_ran_top_to_bottom_in_one_kernel(notebook):
    counts = [c["execution_count"] for c in code_cells(notebook)]
    assert counts == list(range(1, len(counts) + 1)), f"{notebook.name}: execution counts {counts}"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[n.stem for n in NOTEBOOKS])
def test_no_error_outputs(notebook):
    for cell in code_cells(notebook):
        types = [o["output_type"] for o in cell.get("outputs", [])]
        assert "error" not in types, f"{notebook.name}: error output in {cell['source'][:80]!r}"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[n.stem for n in NOTEBOOKS])
def test_no_machine_paths_in_outputs(notebook):
    for cell in code_cells(notebook):
        found = MACHINE_PATH.search(output_text(cell))
        assert not found, f"{notebook.name}: machine path {found[0]!r} in an output"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[n.stem for n in NOTEBOOKS])
def test_small_enough_to_read_on_github(notebook):
    assert notebook.stat().st_size < MAX_BYTES, f"{notebook.name} is over 2 MB"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[n.stem for n in NOTEBOOKS])
def test_every_figure_is_saved_as_well_as_shown(notebook):
    """Each `save_figure(..., "name")` in a notebook has its PNG committed under results/."""
    source = "\n".join("".join(c["source"]) for c in code_cells(notebook))
    for name in re.findall(r'save_figure\([^,]+,\s*"([^"]+)"', source):
        assert (ROOT / "results" / "figures" / f"{name}.png").exists(), name


def test_the_pattern_catches_machine_paths():
    assert MACHINE_PATH.search('"Reading /work/main/data/aclImdb"')
    assert MACHINE_PATH.search("C:\\\\Users\\\\ann")
    assert not MACHINE_PATH.search("Reading the reviews in data/aclImdb ...")
