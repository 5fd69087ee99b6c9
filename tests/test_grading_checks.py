"""The checks the assignment's hidden tests call (utils/grading.py), on small models built here:
which side of a step each half of the plan reads, whether a model holds a bidirectional
SimpleRNN, and which cells of a submission a teacher should read. Fast: no notebook runs."""

import json

import keras
import pytest
from keras import ops

from utils.grading import cells_to_read, has_bidirectional_simple_rnn, side_dependence

T = 5


def tagger(rnn, flip_back=False):
    """A needs-both tagger on one recurrent layer: the assignment's head shape, untrained."""
    x = keras.Input((T + 2, 1))
    h = rnn(x)
    if flip_back:
        h = ops.flip(h, axis=1)
    h = keras.layers.Cropping1D((1, 1))(h)
    return keras.Model(x, keras.layers.Dense(1, activation="sigmoid")(h))


@pytest.fixture(autouse=True)
def seeded():
    keras.utils.set_random_seed(0)


def test_each_direction_reads_its_own_side_only():
    forward = side_dependence(tagger(keras.layers.SimpleRNN(4, return_sequences=True)))
    assert forward["right"] == 0 and forward["left"] > 1e-6
    backward = side_dependence(tagger(
        keras.layers.SimpleRNN(4, return_sequences=True, go_backwards=True), flip_back=True))
    assert backward["left"] == 0 and backward["right"] > 1e-6


def test_a_backward_half_not_flipped_back_reads_its_left():
    """The plan's mistake the hidden test must catch: go_backwards without the flip-back."""
    unflipped = side_dependence(tagger(
        keras.layers.SimpleRNN(4, return_sequences=True, go_backwards=True)))
    assert unflipped["left"] > 1e-6


def test_a_bidirectional_layer_reads_both_sides_and_is_found():
    model = tagger(keras.layers.Bidirectional(keras.layers.SimpleRNN(4, return_sequences=True)))
    assert min(side_dependence(model).values()) > 1e-6
    assert has_bidirectional_simple_rnn(model)
    assert has_bidirectional_simple_rnn(keras.Sequential([keras.Input((T + 2, 1)), model]))
    one_way = tagger(keras.layers.SimpleRNN(4, return_sequences=True))
    assert not has_bidirectional_simple_rnn(one_way)
    assert not has_bidirectional_simple_rnn(
        tagger(keras.layers.Bidirectional(keras.layers.GRU(4, return_sequences=True))))


def test_cells_that_name_grading_are_pointed_out(tmp_path):
    cells = ["import numpy as np", "import utils.grading as g\ng.fresh_accuracy = lambda *a: 1.0",
             "def test_q1(f):\n    from utils.grading import bidirectional_error", "x = 1"]
    path = tmp_path / "submission.ipynb"
    path.write_text(json.dumps({"cells": [{"cell_type": "markdown", "source": ["grading"]}] + [
        {"cell_type": "code", "source": source} for source in cells]}))
    assert cells_to_read(path) == [2]


def test_failures_are_read_from_otters_report():
    from utils.grading import failures

    report = ("q3 results:\n    q3 - 1 result:\n        ✅ Test case passed\n\n    q3 - 2 result:\n"
              "        ❌ Test case failed\n        Error at line 19 in test q3:\n"
              "              assert ok, 'no Bidirectional(SimpleRNN) in it'\n"
              "        AssertionError: no Bidirectional(SimpleRNN) in it\n"
              "    q3 - 3 result:\n        AssertionError: no Bidirectional(SimpleRNN) in it\n"
              "        ValueError: shapes differ\n")
    assert failures(report) == ["AssertionError: no Bidirectional(SimpleRNN) in it",
                                "ValueError: shapes differ"]
    assert failures("q1 results: All test cases passed!") == []
