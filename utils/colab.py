"""Google Colab: the set-up cell every notebook carries, and the README's "open in Colab" badges.

A notebook opened in a fresh Colab runtime has no `utils` package of this collection: its
set-up cell (the second code cell, right after `parameters`) clones the branch the badges open
(`BRANCH`) into `birnn-notebooks/`, prints the commit it took, puts it first on `sys.path`,
installs only the libraries the runtime lacks (never TensorFlow or Keras, so the runtime's own
versions stay) and goes on. It recognises this collection's `utils` by `MARKER`, the first
words of `utils/__init__.py`, so another package named `utils` does not stop it. Where the
collection's `utils` is importable (`make lab`, the tests), the cell does nothing.

The badges work once the collection is published at `REPOSITORY`; until then they open a
page that does not exist.

The repository's address is set here once, in `REPOSITORY`; the cell and the badges are
generated from it:

    python -m utils.colab      # rewrite the set-up cell of every notebook and the README badges

(a fork sets `REPOSITORY` to its own address and runs that line). The environment variable
`BIRNN_REPOSITORY` overrides the address at run time; the tests use it to clone a local copy.
"""

from __future__ import annotations

import re

from .paths import ROOT

#: Where the collection lives: the one place its address is written.
REPOSITORY = "https://github.com/birnn-notebooks/bidirectional-rnn-notebooks"
BRANCH = "main"
#: What the set-up cell installs when missing (by import name = pip name): the libraries the
#: notebooks use beyond a Colab runtime's TensorFlow, Keras, NumPy, pandas and matplotlib.
EXTRAS = ("seaborn", "tqdm", "h5py")
CLONE_DIR = "birnn-notebooks"
FIRST_LINE = "# extra code: in a fresh Colab runtime, fetch the collection's `utils` (else nothing)"


#: The first words of `utils/__init__.py`: how the set-up cell tells this collection's `utils`
#: from any other package of that name.
MARKER = "Shared code for the bidirectional-RNN notebooks"


def setup_cell_source() -> str:
    """The code of the set-up cell, with `REPOSITORY` filled in (<= 15 lines)."""
    return f'''{FIRST_LINE}
import importlib.util
import os
import subprocess
import sys

if (spec := importlib.util.find_spec("utils")) is None or "{MARKER}" not in open(spec.origin or os.devnull).read():
    repository = os.environ.get("BIRNN_REPOSITORY", "{REPOSITORY}")
    if not os.path.isdir("{CLONE_DIR}"):
        subprocess.run(["git", "clone", "-q", "--depth", "1", "-b", "{BRANCH}", repository, "{CLONE_DIR}"], check=True)
    sys.path.insert(0, os.path.abspath("{CLONE_DIR}"))
    print(subprocess.run(["git", "-C", "{CLONE_DIR}", "log", "-1", "--format=utils: commit %h of %cs, from " + repository], capture_output=True, text=True).stdout)
    missing = [name for name in {EXTRAS!r} if importlib.util.find_spec(name) is None]
    if missing:  # never TensorFlow or Keras: the runtime keeps its own
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", *missing], check=True)'''


def colab_url(notebook) -> str:
    """The address that opens `notebook` (a path inside the repository) in Colab."""
    relative = notebook.relative_to(ROOT).as_posix()
    return (f"https://colab.research.google.com/github/{REPOSITORY.removeprefix('https://github.com/')}"
            f"/blob/{BRANCH}/{relative}")


def badge(notebook) -> str:
    """The Markdown "open in Colab" badge of `notebook`."""
    return f"[![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)]({colab_url(notebook)})"


def is_setup_cell(cell) -> bool:
    source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
    return cell["cell_type"] == "code" and source.startswith(FIRST_LINE)


def write_setup_cells(notebooks) -> list:
    """Put the current set-up cell right after each notebook's `parameters` cell (replacing an
    older one, keeping its id); return the notebooks that changed."""
    import nbformat

    changed = []
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        cells = nb.cells
        old = next((c for c in cells if is_setup_cell(c)), None)
        if old is not None and old.source == setup_cell_source():
            continue
        if old is None:
            first = next(i for i, c in enumerate(cells) if c.cell_type == "code")
            old = nbformat.v4.new_code_cell("")
            cells.insert(first + 1, old)
        old.source = setup_cell_source()
        nbformat.write(nb, path)
        changed.append(path)
    return changed


BADGE = re.compile(r"\[!\[Open in Colab\]\([^)]*\)\]\([^)]*\)")


def readme_with_badges(text: str, notebooks) -> str:
    """`text` (the README) with each notebook's table row carrying its current badge: a row is
    the line that links the notebook as `[`name`](notebooks/name.ipynb)`."""
    lines = text.splitlines(keepends=True)
    for notebook in notebooks:
        link = f"]({notebook.relative_to(ROOT).as_posix()})"
        for i, line in enumerate(lines):
            if line.startswith("|") and link in line:
                cells = line.rstrip("\n").split("|")
                first = BADGE.sub("", cells[1]).strip()
                cells[1] = f" {first} {badge(notebook)} "
                lines[i] = "|".join(cells) + "\n"
    return "".join(lines)


if __name__ == "__main__":
    from .run_notebooks import all_notebooks

    notebooks = all_notebooks()
    for path in write_setup_cells(notebooks):
        print("set-up cell written:", path.relative_to(ROOT))
    readme = ROOT / "README.md"
    readme.write_text(readme_with_badges(readme.read_text(), all_notebooks(solutions=False)))
