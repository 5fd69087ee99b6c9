"""The auto-graded assignment: build it with otter-grader, grade a submission, and the checks its
tests call.

    make assignment                                # python utils/grading.py assign
    make grade SUBMISSION=path/to/notebook.ipynb   # python utils/grading.py grade PATH

`assign` runs `otter assign` on the master notebook `notebooks/assignments/birnn_assignment.ipynb`
and writes, into `dist/assignment/` (git-ignored), `student/` (the release: no solutions, public
tests only) and `autograder/` (the autograder zip, hidden tests included). `grade` runs
`otter run` on one submission with that zip, in this environment (no Docker), prints the score of
each question and, last, `score: X / Y`. The written question (q4) is graded by hand: it is not
in X / Y.

The checks below are what the notebook's tests call: how a submission is compared with Keras,
with finite differences and with fresh data. The configurations they are called with (merge
modes, masks, sizes, seeds) are written in the hidden tests, not here.

Run as a script (`python utils/grading.py`), the module imports nothing of `utils` at the top, so
TensorFlow is only imported where the notebook runs (the `utils` package imports it at once);
`python -m utils.grading` works too, a few seconds slower.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # as utils.paths.ROOT, without importing utils
# Run as a script, utils/ is first on sys.path: its modules (data, report, ...) must not shadow
# others of the same name.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "utils"]

MASTER = ROOT / "notebooks" / "assignments" / "birnn_assignment.ipynb"
OUTPUT = ROOT / "dist" / "assignment"


# ---------------------------------------------------------------------------------------
# Checks called by the notebook's tests
# ---------------------------------------------------------------------------------------


def bidirectional_error(bidirectional, merge_mode="concat", return_sequences=True, lengths=None,
                        pre_padding=False, units=4, length=6, features=3, seed=0) -> float:
    """Largest |difference| between `bidirectional(forward_rnn, backward_rnn, x, mask,
    merge_mode)` and `keras.layers.Bidirectional(SimpleRNN)` with the same weights.

    `x` has `len(lengths)` sequences (two without `lengths`) of `length` steps. With `lengths`,
    sequence i has `lengths[i]` real steps, the others are masked: at the end, or at the start
    with `pre_padding`. The two SimpleRNNs handed to `bidirectional` are set up as
    `Bidirectional` sets up its own (outputs at masked steps are zeros with sequences)."""
    import keras
    import numpy as np

    rng = np.random.default_rng(seed)
    batch = len(lengths) if lengths is not None else 2
    x = rng.standard_normal((batch, length, features)).astype("float32")
    mask = None
    if lengths is not None:
        steps = np.arange(length)[None, :]
        real = np.asarray(lengths)[:, None]
        mask = steps >= length - real if pre_padding else steps < real
    keras.utils.set_random_seed(seed)
    reference = keras.layers.Bidirectional(
        keras.layers.SimpleRNN(units, return_sequences=return_sequences), merge_mode=merge_mode)
    expected = keras.ops.convert_to_numpy(reference(x, mask=mask))
    rnns = []
    for part, backwards in ((reference.forward_layer, False), (reference.backward_layer, True)):
        rnn = keras.layers.SimpleRNN(units, return_sequences=return_sequences,
                                     go_backwards=backwards)
        rnn.zero_output_for_mask = return_sequences
        rnn.build(x.shape)
        rnn.set_weights(part.get_weights())
        rnns.append(rnn)
    got = bidirectional(*rnns, x, mask=mask, merge_mode=merge_mode)
    if got is None:
        raise AssertionError("bidirectional(...) returned None: return the merged outputs.")
    got = keras.ops.convert_to_numpy(got)
    if got.shape != expected.shape:
        raise AssertionError(f"merge_mode={merge_mode!r}, return_sequences={return_sequences}: "
                             f"shape {got.shape}, expected {expected.shape}")
    return float(np.max(np.abs(got - expected)))


def sweep_error(backward_sweep, N=3, T=4, D=2, H=3, merge="concat", seed=0) -> float:
    """Largest relative error of `backward_sweep(x, h_b, dlast_b, U_b)`'s three gradients
    (dL/dW_b, dL/dU_b, dL/db_b) against central finite differences of the one loss
    (`utils.reference.numerical_gradient`), on a random bidirectional classifier."""
    import numpy as np

    from utils.reference import forward, init_params, numerical_gradient

    rng = np.random.default_rng(seed)
    params = init_params(D, H, merge=merge, seed=seed)
    x = rng.standard_normal((N, T, D))
    y = rng.integers(0, 2, N).astype("float64")
    p, cache = forward(params, x, merge)
    dm = ((p - y) / N)[:, None] @ params["w_y"].T  # dL/dm, the merged summary's gradient
    dlast_b = {"concat": dm[:, H:], "sum": dm, "ave": dm / 2}[merge]  # dL/dh^b_1
    got = backward_sweep(x, cache["h_b"], dlast_b, params["U_b"])
    if got is None or len(got) != 3:
        raise AssertionError("backward_sweep(...) must return (dW_b, dU_b, db_b).")
    numerical = numerical_gradient(params, x, y, merge)
    errors = []
    for name, grad in zip(("W_b", "U_b", "b_b"), got, strict=True):
        grad, reference = np.asarray(grad, dtype="float64"), numerical[name]
        if grad.shape != reference.shape:
            raise AssertionError(f"d{name} has shape {grad.shape}, expected {reference.shape}")
        errors.append(np.max(np.abs(grad - reference)) / max(np.max(np.abs(reference)), 1e-12))
    return float(max(errors))


def fresh_accuracy(model, seed: int, n: int = 500) -> float:
    """Per-step accuracy of a needs-both tagger on `n` new sequences (`neighbour_xor_data` with
    `seed`), of the length the model was built for."""
    import numpy as np

    from utils.tasks import neighbour_xor_data

    length = model.input_shape[1] - 2
    data = neighbour_xor_data(length=length, n_train=1, n_val=1, n_test=n, seed=seed)
    p = model.predict(data.x_test, batch_size=500, verbose=0)
    return float(np.mean((p > 0.5) == data.y_test))


def side_dependence(model, n: int = 64, seed: int = 0) -> dict:
    """How far each labelled step's output reaches to its left and to its right: the largest
    |d p_t / d x_s| over `n` random bit sequences, for the inputs s before the step's own
    position t ("left") and after it ("right"). A forward RNN's outputs cannot move with their
    right (exactly 0), a backward RNN's, put back in reading order, with their left; a tagger
    that reads both sides moves with both. `model`: a needs-both tagger, input (T + 2, 1),
    output (T, 1), output j for position t = j + 1."""
    import numpy as np
    import tensorflow as tf

    length = model.input_shape[1] - 2
    x = tf.constant(np.random.default_rng(seed).integers(0, 2, (n, length + 2, 1)), tf.float32)
    with tf.GradientTape(persistent=True) as tape:  # one forward pass, a gradient per step
        tape.watch(x)
        p = model(x)
        steps = [tf.reduce_sum(p[:, j]) for j in range(length)]  # a sequence reads only its own
    reach = np.stack([np.abs(tape.gradient(s, x).numpy()[..., 0]).max(axis=0) for s in steps])
    # reach[j, s]: output j (position j + 1) against input s; left: s <= j, right: s >= j + 2
    return {"left": float(np.tril(reach).max()), "right": float(np.triu(reach, 2).max())}


def has_bidirectional_simple_rnn(model) -> bool:
    """Whether `model` (or a model inside it) holds `keras.layers.Bidirectional(SimpleRNN)`."""
    import keras

    for layer in getattr(model, "layers", []):
        if isinstance(layer, keras.layers.Bidirectional):
            if isinstance(layer.forward_layer, keras.layers.SimpleRNN):
                return True
        elif has_bidirectional_simple_rnn(layer):
            return True
    return False


def cells_to_read(submission) -> list[int]:
    """The code cells (numbered from 1) of a submission that name `grading`: the hidden tests
    call `utils.grading` in the submission's own Python process, so such a cell can replace
    their checks. Otter cannot prevent that (nor can Docker); `grade` names these cells, for
    the teacher to read. The master's own test cells (`def test_...`) are left out."""
    cells = json.loads(Path(submission).read_text(encoding="utf-8"))["cells"]
    code = [("".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"])
            for cell in cells if cell["cell_type"] == "code"]
    return [i for i, source in enumerate(code, start=1)
            if "grading" in source and not source.lstrip().startswith(("def test_", "# HIDDEN"))]


# ---------------------------------------------------------------------------------------
# make assignment, make grade
# ---------------------------------------------------------------------------------------


def _otter(*args: str, quiet: bool = True) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "otter", *args]
    result = subprocess.run(command, capture_output=quiet, text=True)
    if result.returncode != 0:
        if quiet:
            print(result.stdout[-4000:], result.stderr[-4000:], sep="\n", file=sys.stderr)
        raise SystemExit(f"otter {args[0]} failed (exit code {result.returncode}).")
    return result


def assign(master: Path = MASTER, output: Path = OUTPUT) -> Path:
    """`otter assign` the master into `output` (emptied first): `student/` and `autograder/`."""
    master, output = Path(master).resolve(), Path(output).resolve()
    if output.exists():
        shutil.rmtree(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    _otter("assign", "--no-pdfs", str(master), str(output))
    print(f"student release: {output / 'student'}")
    print(f"autograder:      {autograder_zip(output)}")
    return output


def autograder_zip(output: Path = OUTPUT) -> Path:
    """The autograder zip that `assign` wrote into `output/autograder/`."""
    zips = sorted((Path(output) / "autograder").glob("*.zip"))
    if not zips:
        raise FileNotFoundError(f"no autograder zip in {Path(output) / 'autograder'}: run "
                                "`make assignment` first.")
    return zips[-1]


def check_submission(submission) -> Path:
    """The submission's path, or SystemExit with the fix if it is missing or unreadable."""
    usage = "Usage: make grade SUBMISSION=path/to/notebook.ipynb"
    if not submission:
        raise SystemExit(f"No submission given. {usage}")
    path = Path(submission).expanduser()
    if not path.is_file():
        raise SystemExit(f"SUBMISSION={submission}: no such file. {usage} (e.g. "
                         f"{OUTPUT.relative_to(ROOT)}/student/birnn_assignment.ipynb after "
                         "`make assignment`).")
    try:
        json.loads(path.read_text(encoding="utf-8"))["cells"]
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as error:
        raise SystemExit(f"SUBMISSION={submission} is not a readable Jupyter notebook "
                         f"({type(error).__name__}: {error}). Save it from Jupyter as .ipynb "
                         f"and pass that file. {usage}") from None
    return path.resolve()


def failures(output: str, most: int = 3) -> list[str]:
    """The error lines (`AssertionError: ...`) of a question's failed tests in otter's report,
    each once, at most `most`: what a teacher passes on to the student."""
    found = re.findall(r"^\s*(\w+(?:Error|Exception): .*)$", output, flags=re.MULTILINE)
    return list(dict.fromkeys(line.strip() for line in found))[:most]


def grade(submission, output: Path = OUTPUT) -> tuple[float, float]:
    """Grade one notebook with `otter run` (no Docker); print each question's score (under a
    question that lost points, its failed tests' errors), then `score: X / Y` last. Returns
    (X, Y)."""
    path = check_submission(submission)
    output = Path(output)
    try:
        zip_path = autograder_zip(output)
    except FileNotFoundError:
        print(f"No autograder in {output}: building it first (make assignment).")
        assign(output=output)
        zip_path = autograder_zip(output)
    with tempfile.TemporaryDirectory(prefix="birnn-grade-") as results_dir:
        _otter("run", "--no-logo", "-a", str(zip_path), "-o", results_dir, str(path))
        results = json.loads((Path(results_dir) / "results.json").read_text())
    # One entry per question with its score; "Public Tests" (no score) only says they ran.
    tests = [test for test in results["tests"] if "max_score" in test]
    for test in tests:
        print(f"{test['name']}: {test['score']:g} / {test['max_score']:g}")
        for reason in failures(test.get("output", "")):  # what the student gets wrong
            print(f"    {reason}")
    score = sum(test["score"] for test in tests)
    possible = sum(test["max_score"] for test in tests)
    suspect = cells_to_read(path)
    if suspect:
        print(f"read by hand: code cell(s) {', '.join(map(str, suspect))} of the submission name "
              "`grading`, whose checks the hidden tests call; such a cell can replace them.")
    print("q4 (written answer) is graded by hand: not in the score below.")
    print(f"score: {score:g} / {possible:g}")
    return score, possible


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python utils/grading.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("assign", help="write the student release and the autograder")
    build.add_argument("--out", type=Path, default=OUTPUT)
    run = commands.add_parser("grade", help="grade one notebook; last line: score: X / Y")
    run.add_argument("submission", nargs="?", default="")
    run.add_argument("--out", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    if args.command == "assign":
        assign(output=args.out)
    else:
        grade(args.submission, output=args.out)


if __name__ == "__main__":
    main()
