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

from .experiments import mean_and_std
from .paths import RESULTS_DIR, ROOT
from .run_notebooks import ALONE

BEGIN = "<!-- results:begin (written by `make report`; do not edit by hand) -->"
END = "<!-- results:end -->"

#: Experiment CSV files: heading, notebook, figure, metric. Each holds one row per (variant,
#: seed), written by the notebook during `make run`.
EXPERIMENTS = {
    "merge_modes": ("Merge modes on IMDB", "04_merge_modes_on_imdb",
                    "04_test_accuracy_by_variant.png", "test_accuracy"),
    "padding": ("Padding side and masking", "05_what_each_direction_sees",
                "05_padding_grid.png", "test_accuracy"),
    "tagging": ("Where the second direction is essential: sentence boundaries",
                "06_sentence_boundaries", "06_test_f1_by_variant.png", "test_f1"),
    "two_losses_needs_both": ("One loss or two, on a task that needs both sides",
                              "07_two_losses_or_one", "07_needs_both.png", "test_accuracy"),
    "two_losses": ("One loss or two, on IMDB", "07_two_losses_or_one", "07_test_accuracy.png",
                   "test_accuracy"),
}

#: The notebooks that train on IMDB (their total time is stated on its own).
IMDB_EXPERIMENTS = ("04", "05", "06", "07")

#: Timing files (written by the notebooks): heading, notebook, sentence, the two layers.
TIMINGS = {
    "handmade_vs_keras_timing": (
        "Hand-made wrapper vs `keras.layers.Bidirectional`", "03_handmade_vs_keras_bidirectional",
        "median seconds per training epoch and their ratio (hand-made / Keras; 1 = equally "
        "fast).", ("handmade", "hand-made (s)"), ("keras", "Keras (s)")),
    "fused_timing": (
        "Fused bidirectional SimpleRNN vs `keras.layers.Bidirectional`",
        "08_fused_bidirectional_rnn",
        "median seconds per training epoch and the speed-up (Keras / fused; 2 = twice as "
        "fast).", ("fused_seconds", "fused (s)"), ("keras_seconds", "Keras (s)")),
}


def markdown_table(frame: pd.DataFrame) -> str:
    """A pandas DataFrame as a Markdown table (no extra dependency)."""
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    rows = ["| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |"
            for row in frame.to_numpy()]
    return "\n".join([header, rule, *rows])


def experiment_summary(results: pd.DataFrame, metric: str = "test_accuracy") -> pd.DataFrame:
    """Mean and standard deviation over seeds of `metric` per variant, best first; also the
    parameters and the seconds per epoch where the file has them (the median over a variant's
    runs of each run's median epoch)."""
    group = results.groupby("variant", sort=False)
    metrics = list(dict.fromkeys([metric, "test_accuracy"] if "test_accuracy" in results
                                 else [metric]))
    stats = mean_and_std(results, metrics)

    def mean_std(name):
        mean, std = stats[(name, "mean")], stats[(name, "std")]
        return [f"{m:.3f} ± {s:.3f}" if pd.notna(s) else f"{m:.3f}"
                for m, s in zip(mean, std, strict=True)]

    summary = pd.DataFrame({
        "variant": list(group.groups),
        "seeds": group.seed.nunique().to_numpy(),
        f"{metric.replace('_', ' ')} (mean ± std)": mean_std(metric),
    })
    if metric != "test_accuracy" and "test_accuracy" in results:
        summary["test accuracy (mean ± std)"] = mean_std("test_accuracy")
    if "params" in results:
        summary["parameters"] = [f"{p:,}" for p in group.params.first()]
    if "seconds_per_epoch" in results:
        summary["seconds per epoch (median)"] = [
            f"{s:.1f}" for s in group.seconds_per_epoch.median()]
    summary["_mean"] = stats[(metric, "mean")].to_numpy()
    return summary.sort_values("_mean", ascending=False).drop(columns="_mean")


def chosen_on_validation(results: pd.DataFrame,
                         exclude=("forward only", "backward only", "bag of words")):
    """The variant with the highest mean validation accuracy (variants in `exclude` left
    out: the baselines that are not bidirectional), and its test accuracies: the honest pick,
    made without looking at the test set."""
    candidates = results[~results.variant.isin(exclude)]
    best = candidates.groupby("variant").val_accuracy.mean().idxmax()
    return best, candidates.loc[candidates.variant == best, "test_accuracy"]


def _at_a_time(total) -> str:
    """'two at a time' from a row of run_totals.csv."""
    at_a_time = int(total["at a time"])
    return "one at a time" if at_a_time == 1 else f"{NUMBERS.get(at_a_time, at_a_time)} at a time"


NUMBERS = {2: "two", 3: "three", 4: "four"}


def results_section(folder: Path | None = None) -> str:
    """The Markdown of the results section, from the files in `folder` (default results/)."""
    folder = Path(folder) if folder is not None else RESULTS_DIR
    parts = [BEGIN, "", "## Results of the last full run", ""]
    machine_file = folder / "machine.csv"
    if machine_file.exists():
        m = pd.read_csv(machine_file).iloc[0]
        parts += [
            f"Machine: {m['cpu']}, {m['cores']} cores; Python {m['python']}, TensorFlow "
            f"{m['tensorflow']}, Keras {m['keras']}, NumPy {m['numpy']} (`results/machine.csv`). "
            "The seeds fix every number on the same machine and versions; another processor "
            "or other versions round differently, a training run amplifies that, and the "
            "numbers below then move by about the spread between seeds (the notebooks' "
            "verdicts are read against that spread).", ""]
    totals_file = folder / "run_totals.csv"
    totals = (pd.read_csv(totals_file).set_index("run") if totals_file.exists()
              else pd.DataFrame(columns=["notebooks", "at a time", "seconds"]))
    times_file = folder / "run_times.csv"
    if times_file.exists():
        times = pd.read_csv(times_file)
        solutions = times.notebook.str.endswith("_solutions")
        split = (f"the lessons {times.seconds[~solutions].sum() / 60:.1f}, the solutions "
                 f"{times.seconds[solutions].sum() / 60:.1f}")
        executed = (f"`make run` executed {(~solutions).sum()} notebooks and {solutions.sum()} "
                    "solutions notebooks in ")
        if "make run" in totals.index:
            total = totals.loc["make run"]
            alone = times.notebook.isin(ALONE)
            names = ", ".join(times.notebook[alone])
            first = (f"first {names} with nothing beside {'it' if alone.sum() == 1 else 'them'}"
                     f" ({'it measures' if alone.sum() == 1 else 'they measure'} speed: "
                     f"{times.seconds[alone].sum() / 60:.1f} minutes), then " if alone.any()
                     else "")
            parts += [
                executed + f"{total['seconds'] / 60:.1f} minutes of wall time on a 2-core CPU: "
                f"{first}the other {(~alone).sum()}, {_at_a_time(total)} "
                f"({times.seconds[~alone].sum() / 60:.1f} minutes of their own times, each "
                "slower beside another than alone). Per notebook below "
                f"(`results/run_times.csv`): {times.seconds.sum() / 60:.1f} minutes together "
                f"({split}).", ""]
        else:
            parts += [executed + f"{times.seconds.sum() / 60:.1f} minutes on a 2-core CPU "
                      f"({split}; wall time per notebook below, from `results/run_times.csv`).",
                      ""]
        parts += [
            markdown_table(times.assign(seconds=times.seconds.map(lambda s: f"{s:.0f}"))), "",
        ]
        imdb = times[~solutions & times.notebook.str[:2].isin(IMDB_EXPERIMENTS)]
        if len(imdb) == len(IMDB_EXPERIMENTS):
            parts += [f"The times of the IMDB experiments ({', '.join(imdb.notebook.str[:2])}) "
                      f"add up to {imdb.seconds.sum() / 60:.1f} minutes.", ""]
    if "make lab-run" in totals.index:
        lab = totals.loc["make lab-run"]
        parts += [f"`make lab-run` (notebooks 00-08 at the small settings, {_at_a_time(lab)}) "
                  f"took {lab['seconds'] / 60:.1f} minutes of wall time, installation and "
                  "download not included (`results/run_totals.csv`).", ""]
    expectations = folder / "expectations.csv"
    if expectations.exists():
        from .expectations import summary

        met, total, unmet = summary(expectations)
        parts += [f"Measured outcomes that the notebooks expected (`results/expectations.csv`, "
                  f"written by `utils.expectations`): **{met} of {total} met**"
                  + (": not met: " + "; ".join(unmet) + "." if unmet else "."), ""]
    for name, (title, notebook, figure, metric) in EXPERIMENTS.items():
        csv = folder / f"{name}.csv"
        if not csv.exists():
            continue
        parts += [f"### {title}", "",
                  f"From [`{notebook}`](notebooks/{notebook}.ipynb), `results/{name}.csv`:", "",
                  markdown_table(experiment_summary(pd.read_csv(csv), metric)), ""]
        if name == "merge_modes":
            best, test = chosen_on_validation(pd.read_csv(csv))
            parts += [f"Chosen on validation accuracy among the bidirectional variants: "
                      f"**{best}**, test accuracy {test.mean():.4f} ± {test.std():.4f} "
                      f"(mean ± std over {len(test)} seeds).", ""]
        if (folder / "figures" / figure).exists():
            parts += [f"![{title}](results/figures/{figure})", ""]
    for name, (title, notebook, sentence, (a, a_label), (b, b_label)) in TIMINGS.items():
        csv = folder / f"{name}.csv"
        if not csv.exists():
            continue
        t = pd.read_csv(csv)
        parts += [
            f"### {title}", "",
            f"From [`{notebook}`](notebooks/{notebook}.ipynb): {sentence}", "",
            markdown_table(pd.DataFrame({
                "clock": t["clock"],
                a_label: [f"{v:.2f}" for v in t[a]],
                b_label: [f"{v:.2f}" for v in t[b]],
                "ratio": [f"{v:.3f}" for v in t["ratio"]],
            })), "",
        ]
    parts.append(END)
    return "\n".join(parts)


def replace_block(text: str, begin: str, end: str, block: str, where: str, what: str) -> str:
    """`text` with everything from the marker `begin` to the marker `end` replaced by `block`
    (which carries the markers itself); `where` (the file) and `what` (the block) name it in
    the error if a marker is missing.
    The README's results section, TEACHING.md's tables and tests/README.md's list of
    expectations are all written this way."""
    if begin not in text or end not in text:
        raise ValueError(f"{where} has no {what} markers; add\n{begin}\n{end}")
    head, rest = text.split(begin, 1)
    return head + block + rest.split(end, 1)[1]


def update_readme(readme: Path | None = None, folder: Path | None = None) -> bool:
    """Replace the results section of the README; return True if it changed."""
    readme = Path(readme) if readme is not None else ROOT / "README.md"
    text = readme.read_text()
    new = replace_block(text, BEGIN, END, results_section(folder), readme.name, "results")
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
    if (RESULTS_DIR / "expectations.csv").exists():
        from .expectations import update_list

        changed = update_list(ROOT / "tests" / "README.md")
        print("tests/README.md expectations " + ("updated." if changed else "already current."))
