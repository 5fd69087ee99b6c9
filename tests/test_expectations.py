"""Measured outcomes are recorded and printed, never fatal to a student's run, and fatal in
strict mode (the committed full run and the tests)."""

import pandas as pd
import pytest

from utils.expectations import ExpectationNotMet, MeasuredOutcomes, summary


@pytest.fixture(autouse=True)
def default_settings(monkeypatch):
    """No preset exported in the shell that runs the tests: each test sets its own."""
    monkeypatch.delenv("BIRNN_SETTINGS", raising=False)


def test_an_unmet_outcome_is_recorded_and_does_not_stop_a_students_run(tmp_path, monkeypatch,
                                                                       capsys):
    monkeypatch.delenv("BIRNN_STRICT", raising=False)
    file = tmp_path / "expectations.csv"
    outcomes = MeasuredOutcomes("04_x", file=file)
    assert outcomes.expect("one loss beats the plan", 0.97, ">= 0.9", met=True) is None
    outcomes.expect("fused faster than Keras", 0.93, "> 1", met=False)  # printed, not raised
    printed = capsys.readouterr().out
    assert "expected and met: one loss beats the plan" in printed
    assert "EXPECTED, NOT MET: fused faster than Keras: expected > 1, this run 0.93" in printed
    rows = pd.read_csv(file)
    assert list(rows.met) == [True, False] and list(rows.settings) == ["default", "default"]
    assert summary(file) == (1, 2, ["04_x: fused faster than Keras"])


def test_strict_mode_fails_on_an_unmet_outcome_only(tmp_path, monkeypatch):
    monkeypatch.setenv("BIRNN_STRICT", "1")
    outcomes = MeasuredOutcomes("07_x", file=tmp_path / "e.csv")
    outcomes.expect("met", 1.0, ">= 0.9", met=True)
    with pytest.raises(ExpectationNotMet, match="07_x: unmet: expected > 1, observed 0.5"):
        outcomes.expect("unmet", 0.5, "> 1", met=False)
    assert len(pd.read_csv(tmp_path / "e.csv")) == 2  # recorded before it raised
    quick = MeasuredOutcomes("07_x", quick=True, file=tmp_path / "e.csv")
    quick.expect("unmet at quick size", 0.5, "> 1", met=False)  # recorded, not fatal
    monkeypatch.setenv("BIRNN_SETTINGS", "laptop")  # a runner's preset: not the defaults
    laptop = MeasuredOutcomes("07_x", file=tmp_path / "e.csv")
    laptop.expect("unmet on a laptop", 0.5, "> 1", met=False)  # recorded, not fatal
    rows = pd.read_csv(tmp_path / "e.csv").set_index("claim")
    assert rows.loc["unmet on a laptop", "settings"] == "laptop"
    assert summary(tmp_path / "e.csv") == (1, 2, ["07_x: unmet"])  # default settings only


def test_a_new_run_replaces_the_notebooks_rows_at_the_same_settings(tmp_path, monkeypatch):
    monkeypatch.delenv("BIRNN_STRICT", raising=False)
    file = tmp_path / "e.csv"
    MeasuredOutcomes("05_x", file=file).expect("a claim since removed", 1, "1", met=True)
    MeasuredOutcomes("05_x", quick=True, file=file).expect("quick claim", 1, "1", met=True)
    MeasuredOutcomes("06_x", file=file).expect("other notebook", 1, "1", met=False)
    again = MeasuredOutcomes("05_x", file=file)
    again.expect("the claim now", 2, "2", met=True)
    again.expect("the claim now", 3, "3", met=True)  # the same claim twice: the last one stays
    rows = pd.read_csv(file)
    assert sorted(rows.claim) == ["other notebook", "quick claim", "the claim now"]
    assert rows.set_index("claim").loc["the claim now", "observed"] == 3
    assert summary(file) == (1, 2, ["06_x: other notebook"])
    assert summary(file, settings="quick") == (1, 1, [])


def test_tests_readme_lists_every_expectation_of_the_committed_run():
    from utils import ROOT
    from utils.expectations import expectations_list

    committed = ROOT / "results" / "expectations.csv"
    assert committed.exists(), "run `make run-strict`: the committed run records its expectations"
    table = expectations_list(committed)
    assert table in (ROOT / "tests" / "README.md").read_text(), "run `make report`"
    assert "| NO |" not in table, "the committed strict run met every expectation"


def test_two_notebooks_recording_at_once_lose_no_row(tmp_path):
    """`make run` runs two notebooks at a time: each kernel reads, changes and writes the same
    file; the lock makes them take turns, so every row of both is kept, grouped by notebook."""
    import subprocess
    import sys
    import time

    file = tmp_path / "expectations.csv"
    record = ("import sys, time; from pathlib import Path; from utils.expectations import "
              "MeasuredOutcomes; o = MeasuredOutcomes(sys.argv[1], file=Path(sys.argv[2]))\n"
              "time.sleep(max(0, float(sys.argv[3]) - time.time()))  # both start together\n"
              "for i in range(100): o.expect(f'claim {i}', i, '>= 0', met=True)")
    start = str(time.time() + 15)  # after both have imported TensorFlow
    runs = [subprocess.Popen([sys.executable, "-c", record, name, str(file), start],
                             stdout=subprocess.DEVNULL) for name in ("05_x", "06_x")]
    assert [run.wait(timeout=300) for run in runs] == [0, 0]
    rows = pd.read_csv(file)
    assert len(rows) == 200 and rows.notebook.is_monotonic_increasing
    assert rows.groupby("notebook").claim.apply(list).tolist() == [
        [f"claim {i}" for i in range(100)]] * 2
