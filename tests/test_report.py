"""The README's results section is generated from results/ and matches it."""

import pandas as pd
import pytest

from utils import ROOT
from utils.report import BEGIN, END, readme_is_current, results_section, update_readme


@pytest.fixture
def results(tmp_path):
    folder = tmp_path / "results"
    (folder / "figures").mkdir(parents=True)
    pd.DataFrame({
        "variant": ["concat", "concat", "sum", "sum"], "seed": [0, 1, 0, 1],
        "test_accuracy": [0.86, 0.88, 0.84, 0.85], "params": [100, 100, 80, 80],
        "val_accuracy": [0.87, 0.88, 0.89, 0.90],
        "seconds_per_epoch": [5.0, 6.0, 4.0, 4.0],
    }).to_csv(folder / "merge_modes.csv", index=False)
    pd.DataFrame({"notebook": ["00_a", "03_b"], "seconds": [30.0, 270.0]}).to_csv(
        folder / "run_times.csv", index=False)
    pd.DataFrame({"clock": ["wall clock"], "handmade": [5.1], "keras": [5.0],
                  "ratio": [1.02]}).to_csv(folder / "handmade_vs_keras_timing.csv", index=False)
    (folder / "figures" / "04_test_accuracy_by_variant.png").write_bytes(b"png")
    pd.DataFrame({"notebook": ["04_b", "04_b", "07_c"], "claim": ["a", "b", "c"],
                  "settings": ["default", "default", "quick"], "expected": ["> 1"] * 3,
                  "observed": [2, 0.5, 0.5], "met": [True, False, False]}).to_csv(
        folder / "expectations.csv", index=False)
    return folder


def test_section_reports_what_the_files_hold(results):
    text = results_section(results)
    assert text.startswith(BEGIN) and text.endswith(END)
    assert "2 notebooks and 0 solutions notebooks in 5.0 minutes" in text
    assert "**1 of 2 met**: not met: 04_b: b." in text  # the quick run's row is not counted
    assert "IMDB experiments" not in text  # 04 and 05 have no time in this folder
    assert "| concat | 2 | 0.870 ± 0.014 | 100 | 5.5 |" in text
    assert text.index("| concat |") < text.index("| sum |")  # best first
    assert "| wall clock | 5.10 | 5.00 | 1.020 |" in text
    assert "results/figures/04_test_accuracy_by_variant.png" in text
    # the pick is made on validation (sum), whatever the test accuracy says (concat)
    assert "**sum**, test accuracy 0.8450 ± 0.0071 (mean ± std over 2 seeds)" in text


def test_the_pick_on_validation_ignores_one_direction_baselines():
    from utils.report import chosen_on_validation

    results = pd.DataFrame({"variant": ["concat", "forward only"], "seed": [0, 0],
                            "val_accuracy": [0.8, 0.9], "test_accuracy": [0.81, 0.91]})
    best, test = chosen_on_validation(results)
    assert best == "concat" and test.tolist() == [0.81]


def test_the_imdb_experiments_are_summed(results):
    pd.DataFrame({"notebook": ["00_a", "04_b", "05_c", "06_d", "07_e", "04_b_solutions"],
                  "seconds": [30.0, 300.0, 150.0, 90.0, 60.0, 60.0]}).to_csv(
        results / "run_times.csv", index=False)
    text = results_section(results)
    assert "The times of the IMDB experiments (04, 05, 06, 07) add up to 10.0 minutes." in text
    assert "5 notebooks and 1 solutions notebooks in 11.5 minutes" in text
    assert "(the lessons 10.5, the solutions 1.0;" in text


def test_pipes_in_names_do_not_break_the_table(results):
    frame = pd.DataFrame({"variant": ["forward | post"], "seed": [0], "test_accuracy": [0.5],
                          "params": [1], "seconds_per_epoch": [1.0]})
    frame.to_csv(results / "padding.csv", index=False)
    assert "| forward \\| post | 1 | 0.500 |" in results_section(results)


def test_update_then_check(results, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\n{BEGIN}\nold\n{END}\n\n## After\n")
    assert not readme_is_current(readme, results)
    assert update_readme(readme, results)
    assert readme_is_current(readme, results)
    text = readme.read_text()
    assert text.startswith("# Title") and text.endswith("## After\n") and "old" not in text
    assert not update_readme(readme, results)  # idempotent


def test_missing_markers_are_reported(results, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# no markers\n")
    with pytest.raises(ValueError, match="no results markers"):
        update_readme(readme, results)


def test_committed_readme_matches_committed_results():
    """`make report` was run after the last full run: the README says what results/ holds."""
    assert readme_is_current(ROOT / "README.md", ROOT / "results"), "run `make report`"


def test_other_metrics_and_the_fused_timing(results):
    pd.DataFrame({"variant": ["concat", "concat", "forward only", "forward only"],
                  "seed": [0, 1, 0, 1], "test_f1": [0.6, 0.7, 0.4, 0.5],
                  "test_accuracy": [0.9, 0.92, 0.8, 0.82]}).to_csv(results / "tagging.csv",
                                                                  index=False)
    pd.DataFrame({"clock": ["wall clock"], "fused_seconds": [2.0], "keras_seconds": [4.0],
                  "ratio": [2.0]}).to_csv(results / "fused_timing.csv", index=False)
    text = results_section(results)
    assert "| concat | 2 | 0.650 ± 0.071 | 0.910 ± 0.014 |" in text
    assert "| forward only | 2 | 0.450 ± 0.071 | 0.810 ± 0.014 |" in text
    assert "| wall clock | 2.00 | 4.00 | 2.000 |" in text
    assert "seconds per epoch (median)" in text


def test_the_machine_is_stated_next_to_the_results(results):
    pd.DataFrame([{"cpu": "Some CPU @ 2.0GHz", "cores": 2, "python": "3.11.7",
                   "tensorflow": "2.21.0", "keras": "3.15.1", "numpy": "2.4.6"}]).to_csv(
        results / "machine.csv", index=False)
    text = results_section(results)
    assert "Machine: Some CPU @ 2.0GHz, 2 cores; Python 3.11.7, TensorFlow 2.21.0" in text
    assert text.index("Machine:") < text.index("| concat |")


def test_the_pick_on_validation_ignores_the_bag_of_words_baseline():
    from utils.report import chosen_on_validation

    results = pd.DataFrame({"variant": ["concat", "bag of words"], "seed": [0, 0],
                            "val_accuracy": [0.8, 0.9], "test_accuracy": [0.81, 0.91]})
    best, test = chosen_on_validation(results)
    assert best == "concat" and test.tolist() == [0.81]


def test_the_wall_times_of_make_run_and_lab_run_are_reported(results):
    pd.DataFrame({"notebook": ["00_a", "08_fused_bidirectional_rnn", "05_c"],
                  "seconds": [60.0, 120.0, 180.0]}).to_csv(results / "run_times.csv", index=False)
    pd.DataFrame({"run": ["make lab-run", "make run"], "notebooks": [9, 3],
                  "at a time": [2, 2], "seconds": [150.0, 300.0]}).to_csv(
        results / "run_totals.csv", index=False)
    text = results_section(results)
    assert ("3 notebooks and 0 solutions notebooks in 5.0 minutes of wall time on a 2-core CPU: "
            "first 08_fused_bidirectional_rnn with nothing beside it (it measures speed: 2.0 "
            "minutes), then the other 2, two at a time (4.0 minutes of their own times") in text
    assert "(`results/run_times.csv`): 6.0 minutes together (the lessons 6.0" in text
    assert ("`make lab-run` (notebooks 00-08 at the small settings, two at a time) took 2.5 "
            "minutes of wall time") in text
