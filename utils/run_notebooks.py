"""Execute the notebooks in order, in place, with their default parameters: `make run`.

    python -m utils.run_notebooks                 # every notebook, in order, then the solutions
    python -m utils.run_notebooks 04 07           # only those whose names start so (04 and 07,
                                                  # and their solutions)
    python -m utils.run_notebooks --lab           # `make lab-run`: small settings, into lab/
    python -m utils.run_notebooks --laptop        # `make laptop-run`: a laptop's, into lab/
    BIRNN_STRICT=1 python -m utils.run_notebooks  # `make run-strict`: an unmet expectation
                                                  # (utils.expectations) fails its notebook

Each notebook runs top to bottom in a fresh kernel (papermill) into build/runs/; only a
clean run replaces the committed notebook (a failed one is kept in build/failed/ with its
error, and the next notebook runs all the same; the exit status is 1 if any failed). Its
wall time is recorded in `results/run_times.csv`, from which the README's
results section reports the time of a full run; the machine (processor, cores, versions) goes
to `results/machine.csv`.
"""

from __future__ import annotations

import contextlib
import sys
import time

import pandas as pd
import papermill as pm

from .paths import RESULTS_DIR, ROOT

NOTEBOOK_DIR = ROOT / "notebooks"
SOLUTIONS_DIR = NOTEBOOK_DIR / "solutions"
LAB_DIR = ROOT / "lab"


def all_notebooks(solutions: bool = True) -> list:
    """The numbered notebooks in order, then (if `solutions`) their solutions notebooks."""
    found = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
    return found + (sorted(SOLUTIONS_DIR.glob("*.ipynb")) if solutions else [])

#: Small values for the knobs the notebooks share by name: the tests' quick mode and the lab
#: preset (`make lab-run`). A notebook receives those it declares in its `parameters` cell;
#: with `quick` set it also shrinks what it owns and loosens the checks that need a full run
#: to what a small run can show.
QUICK = {
    "quick": True,
    "epochs": 1,
    "seeds": [0],
    "subset": 600,
    "vocab_size": 2_000,
    "maxlen": 40,
    "batch_size": 64,
    "units": 8,
    "embed_dim": 8,
    "timing_epochs": 3,
}


#: `make laptop-run`: between quick and full, for a student's own laptop. Real training on a
#: sample of IMDB, with the checks of a full run (not loosened as in quick mode) and the
#: measured outcomes printed (they are expected at the full settings only). A notebook
#: receives those it declares; the rest keep their defaults.
LAPTOP = {
    "epochs": 2,
    "seeds": [0, 1],
    "subset": 4_000,
    "grid_subset": 4_000,
    "n_fraction": 1_000,
    "n_train": 2_000,
    "n_val": 500,
    "n_test": 1_000,
    "n_reviews": 1_000,
    "timing_epochs": 4,
}

PRESETS = {"quick": QUICK, "laptop": LAPTOP}


def preset_parameters(notebook, preset: str = "quick") -> dict:
    """The values of the preset (`"quick"` or `"laptop"`) that `notebook` declares in its
    parameters cell."""
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}, got {preset!r}.")
    declared = pm.inspect_notebook(str(notebook))
    return {name: value for name, value in PRESETS[preset].items() if name in declared}


def quick_parameters(notebook) -> dict:
    """The values of `QUICK` that `notebook` declares in its parameters cell."""
    return preset_parameters(notebook, "quick")


def run_lab(prefixes: list[str] | None = None, preset: str = "quick") -> pd.DataFrame:
    """`make lab-run` (the small settings of `QUICK`, for a class lab) or `make laptop-run`
    (`LAPTOP`): every lesson with the preset's settings.

    The executed copies go to `lab/` and their results and figures to `lab/results/`, so the
    committed notebooks and `results/` stay as the last full run left them. Returns the wall
    time of each notebook, also written to `lab/run_times.csv`.
    """
    import os

    notebooks = all_notebooks(solutions=False)  # a class runs the lessons; solutions are apart
    if prefixes:
        notebooks = [nb for nb in notebooks if nb.name.startswith(tuple(prefixes))]
    os.environ["BIRNN_RESULTS_DIR"] = str(LAB_DIR / "results")  # read by the notebooks' kernels
    os.environ["BIRNN_SETTINGS"] = preset  # their measured outcomes: recorded as this preset's
    LAB_DIR.mkdir(exist_ok=True)
    rows = []
    for notebook in notebooks:
        print(f"=== {notebook.name} ({preset} settings)", flush=True)
        start = time.perf_counter()
        pm.execute_notebook(str(notebook), str(LAB_DIR / notebook.name),
                            parameters=preset_parameters(notebook, preset), cwd=str(NOTEBOOK_DIR),
                            kernel_name="python3", progress_bar=False, execution_timeout=900)
        rows.append({"notebook": notebook.stem, "seconds": round(time.perf_counter() - start, 1)})
        print(f"    {rows[-1]['seconds']:.0f} s", flush=True)
    times = pd.DataFrame(rows)
    times.to_csv(LAB_DIR / "run_times.csv", index=False)
    print(f"{len(times)} notebooks in {times.seconds.sum() / 60:.1f} minutes; executed copies in "
          "lab/, their results in lab/results/")
    return times


#: Where `run` executes each notebook before it replaces the committed one, and where a run
#: that raised is kept with its error (git-ignored).
RUNS_DIR = ROOT / "build" / "runs"
FAILED_DIR = ROOT / "build" / "failed"


def execute_one(notebook, parameters=None, timeout=3600) -> tuple[str, float, str]:
    """Execute `notebook` into build/runs/; write it back in place only if it ran clean, else
    keep the failed copy in build/failed/ and leave the committed notebook untouched.
    Returns (status, seconds, error): status "ok" or "failed"."""
    import nbformat

    relative = notebook.relative_to(ROOT)  # no machine path in the notebook metadata
    scratch = RUNS_DIR / notebook.name
    scratch.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    try:
        with contextlib.chdir(ROOT):  # papermill records the paths it is given: relative ones
            pm.execute_notebook(str(relative), str(scratch.relative_to(ROOT)),
                                parameters=parameters or {}, cwd=str(notebook.parent),
                                kernel_name="python3", progress_bar=True,
                                execution_timeout=timeout)
    except Exception as error:  # any failure of one notebook is reported, not fatal
        seconds = time.perf_counter() - start
        FAILED_DIR.mkdir(parents=True, exist_ok=True)
        if scratch.exists():
            scratch.replace(FAILED_DIR / notebook.name)
        message = str(error).strip().splitlines()
        return "failed", seconds, (message[-1] if message else type(error).__name__)
    seconds = time.perf_counter() - start
    executed = nbformat.read(scratch, as_version=4)
    executed.metadata.papermill["output_path"] = str(relative)
    nbformat.write(executed, scratch)
    scratch.replace(notebook)  # the committed notebook changes only now, in one step
    return "ok", seconds, ""


def run(prefixes: list[str] | None = None) -> pd.DataFrame:
    """Run the notebooks and their solutions (all, or those whose names start with one of
    `prefixes`: "04" runs notebook 04 and its solutions), each to the end even when an earlier
    one failed. A notebook is written back only when it ran clean; a failed run is kept in
    build/failed/ with its error. Returns one row per notebook: seconds, status, error."""
    notebooks = all_notebooks()
    if prefixes:
        notebooks = [nb for nb in notebooks if nb.name.startswith(tuple(prefixes))]
        if not notebooks:
            raise SystemExit(f"No notebook in notebooks/ starts with {' or '.join(prefixes)}.")
    from .notebook import machine  # (imports TensorFlow: only when notebooks are run)

    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    pd.DataFrame([machine()]).to_csv(RESULTS_DIR / "machine.csv", index=False)
    times_file = RESULTS_DIR / "run_times.csv"
    times = pd.read_csv(times_file, index_col="notebook") if times_file.exists() else None
    from .expectations import summary as expectations_summary

    rows = []
    for notebook in notebooks:
        print(f"=== {notebook.name}", flush=True)
        status, seconds, error = execute_one(notebook)
        print(f"    {seconds:.0f} s, {status}{': ' + error if error else ''}", flush=True)
        met, total, _ = expectations_summary(notebooks=[notebook.stem])
        rows.append({"notebook": notebook.stem, "seconds": round(seconds, 1), "status": status,
                     "expectations met": f"{met} of {total}" if total else "",
                     "error": error})
        if status != "ok":
            continue  # the last clean run's time stays, as its notebook does
        row = pd.DataFrame({"seconds": [round(seconds, 1)]}, index=pd.Index([notebook.stem],
                                                                            name="notebook"))
        times = row if times is None else pd.concat([times.drop(notebook.stem, errors="ignore"),
                                                      row]).sort_index()
        times.to_csv(times_file)
    summary = pd.DataFrame(rows)
    print(summary.to_string(index=False))
    failed = summary[summary.status != "ok"]
    print(f"{len(summary) - len(failed)} of {len(summary)} notebooks ran clean"
          + (f"; failed (kept in build/failed/): {', '.join(failed.notebook)}" if len(failed)
             else ""))
    met, total, unmet = expectations_summary(notebooks=list(summary.notebook))
    print(f"expectations met: {met} of {total}" + "".join(f"\n    not met: {u}" for u in unmet))
    return summary


if __name__ == "__main__":
    import os

    os.chdir(ROOT)
    arguments = sys.argv[1:]
    for flag, preset in (("--lab", "quick"), ("--laptop", "laptop")):
        if flag in arguments:
            run_lab([a for a in arguments if a != flag] or None, preset)
            sys.exit(0)
    summary = run(arguments or None)
    sys.exit(0 if (summary.status == "ok").all() else 1)
