"""Write the README's results section from the files in `results/`: `make report`.

    python -m utils.report          # rewrite the section between the two markers in README.md
    python -m utils.report --check  # exit 1 if the README's section differs from results/

Nothing in the section is typed by hand: every number comes from a CSV file that a
notebook wrote during `make run`, so the README always says what the last full run found.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from .paths import RESULTS_DIR, ROOT

BEGIN = "<!-- results:begin (written by `make report`; do not edit by hand) -->"
END = "<!-- results:end -->"

#: Experiment CSV files (written by `utils.experiments.run_grid`): heading, notebook, figure.
EXPERIMENTS = {
    "merge_modes": ("Merge modes on IMDB", "05_merge_modes_on_imdb",
                    "05_test_accuracy_by_variant.png"),
    "two_losses": ("One loss or two", "08_two_losses_or_one", "08_test_accuracy.png"),
    "padding": ("Padding side and masking", "06_what_each_direction_sees",
                "06_padding_grid.png"),
}

#: The notebooks that train on all of IMDB (their total time is stated on its own).
IMDB_EXPERIMENTS = ("03", "05", "06")


def _table(frame: pd.DataFrame) -> str:
    """A pandas DataFrame as a Markdown table (no extra dependency)."""
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    rows = ["| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |"
            for row in frame.to_numpy()]
    return "\n".join([header, rule, *rows])


def experiment_summary(results: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation of test accuracy per variant, best first."""
    group = results.groupby("variant", sort=False)
    summary = pd.DataFrame({
        "variant": list(group.groups),
        "seeds": group.seed.nunique().to_numpy(),
        "test accuracy (mean ± std)": [
            f"{m:.3f} ± {s:.3f}" if n > 1 else f"{m:.3f}"
            for m, s, n in zip(group.test_accuracy.mean(), group.test_accuracy.std(),
                               group.seed.nunique(), strict=True)
        ],
        "parameters": [f"{p:,}" for p in group.params.first()],
        "seconds per epoch": [f"{s:.1f}" for s in group.seconds_per_epoch.median()],
        "_mean": group.test_accuracy.mean().to_numpy(),
    })
    return summary.sort_values("_mean", ascending=False).drop(columns="_mean")


def chosen_on_validation(results: pd.DataFrame, exclude=("forward only", "backward only")):
    """The variant with the highest mean validation accuracy (variants in `exclude` left
    out), and its test accuracies: the honest pick, made without looking at the test set."""
    candidates = results[~results.variant.isin(exclude)]
    best = candidates.groupby("variant").val_accuracy.mean().idxmax()
    return best, candidates.loc[candidates.variant == best, "test_accuracy"]


def results_section(folder: Path | None = None) -> str:
    """The Markdown of the results section, from the files in `folder` (default results/)."""
    folder = Path(folder) if folder is not None else RESULTS_DIR
    parts = [BEGIN, "", "## Results of the last full run", ""]
    times_file = folder / "run_times.csv"
    if times_file.exists():
        times = pd.read_csv(times_file)
        total = times.seconds.sum()
        parts += [
            f"`make run` executed {len(times)} notebooks in {total / 60:.1f} minutes on a "
            "2-core CPU (wall time per notebook below, from `results/run_times.csv`).", "",
            _table(times.assign(seconds=times.seconds.map(lambda s: f"{s:.0f}"))), "",
        ]
        imdb = times[times.notebook.str[:2].isin(IMDB_EXPERIMENTS)]
        if len(imdb) == len(IMDB_EXPERIMENTS):
            parts += [f"The three IMDB experiments ({', '.join(imdb.notebook.str[:2])}) took "
                      f"{imdb.seconds.sum() / 60:.1f} minutes together.", ""]
    for name, (title, notebook, figure) in EXPERIMENTS.items():
        csv = folder / f"{name}.csv"
        if not csv.exists():
            continue
        parts += [f"### {title}", "",
                  f"From [`{notebook}`](notebooks/{notebook}.ipynb), `results/{name}.csv`:", "",
                  _table(experiment_summary(pd.read_csv(csv))), ""]
        if name == "merge_modes":
            best, test = chosen_on_validation(pd.read_csv(csv))
            parts += [f"Chosen on validation accuracy among the bidirectional variants: "
                      f"**{best}**, test accuracy {test.mean():.4f} ± {test.std():.4f} "
                      f"(mean ± std over {len(test)} seeds).", ""]
        if (folder / "figures" / figure).exists():
            parts += [f"![{title}](results/figures/{figure})", ""]
    timing = folder / "handmade_vs_keras_timing.csv"
    if timing.exists():
        t = pd.read_csv(timing).set_index("clock")
        parts += [
            "### Hand-made wrapper vs `keras.layers.Bidirectional`", "",
            "From [`03_handmade_vs_keras_bidirectional`]"
            "(notebooks/03_handmade_vs_keras_bidirectional.ipynb): median seconds per "
            "training epoch and their ratio (hand-made / Keras; 1 = equally fast).", "",
            _table(pd.DataFrame({
                "clock": t.index,
                "hand-made (s)": [f"{v:.2f}" for v in t.handmade],
                "Keras (s)": [f"{v:.2f}" for v in t.keras],
                "ratio": [f"{v:.3f}" for v in t.ratio],
            })), "",
        ]
    parts.append(END)
    return "\n".join(parts)


def update_readme(readme: Path | None = None, folder: Path | None = None) -> bool:
    """Replace the results section of the README; return True if it changed."""
    readme = Path(readme) if readme is not None else ROOT / "README.md"
    text = readme.read_text()
    if BEGIN not in text or END not in text:
        raise ValueError(f"{readme.name} has no results markers; add\n{BEGIN}\n{END}")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    new = head + results_section(folder) + tail
    readme.write_text(new)
    return new != text


def readme_is_current(readme: Path | None = None, folder: Path | None = None) -> bool:
    """True if the README's results section is exactly what `results_section` writes now."""
    readme = Path(readme) if readme is not None else ROOT / "README.md"
    text = readme.read_text()
    return BEGIN in text and results_section(folder) in text


if __name__ == "__main__":
    if "--check" in sys.argv[1:]:
        ok = readme_is_current()
        print("README results section is current." if ok else
              "README results section differs from results/: run `make report`.")
        sys.exit(0 if ok else 1)
    changed = update_readme()
    print("README results section " + ("updated." if changed else "already current."))
