"""Measured outcomes: what a notebook expected, what this run found, written down, never fatal.

Two kinds of checks run in the notebooks. An *identity* (the wrapper equals Keras, BPTT equals
finite differences, a task whose answer is certain) holds on any machine at any setting: it is
a plain `assert`. A *measured outcome* (an accuracy, a verdict over seeds, a speed ratio)
depends on the machine, the library versions, the settings and luck: it goes through here.

    from utils.expectations import MeasuredOutcomes
    outcomes = MeasuredOutcomes("04_merge_modes_on_imdb", quick=quick)
    outcomes.expect("concat beats forward only", observed=gap, expected="> 0.01",
                    met=gap > 0.01)

prints what was expected and what came out, records it in `results/expectations.csv`
(notebook, claim, settings, expected, observed, met) and returns whether it was met. It never
stops a student's run. In strict mode (`BIRNN_STRICT=1`: `make run-strict`, which produced the
committed notebooks, and the tests) an unmet expectation at the default settings raises
`ExpectationNotMet`, so a committed claim the run did not bear out cannot slip in; at quick
settings (`quick=True`: the tests, `make lab-run`) outcomes are printed and recorded as
"quick" only, since the expectations were established for the default settings. Likewise a run
whose runner says its settings are not the defaults, with `BIRNN_SETTINGS` (`make laptop-run`
sets "laptop", the tests of the lessons' suggested changes "changed"): its outcomes are
recorded under that name and never raise.
"""

from __future__ import annotations

import os

import pandas as pd

from .data import file_lock
from .paths import RESULTS_DIR

COLUMNS = ["notebook", "claim", "settings", "expected", "observed", "met"]
TEXT = {"expected": str, "observed": str}  # as printed: pandas must not turn 32 into 32.0


class ExpectationNotMet(AssertionError):
    """Strict mode only: a measured outcome came out other than expected."""


def strict() -> bool:
    """True when `BIRNN_STRICT=1` (the committed full run and the tests)."""
    return os.environ.get("BIRNN_STRICT", "0") == "1"


def _format(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


class MeasuredOutcomes:
    """The measured outcomes of one notebook run, each recorded by `expect(...)`."""

    def __init__(self, notebook: str, quick: bool = False, file=None):
        self.notebook = notebook
        self.settings = "quick" if quick else os.environ.get("BIRNN_SETTINGS") or "default"
        self.file = RESULTS_DIR / "expectations.csv" if file is None else file
        self._forget_earlier_runs()

    def _forget_earlier_runs(self) -> None:
        """Drop this notebook's rows of an earlier run at these settings (a claim since removed
        must not linger in the file)."""
        self._update(lambda rows: rows[~((rows.notebook == self.notebook)
                                           & (rows.settings == self.settings))])

    def _update(self, change) -> None:
        """Replace the file's rows by `change(rows)`: read and written back under a lock,
        atomically (two notebooks of `make run` record theirs at the same time), sorted by
        notebook (in a stable sort: each notebook's claims stay in their order)."""
        self.file.parent.mkdir(parents=True, exist_ok=True)
        with file_lock(self.file.with_name(f".{self.file.stem}.lock"), waiting=""):
            rows = (pd.read_csv(self.file, dtype=TEXT) if self.file.exists()
                    else pd.DataFrame(columns=COLUMNS))
            scratch = self.file.with_name(f".{self.file.name}.{os.getpid()}")
            change(rows).sort_values("notebook", kind="stable").to_csv(scratch, index=False)
            os.replace(scratch, self.file)

    def expect(self, claim: str, observed, expected: str, met: bool) -> None:
        """Record one measured outcome; print it; raise only in strict mode when unmet. (It
        returns nothing, so a notebook cell ending with it shows no bare `True`.)"""
        met = bool(met)
        row = {"notebook": self.notebook, "claim": claim, "settings": self.settings,
               "expected": expected, "observed": _format(observed), "met": met}
        print(f"{'expected and met' if met else 'EXPECTED, NOT MET'}: {claim}: expected "
              f"{expected}, this run {row['observed']}")
        self._update(lambda old: pd.concat([old[~((old.notebook == self.notebook)
                                                  & (old.claim == claim)
                                                  & (old.settings == self.settings))],
                                            pd.DataFrame([row])]))
        if not met and strict() and self.settings == "default":
            raise ExpectationNotMet(f"{self.notebook}: {claim}: expected {expected}, observed "
                                    f"{row['observed']} (strict mode: BIRNN_STRICT=1)")


def summary(file=None, settings: str = "default", notebooks=None) -> tuple[int, int, list[str]]:
    """(met, total, the unmet ones as "notebook: claim") over `results/expectations.csv`, for
    the runs at `settings` (of `notebooks` only, if given)."""
    file = RESULTS_DIR / "expectations.csv" if file is None else file
    if not file.exists():
        return 0, 0, []
    rows = pd.read_csv(file, dtype=TEXT)
    rows = rows[rows.settings == settings]
    if notebooks is not None:
        rows = rows[rows.notebook.isin(notebooks)]
    unmet = rows[~rows.met.astype(bool)]
    return int(rows.met.astype(bool).sum()), len(rows), [
        f"{n}: {c}" for n, c in zip(unmet.notebook, unmet.claim, strict=True)]


LIST_BEGIN = "<!-- expectations:begin (written by `make report` from results/expectations.csv) -->"
LIST_END = "<!-- expectations:end -->"


def expectations_list(file=None) -> str:
    """Every expectation of the committed run, as a Markdown table: notebook, claim, what was
    expected at the default settings, what that run measured, met or not."""
    file = RESULTS_DIR / "expectations.csv" if file is None else file
    from .report import markdown_table

    rows = pd.read_csv(file, dtype=TEXT).query("settings == 'default'")
    table = pd.DataFrame({"notebook": rows.notebook, "claim": rows.claim,
                          "expected (default settings)": rows.expected,
                          "committed run": rows.observed,
                          "met": rows.met.map({True: "yes", False: "NO"})})
    return "\n".join([LIST_BEGIN, markdown_table(table), LIST_END])


def update_list(path, file=None) -> bool:
    """Rewrite the list between the markers in `path` (tests/README.md); True if it changed."""
    from .report import replace_block

    text = path.read_text()
    new = replace_block(text, LIST_BEGIN, LIST_END, expectations_list(file), path.name,
                        "expectations")
    path.write_text(new)
    return new != text
