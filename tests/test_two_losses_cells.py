"""Notebook 07's `cell` parameter reaches every recurrent layer of the IMDB setups it builds
(its `members`, through `sizes`) and of the needs-both taggers; SimpleRNN is the default."""

import keras
import pytest
from test_two_losses import notebook_setups

from utils.layers import bidirectional_layer
from utils.models import CELLS
from utils.two_losses import one_direction, one_loss_tagger


def recurrent_layers(models):
    """Every recurrent layer of the setups: (a)'s two directions, (a')'s two
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
def test_the_imdb_setups_are_built_with_the_cell(cell):
    """The members `run_two_losses` trains, from notebook 07's own cells (it trains the models
    these builders return: test_two_losses checks that on a tiny task)."""
    chosen = {} if cell is None else {"cell": cell}
    members, _ = notebook_setups(units=2, embed_dim=3, vocab_size=10, maxlen=6, **chosen)
    models = {name: build() for name, build in members.items()}
    layers = recurrent_layers(models)
    assert len(layers) == 6
    expected = CELLS[cell or "simple_rnn"]  # no cell given: SimpleRNN, as before
    assert all(type(layer) is expected for layer in layers), [type(x) for x in layers]
    assert [layer.go_backwards for layer in layers] == [False, True, False, True, False, True]
    # The parameter counts follow the cell: a GRU direction holds 3 blocks, an LSTM 4.
    gates = {CELLS["simple_rnn"]: 1, CELLS["gru"]: 3, CELLS["lstm"]: 4}[expected]
    kernel = models["forward"].layers[1].cell.kernel
    assert tuple(kernel.shape) == (3, gates * 2)


@pytest.mark.parametrize("cell", [None, "gru", "lstm"])
def test_the_needs_both_taggers_are_built_with_the_cell(cell):
    chosen = {} if cell is None else {"cell": cell}
    sizes = dict(length=5, units=2, hidden=3, **chosen)
    a = one_loss_tagger(**sizes)
    halves = [one_direction(backwards, **sizes) for backwards in (False, True)]
    bi = bidirectional_layer(a)
    layers = [bi.forward_layer, bi.backward_layer] + [m.layers[1] for m in halves]
    assert all(type(layer) is CELLS[cell or "simple_rnn"] for layer in layers)
    assert [layer.go_backwards for layer in layers] == [False, True, False, True]
    assert all(m.output_shape == (None, 5, 1) for m in [a, *halves])
