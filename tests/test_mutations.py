"""Quick mode can fail: each plausible bug, planted in a copy of `utils/`, makes some notebook's
quick run (the one `make test` runs) stop with an error.

One bug is not caught where one might expect it: with the backward half's gradient stopped, the
one-loss tagger of notebook 07's needs-both task still learns the task, since an untrained
backward RNN's states still carry the right neighbour's bit and the head (trained) reads it,
as the frozen encoders of setup (c) do. Notebook 01's check that one loss reaches both
directions' weights catches it.

The mutated copy is put first on the kernel's PYTHONPATH, ahead of the editable install, so the
notebook imports it instead of `utils/`; nothing in the repository changes.
"""

import shutil

import papermill as pm
import pytest

from utils import ROOT, colab
from utils.run_notebooks import execute, quick_parameters

#: (bug, file in utils/, text, replacement, notebooks whose quick runs must each fail)
MUTATIONS = [
    ("no flip-back of the backward outputs", "layers.py",
     "            backward = ops.flip(backward, axis=1)\n",
     "            pass  # the flip back, removed\n",
     ["01_bidirectional_by_hand", "03_handmade_vs_keras_bidirectional"]),
    ("a merge that drops the backward half: a tagger reading one direction only", "layers.py",
     "        return ops.concatenate([forward, backward], axis=-1)\n",
     "        return ops.concatenate([forward, forward], axis=-1)\n",
     ["01_bidirectional_by_hand", "03_handmade_vs_keras_bidirectional", "06_sentence_boundaries"]),
    ("a sign error in the backward direction's BPTT sweep", "reference.py",
     '        dh = da @ params["U_b"].T',
     '        dh = -da @ params["U_b"].T',
     ["02_backprop_through_time"]),
    ("a sign error in the fused layer's hand-written BPTT", "fused.py",
     "                g = tf.matmul(das[j], u_t)",
     "                g = -tf.matmul(das[j], u_t)",
     ["04_merge_modes_on_imdb"]),
    ("one loss, with the backward half's gradient stopped", "layers.py",
     "        # 5. Merge the two directions",
     "        backward = ops.stop_gradient(backward)\n        # 5. Merge the two directions",
     ["01_bidirectional_by_hand"]),  # (07's needs-both task still learns: see the note above)
]
CASES = [(bug, module, old, new, notebook)
         for bug, module, old, new, notebooks in MUTATIONS for notebook in notebooks]


@pytest.mark.notebook
@pytest.mark.parametrize("bug, module, old, new, notebook", CASES,
                         ids=[f"{c[0].split(':')[0]} -> {c[4][:2]}" for c in CASES])
def test_a_planted_bug_fails_a_quick_run(bug, module, old, new, notebook, tmp_path, monkeypatch):
    mutated = tmp_path / "mutated"
    shutil.copytree(ROOT / "utils", mutated / "utils",
                    ignore=shutil.ignore_patterns("__pycache__"))
    source = (mutated / "utils" / module).read_text()
    assert source.count(old) == 1, f"the text to mutate is not once in utils/{module}"
    (mutated / "utils" / module).write_text(source.replace(old, new))
    paths = mutated / "utils" / "paths.py"  # the copy reads the repository's data/, not its own
    paths.write_text(paths.read_text().replace("Path(__file__).resolve().parent.parent",
                                               f"Path({str(ROOT)!r})"))
    monkeypatch.setenv("PYTHONPATH", str(mutated))
    monkeypatch.setenv("BIRNN_RESULTS_DIR", str(tmp_path / "results"))
    monkeypatch.setenv("BIRNN_STRICT", "1")
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    path = ROOT / "notebooks" / f"{notebook}.ipynb"
    with pytest.raises(pm.PapermillExecutionError) as failure:
        execute(path, tmp_path / path.name, quick_parameters(path), timeout=600)
    # it failed on a check of the bug, not on an import or a typo of the copy
    assert failure.value.ename in ("AssertionError", "ExerciseCheckFailed"), (
        bug, failure.value.ename, failure.value.evalue)


@pytest.mark.notebook
def test_the_kernel_imports_the_mutated_copy(tmp_path, monkeypatch):
    """The control: a copy whose `utils/__init__.py` raises on import stops the notebook at its
    setup cell with that very error, so the tests above do run the mutated code."""
    mutated = tmp_path / "mutated" / "utils"
    mutated.mkdir(parents=True)
    (mutated / "__init__.py").write_text(  # (its first words: the Colab cell takes it as ours)
        f'"""{colab.MARKER}: a broken copy."""\nraise ImportError("the mutated copy is in use")\n')
    monkeypatch.setenv("PYTHONPATH", str(mutated.parent))
    monkeypatch.setenv("BIRNN_RESULTS_DIR", str(tmp_path / "results"))
    path = ROOT / "notebooks" / "02_backprop_through_time.ipynb"
    with pytest.raises(pm.PapermillExecutionError, match="the mutated copy is in use"):
        execute(path, tmp_path / path.name, quick_parameters(path), timeout=300)
