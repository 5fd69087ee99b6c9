"""Execute the notebooks in order, in place, with their default parameters: `make run`.

    python -m utils.run_notebooks                 # every notebooks/*.ipynb, in order
    python -m utils.run_notebooks 05 08           # only those whose names start so

Each notebook runs top to bottom in a fresh kernel (papermill), its outputs are written
into it, and its wall time is recorded in `results/run_times.csv`, from which the README's
results section reports the time of a full run; the machine (processor, cores, versions) goes
to `results/machine.csv`.
"""

from __future__ import annotations

import sys
import time

import pandas as pd
import papermill as pm

from .paths import RESULTS_DIR, ROOT

NOTEBOOK_DIR = ROOT / "notebooks"


def run(prefixes: list[str] | None = None) -> pd.DataFrame:
    """Run the notebooks (all, or those whose names start with one of `prefixes`)."""
    notebooks = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
    if prefixes:
        notebooks = [nb for nb in notebooks if nb.name.startswith(tuple(prefixes))]
        if not notebooks:
            raise SystemExit(f"No notebook in notebooks/ starts with {' or '.join(prefixes)}.")
    from .notebook import machine  # (imports TensorFlow: only when notebooks are run)

    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    pd.DataFrame([machine()]).to_csv(RESULTS_DIR / "machine.csv", index=False)
    times_file = RESULTS_DIR / "run_times.csv"
    times = pd.read_csv(times_file, index_col="notebook") if times_file.exists() else None
    for notebook in notebooks:
        print(f"=== {notebook.name}", flush=True)
        start = time.perf_counter()
        relative = str(notebook.relative_to(ROOT))  # no machine path in the notebook metadata
        pm.execute_notebook(relative, relative, cwd=str(NOTEBOOK_DIR), kernel_name="python3",
                            progress_bar=True, execution_timeout=3600)
        seconds = time.perf_counter() - start
        print(f"    {seconds:.0f} s", flush=True)
        row = pd.DataFrame({"seconds": [round(seconds, 1)]}, index=pd.Index([notebook.stem],
                                                                            name="notebook"))
        times = row if times is None else pd.concat([times.drop(notebook.stem, errors="ignore"),
                                                      row]).sort_index()
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        times.to_csv(times_file)
    return times


if __name__ == "__main__":
    import os

    os.chdir(ROOT)
    run(sys.argv[1:] or None)
    sys.exit(0)
