"""Per-step states of each direction, the head split by direction, and the padding grid."""

import keras
import numpy as np
import pandas as pd
import pytest

from utils import experiments, layers, maths, models, plots, probes
from utils.experiments import COLUMNS, load_results
from utils.models import sentiment_model

SMALL = dict(units=3, embed_dim=4, vocab_size=20, maxlen=8)
POST = np.array([[5, 6, 7, 8, 0, 0, 0, 0], [4, 9, 3, 2, 11, 12, 13, 14]], "int32")
PRE = np.array([[0, 0, 0, 0, 5, 6, 7, 8], [4, 9, 3, 2, 11, 12, 13, 14]], "int32")


@pytest.fixture(scope="module", params=[("handmade", "simple_rnn"), ("keras", "simple_rnn"),
                                        ("handmade", "gru"), ("fused", "simple_rnn")],
                ids="-".join)
def model(request):
    keras.utils.set_random_seed(0)
    wrapper, cell = request.param
    engine = dict(fused=True) if wrapper == "fused" else dict(wrapper=wrapper)
    model = sentiment_model("both", cell=cell, **engine, **SMALL)
    # Larger weights than the initializers give, so that states differ clearly.
    model.set_weights([w * 3 for w in model.get_weights()])
    return model


def test_word_positions():
    first, last = probes.word_positions(np.concatenate([POST, PRE]))
    np.testing.assert_array_equal(first, [0, 0, 4, 0])
    np.testing.assert_array_equal(last, [3, 7, 7, 7])


@pytest.mark.parametrize("ids", [POST, PRE], ids=["post", "pre"])
def test_step_states_end_where_the_final_states_are(model, ids):
    h_f, h_b = probes.step_states_model(model).predict(ids, verbose=0)
    final = models.final_states(model).predict(ids, verbose=0)
    first, last = probes.word_positions(ids)
    rows = np.arange(len(ids))
    # the forward state at the last word, the backward state at the first word
    np.testing.assert_allclose(h_f[rows, last], final[:, :3], atol=1e-6)
    np.testing.assert_allclose(h_b[rows, first], final[:, 3:], atol=1e-6)


def test_step_states_follow_the_model_weights():
    keras.utils.set_random_seed(1)
    model = sentiment_model("both", **SMALL)
    before = probes.step_states_model(model).predict(POST, verbose=0)[0]
    model.set_weights([w * 2 for w in model.get_weights()])
    steps = probes.step_states_model(model)  # reused, with the new weights
    after = steps.predict(POST, verbose=0)[0]
    assert steps is probes.step_states_model(model)
    assert np.abs(after - before).max() > 1e-3
    first, last = probes.word_positions(POST)
    final = models.final_states(model).predict(POST, verbose=0)
    np.testing.assert_allclose(after[[0, 1], last], final[:, :3], atol=1e-6)


def test_head_halves_rebuild_the_prediction(model):
    w_f, w_b, b = probes.head_halves(model)
    z_f, z_b = probes.final_contributions(model, POST)
    np.testing.assert_allclose(maths.sigmoid(z_f + z_b + b),
                               model.predict(POST, verbose=0)[:, 0], atol=1e-6)
    np.testing.assert_allclose(probes.model_predictions(model, PRE),
                               model.predict(PRE, verbose=0)[:, 0], atol=1e-6)
    assert w_f.shape == w_b.shape == (3,)


def test_direction_predictions_use_each_half(model):
    p_f, p_b = probes.direction_predictions(model, POST)
    assert p_f.shape == p_b.shape == POST.shape
    assert np.isnan(p_f[0, 4:]).all() and not np.isnan(p_f[0, :4]).any()
    # at the last word the forward half alone is sigmoid(z_f + b); at the first, backward's
    z_f, z_b = probes.final_contributions(model, POST)
    b = probes.head_halves(model)[2]
    np.testing.assert_allclose(p_f[[0, 1], [3, 7]], maths.sigmoid(z_f + b), atol=1e-6)
    np.testing.assert_allclose(p_b[:, 0], maths.sigmoid(z_b + b), atol=1e-6)
    # a stand-in for the absent direction's term: here its mean over the two reviews
    means = probes.mean_terms(model, POST)
    assert means == pytest.approx({"forward": z_f.mean(), "backward": z_b.mean()})
    p_f_mean, p_b_mean = probes.direction_predictions(model, POST, stand_in=means)
    np.testing.assert_allclose(p_f_mean[[0, 1], [3, 7]], maths.sigmoid(z_f + b + z_b.mean()),
                               atol=1e-6)
    np.testing.assert_allclose(p_b_mean[:, 0], maths.sigmoid(z_b + b + z_f.mean()), atol=1e-6)


def test_half_accuracies_of_the_full_head_match_the_model(model):
    y = np.array([1, 0])
    accuracies = probes.half_accuracies(model, POST, y)
    expected = float(((model.predict(POST, verbose=0)[:, 0] > 0.5) == y).mean())
    assert accuracies["both (the model)"] == expected
    z_f, z_b = probes.final_contributions(model, POST)
    b = probes.head_halves(model)[2]
    # a stand-in of +100 for the backward term makes the forward half say "positive" always
    shifted = probes.half_accuracies(model, POST, y, stand_in={"forward": 0, "backward": 100})
    assert shifted["forward half alone"] == 0.5
    assert shifted["backward half alone"] == float(((z_b + b > 0) == y).mean())
    assert probes.half_accuracies(model, None, y, terms=(z_f, z_b)) == accuracies


def test_reading_check_shows_what_each_state_has_read(model):
    table = probes.reading_check(model, POST[1], positions=[1, 4])
    assert list(table.index) == [2, 5]
    assert table["|h^f_t - forward on 1..t alone|"].max() < 1e-5
    assert table["|h^b_t - backward on t..T alone|"].max() < 1e-5
    assert table["h^f_t moves if later words change"].max() < 1e-6
    assert (table["h^b_t moves if later words change"] > 1e-4).all()


def test_non_bidirectional_models_are_refused():
    with pytest.raises(ValueError, match="0 bidirectional layers"):
        layers.bidirectional_layer(sentiment_model("forward", **SMALL))
    with pytest.raises(ValueError, match="concat"):
        probes.head_halves(sentiment_model("both", merge_mode="sum", **SMALL))


def test_accuracy_by_fraction_read():
    ids = np.array([[1, 2, 3, 4, 0], [0, 5, 6, 7, 8]])
    nan = np.nan
    # review 0 (label 1): the forward view turns positive at word 3; review 1 (label 0)
    p_f = np.array([[0.2, 0.3, 0.9, 0.9, nan], [nan, 0.8, 0.8, 0.2, 0.2]])
    p_b = np.array([[0.9, 0.9, 0.1, 0.1, nan], [nan, 0.4, 0.4, 0.4, 0.4]])
    table = probes.accuracy_by_fraction_read(p_f, p_b, ids, [1, 0], fractions=[0.25, 1.0])
    acc = table.set_index(["direction", "fraction read"]).accuracy
    assert acc[("forward", 0.25)] == 0.0 and acc[("forward", 1.0)] == 1.0
    assert acc[("backward", 0.25)] == 0.5 and acc[("backward", 1.0)] == 1.0


def test_late_turn_candidates_rank_the_late_turn_first():
    vocabulary = ["", "[UNK]", "good", "but", "the", "ending", "bad", "dull"]
    ids = np.array([[2, 2, 3, 4, 5, 6, 0, 0],   # turns late, with a phrase
                    [6, 7, 6, 7, 6, 0, 0, 0],   # negative all along
                    [2, 2, 2, 2, 2, 2, 2, 2]])  # positive review (label 1): never a candidate
    nan = np.nan
    p_f = np.array([[0.6, 0.7, 0.8, 0.8, 0.3, 0.1, nan, nan],
                    [0.3, 0.2, 0.2, 0.1, 0.1, nan, nan, nan],
                    [0.9] * 8])
    frame = probes.late_turn_candidates(
        ids, np.array([0, 0, 1]), p_f, p_model=np.array([0.2, 0.1, 0.9]),
        decode=lambda row: " ".join(vocabulary[i] for i in row if i), min_words=3)
    assert list(frame.review) == [0, 1]
    best = frame.iloc[0]
    assert best.phrase == "but the ending" and best["criteria met"] == 4 and best["has phrase"]
    assert best["turns at"] == pytest.approx(4 / 6) and best["late drop"] == pytest.approx(0.7)
    assert best["positive share"] == 1.0


def test_a_positive_value_at_two_thirds_is_not_a_positive_opening():
    """The forward view must be positive over most of the opening, not at one step."""
    ids = np.array([[2, 2, 2, 2, 2, 2, 0, 0]])
    p_f = np.array([[0.2, 0.3, 0.2, 0.6, 0.3, 0.1, np.nan, np.nan]])  # positive at 2/3 only
    frame = probes.late_turn_candidates(ids, np.array([0]), p_f, p_model=np.array([0.2]),
                                         decode=lambda row: "x", min_words=3)
    row = frame.iloc[0]
    assert row["forward at 2/3"] == pytest.approx(0.6) and row["positive share"] == 0.25
    assert not row["positive opening"] and row["criteria met"] == 3


def test_late_turn_pool():
    ids = np.zeros((4, 30), "int32")
    ids[0, :25] = 5   # negative, read whole, 25 words: in the pool
    ids[1, :30] = 5   # negative but no padding (may have been cut): out
    ids[2, -21:] = 5  # negative, pre-padded, 21 words: in
    ids[3, :25] = 5   # positive: out
    labels = np.array([0, 0, 0, 1])
    np.testing.assert_array_equal(probes.late_turn_pool(ids, labels, least=2), [0, 2])
    # too few qualify: every negative review
    np.testing.assert_array_equal(probes.late_turn_pool(ids, labels, least=3), [0, 1, 2])


def fake_run_grid(builders, data, seeds, epochs, batch_size=128, progress=True, **_):
    """Build (not train) each model, and return rows as run_grid would."""
    rows = []
    for name, build in builders.items():
        model = build()
        for seed in seeds:
            accuracy = 0.5 if "not masked" in name and data == "post" else 0.8
            rows.append({"variant": name, "seed": seed, "test_accuracy": accuracy,
                         "params": model.count_params(), "history": []})
    return pd.DataFrame(rows, columns=COLUMNS)


def test_padding_grid_builds_twelve_variants_and_saves_them(monkeypatch, tmp_path):
    monkeypatch.setattr(experiments, "run_grid", fake_run_grid)
    monkeypatch.setattr("utils.experiments.RESULTS_DIR", tmp_path)
    results, models = experiments.run_padding_grid({"post": "post", "pre": "pre"}, seeds=[0],
                                               epochs=1, **SMALL)
    assert len(results) == len(models) == 12
    assert all(len(built) == 1 for built in models.values())  # one model per seed
    assert set(results.direction) == {"forward only", "backward only", "bidirectional"}
    assert set(results["mask"]) == {"masked", "not masked"}
    both = models["bidirectional | pre | not masked"][0]
    assert not both.get_layer("embedding").mask_zero
    assert models["backward only | post | masked"][0].layers[1].go_backwards
    saved = load_results("padding", folder=tmp_path)
    assert len(saved) == 12 and "padding" in saved.columns

    table = experiments.padding_table(results)
    assert table.shape == (3, 4) and list(table.index)[0] == "forward only"
    costs = experiments.padding_costs(results)
    assert costs.shape == (1, 6)
    assert costs.loc[0, "forward only, post"] == pytest.approx(0.3)
    assert costs.loc[0, "forward only, pre"] == 0.0
    fig = plots.plot_padding_grid(results)
    assert len(fig.axes) == 2


def test_padding_grid_can_train_the_masked_models_on_one_side(monkeypatch, tmp_path):
    monkeypatch.setattr(experiments, "run_grid", fake_run_grid)
    monkeypatch.setattr("utils.experiments.RESULTS_DIR", tmp_path)
    results, models = experiments.run_padding_grid({"post": "post", "pre": "pre"}, seeds=[0],
                                               epochs=1, name=None, masked_sides=("post",),
                                               **SMALL)
    assert len(results) == 9 and not any(" | pre | masked" in name for name in models)
    costs = experiments.padding_costs(results)
    # the masked post model is the reference for the pre side: 0.8 - 0.8 (fake accuracies)
    assert costs.loc[0, "forward only, pre"] == 0.0
    assert costs.loc[0, "forward only, post"] == pytest.approx(0.3)
    assert experiments.padding_table(results).shape == (3, 3)


def test_padding_grid_keeps_one_model_per_seed(monkeypatch, tmp_path):
    monkeypatch.setattr(experiments, "run_grid", fake_run_grid)
    monkeypatch.setattr("utils.experiments.RESULTS_DIR", tmp_path)
    results, models = experiments.run_padding_grid({"post": "post", "pre": "pre"}, seeds=[0, 1],
                                               epochs=1, name=None, **SMALL)
    # fake_run_grid builds each model once; run_grid builds one per seed, in seed order
    assert len(results) == 24 and all(len(built) == 1 for built in models.values())
    assert experiments.padding_costs(results).index.tolist() == [0, 1]


def test_half_accuracy_history_records_every_epoch():
    keras.utils.set_random_seed(0)
    model = sentiment_model("both", **SMALL)
    model.compile("adam", "binary_crossentropy")
    x = np.tile(POST, (8, 1))
    y = np.tile([0, 1], 8)
    history = probes.HalfAccuracyHistory(x, y)
    model.fit(x, y, epochs=2, verbose=0, callbacks=[history])
    assert [row["epoch"] for row in history.rows] == [1, 2]
    expected = probes.half_accuracies(model, x, y, stand_in=probes.mean_terms(model, x))
    assert history.rows[-1] == {"epoch": 2, **expected}


@pytest.mark.parametrize("direction", ["forward", "backward", "both"])
def test_a_masked_model_ignores_the_padding_side(direction):
    keras.utils.set_random_seed(2)
    masked = sentiment_model(direction, **SMALL)
    masked.set_weights([w * 3 for w in masked.get_weights()])
    assert experiments.padding_side_gap(masked, POST, PRE) < 1e-6
    unmasked = sentiment_model(direction, mask=False, **SMALL)
    unmasked.set_weights(masked.get_weights())
    assert experiments.padding_side_gap(unmasked, POST, PRE) > 1e-4
