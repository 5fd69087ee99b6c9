"""Tokenization, labels and alignment of the sentence-boundary task (notebook 06)."""

import numpy as np
import pandas as pd
import pytest

from utils.maths import best_threshold, f1_score
from utils.tasks import (
    encode,
    gap_table,
    load_tagging,
    recall_by_kind,
    split_by_movie,
    split_sentences,
    tag_words,
)

TEXT = "I loved it... Really?! The cast (Mr. Smith) was 7.5/10 good.<br /><br />See it"


def test_sentences_split_at_runs_of_marks_not_at_decimals_or_mr():
    assert split_sentences(TEXT) == [
        ["i", "loved", "it"], ["really"],
        ["the", "cast", "mr", "smith", "was", "7", "5", "10", "good"], ["see", "it"],
    ]
    assert split_sentences("Wow!!! ... Bad.") == [["wow"], ["bad"]]  # empty sentence dropped
    assert split_sentences("it's   ok") == [["it's", "ok"]]


def test_end_start_and_edge_labels_line_up_with_the_words():
    words, end = tag_words(TEXT, "end")
    assert words[:4] == ["i", "loved", "it", "really"] and len(end) == len(words) == 15
    # Ends after "it", "really", "good"; NOT after the last word (no word follows it).
    assert [words[i] for i in np.flatnonzero(end)] == ["it", "really", "good"]
    _, start = tag_words(TEXT, "start")
    assert [words[i] for i in np.flatnonzero(start)] == ["really", "the", "see"]  # not "i"
    _, edge = tag_words(TEXT, "edge")
    np.testing.assert_array_equal(edge, end | start)


def test_labels_after_truncation_depend_on_kept_words_only():
    words, end = tag_words(TEXT, "end", maxlen=3)
    assert words == ["i", "loved", "it"]
    assert end.tolist() == [0, 0, 0]  # "it" ends a sentence, but nothing kept follows it
    words, edge = tag_words(TEXT, "edge", maxlen=4)
    assert edge.tolist() == [0, 0, 1, 1]


def test_bad_arguments_name_the_parameter():
    with pytest.raises(ValueError, match="target"):
        tag_words(TEXT, "middle")
    with pytest.raises(ValueError, match="maxlen"):
        tag_words(TEXT, "end", maxlen=0)
    with pytest.raises(TypeError, match="decode"):
        split_sentences(b"bytes")
    with pytest.raises(ValueError, match="n_train"):
        load_tagging(n_train=0)


def test_encode_pads_after_the_words_and_maps_unknown_words_to_1():
    x, y = encode([(["a", "zz", "b"], np.array([0, 1, 0]))], ["", "[UNK]", "a", "b"], maxlen=5)
    assert x.tolist() == [[2, 1, 3, 0, 0]]
    assert y.tolist() == [[0, 1, 0, 0, 0]]


def test_split_by_movie_keeps_every_movie_on_one_side():
    movies = np.repeat([f"m{i}" for i in range(50)], 4)
    train, val = split_by_movie(movies, n_train=100, n_val=40, rng=np.random.default_rng(0))
    assert len(train) == 100 and len(val) == 40
    assert not set(movies[train]) & set(movies[val])
    with pytest.raises(ValueError, match="n_train"):
        split_by_movie(movies, n_train=190, n_val=40, rng=np.random.default_rng(0))


def test_f1_ignores_padding_and_threshold_search_finds_the_best():
    labels = np.array([[1, 0, 1, 0, 1]])
    probs = np.array([[0.9, 0.2, 0.4, 0.1, 0.8]])
    mask = np.array([[1, 1, 1, 1, 0]])  # last step is padding: its label does not count
    assert f1_score(labels, probs, mask, 0.5) == pytest.approx(2 / 3)  # TP 1, FN 1
    assert f1_score(labels, probs, mask, 0.3) == pytest.approx(1.0)
    assert best_threshold(labels, probs, mask)[1] == pytest.approx(1.0)


def test_recall_by_kind_separates_ends_from_starts():
    class Data:
        test_ends = np.array([[0, 1, 0, 0]])  # sentence ends after word 1, starts at word 2

    assert recall_by_kind(Data, np.array([[0, 0.9, 0.1, 0]]), 0.5) == {
        "ends found": 1.0, "starts found": 0.0}


def test_gap_table_picks_the_best_of_each_kind_on_validation_and_scores_them_on_test():
    results = pd.DataFrame({
        "variant": ["forward only", "backward only", "concat", "sum"] * 2,
        "seed": [0] * 4 + [1] * 4,
        "test_f1": [0.3, 0.4, 0.5, 0.45, 0.3, 0.42, 0.52, 0.6],
        "val_f1": [0.45, 0.40, 0.55, 0.50, 0.45, 0.40, 0.55, 0.50],
    })
    table, both, one = gap_table(results)
    # on test, sum (mean 0.525) and backward only (0.41) lead; validation picks the other two
    assert (both, one) == ("concat", "forward only")
    np.testing.assert_allclose(table["gap"], [0.5 - 0.3, 0.52 - 0.3])


def test_load_tagging_on_the_fake_imdb(fake_data_dir):
    folder = fake_data_dir / "aclImdb"
    for split in ("train", "test"):
        for sentiment in ("pos", "neg"):  # ten reviews per class, ten movies each
            (folder / split / f"urls_{sentiment}.txt").write_text(
                "\n".join(f"http://www.imdb.com/title/tt{int(sentiment == 'pos')}{i // 2:06d}/"
                          for i in range(10)))
    data = load_tagging(n_train=8, n_val=4, n_test=5, maxlen=10, vocab_size=50, target="end",
                        data_dir=fake_data_dir, verbose=False)
    assert data.x_train.shape == data.y_train.shape == (8, 10)
    assert data.x_test.shape == (5, 10) and len(data.test_words) == 5
    # Every review: "this pos movie was great wonderful ..." ends with its last word: no boundary.
    assert data.y_train.sum() == 0 and (data.x_train > 0).all()
    assert "onlyintest" not in data.vocabulary  # the vocabulary comes from training words
    words = data.test_words[0]
    assert [data.vocabulary[i] for i in data.x_test[0]] == [
        w if w in data.vocabulary else "[UNK]" for w in words]


@pytest.mark.parametrize("variant", ["forward only", "backward only", "concat", "ave"])
def test_the_fused_tagger_computes_what_the_layers_compute(variant):
    import keras

    from utils.tasks import boundary_tagger

    keras.utils.set_random_seed(4)
    ids = np.array([[5, 6, 7, 0, 0], [4, 9, 3, 2, 11]], "int32")
    plain, fused = (boundary_tagger(variant, 20, 4, 3, fused=f) for f in (False, True))
    fused.set_weights([w * 3 for w in plain.get_weights()])
    plain.set_weights(fused.get_weights())
    real = ids > 0  # padded words carry no loss; their outputs may differ
    np.testing.assert_allclose(fused(ids).numpy()[real], plain(ids).numpy()[real], atol=1e-5)
