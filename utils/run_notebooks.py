"""Execute the notebooks in order, in place, with their default parameters: `make run`.

    python -m utils.run_notebooks                 # every notebook, in order, then the solutions
    python -m utils.run_notebooks 04 07           # only those whose names start so (04 and 07,
                                                  # and their solutions)
    python -m utils.run_notebooks --lab           # `make lab-run`: small settings, into lab/
    python -m utils.run_notebooks --laptop        # `make laptop-run`: a laptop's, into lab/
    BIRNN_STRICT=1 python -m utils.run_notebooks  # `make run-strict`: an unmet expectation
                                                  # (utils.expectations) fails its notebook

Each notebook runs top to bottom in a fresh kernel (papermill) into build/runs/, two at a
time (a kernel keeps about one core busy; `--workers 1` or `RUN_WORKERS=1` runs one at a
time), except those in `ALONE` (08, which times one core against two), which run first with
nothing beside them; only a clean run replaces the committed notebook (a failed one is kept in
build/failed/ with its error, and the next notebook runs all the same; the exit status is 1 if
any failed). Its wall time is recorded in `results/run_times.csv`, and the wall time of the
whole run (`make run`, and `make lab-run`'s) in `results/run_totals.csv`, from which the
README's results section reports them; the machine (processor, cores, versions) goes to
`results/machine.csv`.
"""

from __future__ import annotations

import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

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
    "timing_reviews": 128,  # notebook 03's timing run: two batches an epoch
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


#: Notebooks whose measurements need the machine to themselves (08 times one core against two,
#: with a second program spinning on one of them): `run` executes them with nothing beside
#: them, before the others, which run `workers` at a time. 04's speed claim (Keras's engine
#: against the fused one, > 1.5) held beside another notebook: 2.28, and 2.11 alone (2026-12-07).
ALONE = ("08_fused_bidirectional_rnn",)

#: How many notebooks run at once. One kernel keeps about one of two cores busy (notebook 06
#: alone: 84 s of wall time, 90 s of CPU); two at once took 98 s each (2026-12-04).
WORKERS = int(os.environ.get("RUN_WORKERS", "2"))


def record_total(run: str, notebooks: int, workers: int, seconds: float) -> None:
    """One row per kind of run in `results/run_totals.csv`: its wall time, the last one kept."""
    file = RESULTS_DIR / "run_totals.csv"
    row = pd.DataFrame([{"run": run, "notebooks": notebooks, "at a time": workers,
                         "seconds": round(seconds, 1)}])
    old = pd.read_csv(file) if file.exists() else None
    new = row if old is None else pd.concat([old[old.run != run], row])
    file.parent.mkdir(parents=True, exist_ok=True)
    new.sort_values("run").to_csv(file, index=False)


def in_parallel(job, notebooks: list, workers: int, progress: bool = False) -> dict:
    """`job(notebook, progress)` for every notebook, `workers` at a time (each in its own
    kernel; longest first, by the last recorded times), each printing one line when it ends.
    Returns {notebook: job's result}."""
    times_file = RESULTS_DIR / "run_times.csv"
    last = (pd.read_csv(times_file, index_col="notebook").seconds.to_dict()
            if times_file.exists() else {})
    order = sorted(notebooks, key=lambda nb: -last.get(nb.stem, 0.0))
    results = {}
    if not order:
        return results
    if workers <= 1:
        for notebook in order:
            print(f"=== {notebook.name}", flush=True)
            results[notebook] = job(notebook, progress)
            print(f"    {_line(results[notebook])}", flush=True)
        return results
    print(f"=== {len(order)} notebooks, {workers} at a time: "
          + ", ".join(nb.stem for nb in order), flush=True)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(job, notebook, False): notebook for notebook in order}
        for future in as_completed(futures):
            results[futures[future]] = future.result()
            print(f"=== {futures[future].name}: {_line(results[futures[future]])}", flush=True)
    return results


def _line(result) -> str:
    status, seconds, error = result
    return f"{seconds:.0f} s, {status}{': ' + error if error else ''}"


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


def run_lab(prefixes: list[str] | None = None, preset: str = "quick",
            workers: int = WORKERS) -> pd.DataFrame:
    """`make lab-run` (the small settings of `QUICK`, for a class lab) or `make laptop-run`
    (`LAPTOP`): every lesson with the preset's settings, `workers` at a time.

    The executed copies go to `lab/` and their results and figures to `lab/results/`, so the
    committed notebooks and `results/` stay as the last full run left them. Returns the wall
    time of each notebook (and whether it ran clean), also written to `lab/run_times.csv`. The
    wall time of a whole run that ran clean (every lesson) goes to `results/run_totals.csv`,
    for the README.
    """
    notebooks = all_notebooks(solutions=False)  # a class runs the lessons; solutions are apart
    if prefixes:
        notebooks = [nb for nb in notebooks if nb.name.startswith(tuple(prefixes))]
    kernels = {**os.environ,  # for the notebooks' kernels only, not this process
               "BIRNN_RESULTS_DIR": str(LAB_DIR / "results"),
               "BIRNN_SETTINGS": preset}  # their measured outcomes: recorded as this preset's
    LAB_DIR.mkdir(exist_ok=True)
    print(f"{len(notebooks)} lessons at the {preset} settings, into lab/", flush=True)

    def job(notebook, progress):
        return papermill(notebook, LAB_DIR / notebook.name, preset_parameters(notebook, preset),
                         timeout=900, progress=progress, env=kernels)

    start = time.perf_counter()
    done = in_parallel(job, notebooks, workers)
    wall = time.perf_counter() - start
    times = pd.DataFrame([{"notebook": nb.stem, "seconds": round(done[nb][1], 1),
                           "status": done[nb][0], "error": done[nb][2]} for nb in notebooks])
    times.to_csv(LAB_DIR / "run_times.csv", index=False)
    if len(notebooks) == len(all_notebooks(solutions=False)) and (times.status == "ok").all():
        record_total(f"make {'lab' if preset == 'quick' else preset}-run", len(notebooks),
                     workers, wall)
    print(times.to_string(index=False))
    print(f"{len(notebooks)} notebooks in {wall / 60:.1f} minutes, {workers} at a time; executed "
          "copies in lab/, their results in lab/results/")
    return times


def kernel_config(folder):
    """Jupyter's configuration for one kernel: on Linux and macOS it talks over Unix sockets in
    `folder` instead of TCP ports. A TCP port is picked free and bound by the kernel a moment
    later, and with kernels starting side by side another process can take it first (2026-12-07,
    `make test`: "ZMQError: Address already in use", then "Kernel didn't respond in 60 seconds").
    Windows has no such sockets and keeps TCP."""
    from traitlets.config import Config

    if os.name == "nt":
        return Config()
    return Config({"KernelManager": {"transport": "ipc", "ip": str(Path(folder) / "kernel")}})


#: The kernel manager papermill starts kernels with (None: jupyter_client's own). `make test`
#: sets one whose kernels are forked from a process that has imported TensorFlow already
#: (`tests/forked_kernels.py`).
KERNEL_MANAGER = None


def execute(notebook, output, parameters=None, timeout=600, progress=False):
    """`papermill.execute_notebook` in this process, the paths as given: the kernel runs in the
    notebook's folder and talks over sockets in a temporary folder of its own (`kernel_config`).
    Raises papermill's `PapermillExecutionError` when a cell raises."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="birnn-kernel-") as sockets:
        return pm.execute_notebook(str(notebook), str(output), parameters=parameters or {},
                                   cwd=str(Path(notebook).parent), kernel_name="python3",
                                   progress_bar=progress, execution_timeout=timeout,
                                   config=kernel_config(sockets),
                                   **({} if KERNEL_MANAGER is None
                                      else {"kernel_manager_class": KERNEL_MANAGER}))


def papermill(notebook, output, parameters, timeout, progress=False,
              env=None) -> tuple[str, float, str]:
    """Execute `notebook` into `output` with `execute` in a process of its own (its kernel runs
    in the notebook's folder, with the environment `env`, by default this process's), the paths
    as given. Returns (status, seconds, error): status "ok" or "failed", the error's last line."""
    import json
    import subprocess

    arguments = {"notebook": str(notebook), "output": str(output), "parameters": parameters,
                 "timeout": timeout, "progress": progress}
    command = [sys.executable, "-c", "import json, sys; from utils.run_notebooks import execute; "
               "execute(**json.loads(sys.argv[1]))", json.dumps(arguments)]
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    tail = b""
    while chunk := process.stderr.read1(4096):  # the progress bar passes through as it comes
        if progress:
            sys.stderr.buffer.write(chunk)
            sys.stderr.flush()
        tail = (tail + chunk)[-20_000:]
    returncode = process.wait()
    seconds = time.perf_counter() - start
    if returncode == 0:
        return "ok", seconds, ""
    lines = [line.strip() for line in tail.decode(errors="replace").replace("\r", "\n").split("\n")
             if line.strip() and not line.startswith("[") and "%|" not in line]
    return "failed", seconds, (lines[-1] if lines else f"exit status {returncode}")


#: Where `run` executes each notebook before it replaces the committed one, and where a run
#: that raised is kept with its error (git-ignored).
RUNS_DIR = ROOT / "build" / "runs"
FAILED_DIR = ROOT / "build" / "failed"


def execute_one(notebook, progress=True, parameters=None, timeout=3600) -> tuple[str, float, str]:
    """Execute `notebook` into build/runs/; write it back in place only if it ran clean, else
    keep the failed copy in build/failed/ and leave the committed notebook untouched.
    Returns (status, seconds, error): status "ok" or "failed"."""
    relative = notebook.relative_to(ROOT)  # no machine path in the notebook metadata
    scratch = RUNS_DIR / notebook.name
    scratch.parent.mkdir(parents=True, exist_ok=True)
    status, seconds, error = papermill(relative, scratch.relative_to(ROOT), parameters, timeout,
                                       progress)
    if status != "ok":  # any failure of one notebook is reported, not fatal
        FAILED_DIR.mkdir(parents=True, exist_ok=True)
        if scratch.exists():
            scratch.replace(FAILED_DIR / notebook.name)
        return status, seconds, error
    import nbformat

    executed = nbformat.read(scratch, as_version=4)
    executed.metadata.papermill["output_path"] = str(relative)
    nbformat.write(executed, scratch)
    scratch.replace(notebook)  # the committed notebook changes only now, in one step
    return "ok", seconds, ""


def run(prefixes: list[str] | None = None, workers: int = WORKERS) -> pd.DataFrame:
    """Run the notebooks and their solutions (all, or those whose names start with one of
    `prefixes`: "04" runs notebook 04 and its solutions), each to the end even when another
    one failed: those in `ALONE` one by one, then the others `workers` at a time. A notebook is
    written back only when it ran clean; a failed run is kept in build/failed/ with its error.
    Returns one row per notebook, in order: seconds, status, expectations met, error."""
    notebooks = all_notebooks()
    if prefixes:
        notebooks = [nb for nb in notebooks if nb.name.startswith(tuple(prefixes))]
        if not notebooks:
            raise SystemExit(f"No notebook in notebooks/ starts with {' or '.join(prefixes)}.")
    from .notebook import machine  # (imports TensorFlow: only when notebooks are run)

    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    pd.DataFrame([machine()]).to_csv(RESULTS_DIR / "machine.csv", index=False)
    from .expectations import summary as expectations_summary

    start = time.perf_counter()
    alone = [nb for nb in notebooks if nb.stem in ALONE]
    done = in_parallel(execute_one, alone, 1, progress=True)  # one at a time: a progress bar
    done |= in_parallel(execute_one, [nb for nb in notebooks if nb not in alone], workers,
                        progress=workers <= 1)
    wall = time.perf_counter() - start
    rows = []
    for notebook in notebooks:
        status, seconds, error = done[notebook]
        met, total, _ = expectations_summary(notebooks=[notebook.stem])
        rows.append({"notebook": notebook.stem, "seconds": round(seconds, 1), "status": status,
                     "expectations met": f"{met} of {total}" if total else "", "error": error})
    summary = pd.DataFrame(rows)
    clean = summary[summary.status == "ok"]  # a failed run's notebook and time stay as they were
    times_file = RESULTS_DIR / "run_times.csv"
    times = pd.read_csv(times_file, index_col="notebook") if times_file.exists() else None
    new = clean.set_index("notebook")[["seconds"]]
    times = new if times is None else pd.concat([times.drop(new.index, errors="ignore"), new])
    times.sort_index().to_csv(times_file)
    if len(clean) == len(summary) == len(all_notebooks()):
        record_total("make run", len(summary), workers, wall)
    print(summary.to_string(index=False))
    failed = summary[summary.status != "ok"]
    print(f"{len(clean)} of {len(summary)} notebooks ran clean in {wall / 60:.1f} minutes"
          + (f"; failed (kept in build/failed/): {', '.join(failed.notebook)}" if len(failed)
             else ""))
    met, total, unmet = expectations_summary(notebooks=list(summary.notebook))
    print(f"expectations met: {met} of {total}" + "".join(f"\n    not met: {u}" for u in unmet))
    return summary


if __name__ == "__main__":
    import argparse

    os.chdir(ROOT)
    parser = argparse.ArgumentParser(prog="python -m utils.run_notebooks",
                                     description="Execute the notebooks (make run).")
    parser.add_argument("prefixes", nargs="*", help="only the notebooks whose names start so")
    preset = parser.add_mutually_exclusive_group()
    preset.add_argument("--lab", action="store_const", const="quick", dest="preset",
                        help="make lab-run: the lessons at small settings, into lab/")
    preset.add_argument("--laptop", action="store_const", const="laptop", dest="preset",
                        help="make laptop-run: the lessons at a laptop's settings, into lab/")
    parser.add_argument("--workers", type=int, default=WORKERS,
                        help=f"notebooks at a time (default {WORKERS}, from RUN_WORKERS)")
    arguments = parser.parse_args()
    if arguments.workers < 1:
        parser.error(f"--workers must be 1 or more, got {arguments.workers}.")
    if arguments.preset:
        summary = run_lab(arguments.prefixes or None, arguments.preset, arguments.workers)
    else:
        summary = run(arguments.prefixes or None, arguments.workers)
    sys.exit(0 if (summary.status == "ok").all() else 1)
