"""`run_two_losses(cell=...)`: the recurrent cell reaches every model of the four setups
(notebook 07's `cell` parameter), and the default stays the collection's SimpleRNN."""

from types import SimpleNamespace

import keras
import numpy as np
import pytest

import utils.experiments as experiments
from utils.layers import bidirectional_layer
from utils.models import CELLS
from utils.two_losses import run_two_losses


@pytest.fixture(scope="module")
def tiny():
    """Sequences of 6 tokens (1..9, some post-padded); the label says whether token 3 occurs."""
    rng = np.random.default_rng(1)

    def split(n):
        x = rng.integers(1, 10, size=(n, 6)).astype("int32")
        x[: n // 4, 4:] = 0
        return x, np.any(x == 3, axis=1).astype("int32")

    (xt, yt), (xv, yv), (xs, ys) = split(32), split(16), split(16)
    return SimpleNamespace(x_train=xt, y_train=yt, x_val=xv, y_val=yv, x_test=xs, y_test=ys)


def recurrent_layers(models):
    """Every recurrent layer of the trained setups: (a)'s two directions, (a')'s two
    encoders, (b)'s two models; (c) and the combined model reuse (b)'s layers."""
    bi = bidirectional_layer(models["one_loss"])
    found = [bi.forward_layer, bi.backward_layer]
    for key in ("forward", "backward"):
        found.append(models[key].layers[1])
    for encoder in (layer for layer in models["two_embeddings"].layers
                    if isinstance(layer, keras.Model)):
        found += [layer for layer in encoder.layers if isinstance(layer, keras.layers.RNN)]
    return found


@pytest.mark.parametrize("cell", [None, "gru", "lstm"])
def test_run_two_losses_builds_every_rnn_with_the_cell(tiny, cell, monkeypatch, tmp_path):
    monkeypatch.setattr(experiments, "RESULTS_DIR", tmp_path)
    chosen = {} if cell is None else {"cell": cell}
    results, models = run_two_losses(tiny, seeds=[0], epochs=1, batch_size=16, units=2,
                                     embed_dim=3, progress=False, **chosen)
    layers = recurrent_layers(models[0])
    assert len(layers) == 6
    expected = CELLS[cell or "simple_rnn"]  # no cell given: SimpleRNN, as before
    assert all(type(layer) is expected for layer in layers), [type(x) for x in layers]
    assert [layer.go_backwards for layer in layers] == [False, True, False, True, False, True]
    # The parameter counts follow the cell: a GRU direction holds 3 blocks, an LSTM 4.
    gates = {CELLS["simple_rnn"]: 1, CELLS["gru"]: 3, CELLS["lstm"]: 4}[expected]
    kernel = models[0]["forward"].layers[1].cell.kernel
    assert tuple(kernel.shape) == (3, gates * 2)
    assert results.test_accuracy.between(0, 1).all()
