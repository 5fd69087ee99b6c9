"""The IMDB loader, on a tiny fake aclImdb/ (never the real data)."""

import hashlib
import os
import shutil
import warnings

import numpy as np
import pytest

from utils import data as imdb
from utils.data import ImdbDataError, decode, ensure_imdb, load_imdb

SMALL = dict(vocab_size=30, maxlen=12, verbose=False)


def md5(path):
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_shapes_labels_and_split(fake_data_dir):
    d = load_imdb(data_dir=fake_data_dir, validation_split=0.2, **SMALL)
    assert d.x_train.shape == (16, 12) and d.x_val.shape == (4, 12) and d.x_test.shape == (20, 12)
    assert d.x_train.dtype == np.int32
    # stratified: each split keeps the 50/50 balance
    assert d.y_train.sum() == 8 and d.y_val.sum() == 2 and d.y_test.sum() == 10


def test_labels_follow_the_folders_and_unsup_is_ignored(fake_data_dir):
    d = load_imdb(data_dir=fake_data_dir, **SMALL)
    assert "unlabelledword" not in d.vocabulary
    for x, y in zip(d.x_train, d.y_train, strict=True):
        words = decode(x, d.vocabulary).split()
        assert ("great" in words) == (y == 1) and ("awful" in words) == (y == 0)


def test_vocabulary_is_adapted_on_training_text_only(fake_data_dir):
    d = load_imdb(data_dir=fake_data_dir, **SMALL)
    assert "onlyintest" not in d.vocabulary  # a word seen only in test reviews
    assert d.vocabulary[:2] == ["", "[UNK]"]
    assert "br" not in d.vocabulary  # <br /> tags are stripped
    assert np.any(d.x_test == 1)  # so test reviews contain [UNK]


def test_padding_side(fake_data_dir):
    post = load_imdb(data_dir=fake_data_dir, padding="post", **SMALL)
    pre = load_imdb(data_dir=fake_data_dir, padding="pre", **SMALL)
    for a, b in zip(post.x_train, pre.x_train, strict=True):
        n = np.count_nonzero(a)
        assert 0 < n < 12
        assert np.all(a[n:] == 0) and np.all(b[: 12 - n] == 0)
        np.testing.assert_array_equal(a[:n], b[12 - n :])


def test_truncation_keeps_the_chosen_end(fake_data_dir):
    full = load_imdb(data_dir=fake_data_dir, vocab_size=30, maxlen=20, verbose=False)
    head = load_imdb(data_dir=fake_data_dir, vocab_size=30, maxlen=3, verbose=False)
    tail = load_imdb(data_dir=fake_data_dir, vocab_size=30, maxlen=3, truncating="pre",
                     verbose=False)
    n = np.count_nonzero(full.x_train[0])
    np.testing.assert_array_equal(head.x_train[0], full.x_train[0][:3])
    np.testing.assert_array_equal(tail.x_train[0], full.x_train[0][n - 3 : n])


def test_decode_reads_the_review_back(fake_data_dir):
    d = load_imdb(data_dir=fake_data_dir, vocab_size=30, maxlen=20, verbose=False)
    i = int(np.flatnonzero(d.y_train == 1)[0])
    assert d.decode(d.x_train[i]).startswith("this pos movie was great wonderful superb loved")
    assert d.decode(d.x_train[i], show_padding=True).endswith("_")


def test_balanced_subset(fake_data_dir):
    d = load_imdb(data_dir=fake_data_dir, subset=8, validation_split=0.25, split="review",
                  **SMALL)
    assert len(d.y_train) + len(d.y_val) == 8 and len(d.y_test) == 8
    assert d.y_train.sum() + d.y_val.sum() == 4 and d.y_test.sum() == 4


def test_seed_fixes_the_split(fake_data_dir):
    a = load_imdb(data_dir=fake_data_dir, seed=1, **SMALL)
    b = load_imdb(data_dir=fake_data_dir, seed=1, use_cache=False, **SMALL)
    c = load_imdb(data_dir=fake_data_dir, seed=2, **SMALL)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert not np.array_equal(a.x_train, c.x_train)


def test_cache_hit_needs_no_reviews_and_is_keyed_by_parameters(fake_data_dir):
    first = load_imdb(data_dir=fake_data_dir, **SMALL)
    assert len(list((fake_data_dir / "imdb_cache").glob("*.npz"))) == 1
    shutil.rmtree(fake_data_dir / "aclImdb")  # from now on only the cache can answer
    again = load_imdb(data_dir=fake_data_dir, **SMALL)
    np.testing.assert_array_equal(first.x_test, again.x_test)
    assert first.vocabulary == again.vocabulary
    with pytest.raises(ImdbDataError, match="Could not download"):  # other parameters:
        load_imdb(data_dir=fake_data_dir, vocab_size=31, maxlen=12, verbose=False)  # a miss


def test_corrupt_cache_is_rebuilt_not_reused(fake_data_dir):
    first = load_imdb(data_dir=fake_data_dir, **SMALL)
    (cache,) = (fake_data_dir / "imdb_cache").glob("*.npz")
    cache.write_bytes(b"not a zip file")
    with pytest.warns(UserWarning, match="corrupt cache"):
        again = load_imdb(data_dir=fake_data_dir, **SMALL)
    np.testing.assert_array_equal(first.x_train, again.x_train)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the rebuilt cache is valid again
        load_imdb(data_dir=fake_data_dir, **SMALL)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(padding="left"), "padding must be 'post' or 'pre'"),
        (dict(truncating="middle"), "truncating must be 'post' or 'pre'"),
        (dict(vocab_size=2), "vocab_size must be an integer of at least 3"),
        (dict(maxlen=0), "maxlen must be a positive integer, got 0"),
        (dict(maxlen=12.5), "maxlen must be a positive integer, got 12.5 .type float"),
        (dict(subset=7), "subset must be an even number"),
        (dict(subset=30_000), "subset must be an even number"),
        (dict(validation_split=1.0), "validation_split must be between 0 and 1"),
        (dict(validation_split="0.2"), "validation_split must be between 0 and 1"),
        # issue #12: each of these used to fail late, without naming the parameter
        (dict(subset=4), r"subset=4 with validation_split=0.2 leaves no validation review"
                         r".*use subset=6 or more"),
        (dict(validation_split=0.99), "validation_split=0.99 leaves no training review"),
        (dict(seed=-1), "seed must be a non-negative integer, got -1"),
        (dict(seed="0"), "seed must be a non-negative integer, got '0' .type str"),
        (dict(split="movies"), "split must be one of .'movie', 'review'"),
    ],
)
def test_bad_parameters_are_named(fake_data_dir, kwargs, message):
    with pytest.raises(ValueError, match=message):
        load_imdb(data_dir=fake_data_dir, **{**SMALL, **kwargs})


def test_half_extracted_folder_is_reported(fake_data_dir):
    shutil.rmtree(fake_data_dir / "aclImdb" / "test" / "neg")
    with pytest.raises(ImdbDataError, match=r"is incomplete \(test/neg missing.*Move that"):
        load_imdb(data_dir=fake_data_dir, **SMALL)


def test_unequal_class_folders_are_reported(fake_data_dir):
    next((fake_data_dir / "aclImdb" / "train" / "pos").glob("*.txt")).unlink()
    with pytest.raises(ImdbDataError, match="train/pos has 9 of the 10 reviews expected"):
        ensure_imdb(fake_data_dir)


def test_no_network_message_names_url_and_folder(tmp_path):
    url = "http://127.0.0.1:9/aclImdb_v1.tar.gz"  # nothing listens on port 9
    with pytest.raises(ImdbDataError, match=r"Could not download .*127\.0\.0\.1.*put it in"):
        ensure_imdb(tmp_path, url=url)
    assert not (tmp_path / "aclImdb_v1.tar.gz").exists()


def test_download_check_and_extract(tmp_path, fake_archive):
    folder = ensure_imdb(tmp_path, url=fake_archive.as_uri(), md5=md5(fake_archive))
    assert folder == tmp_path / "aclImdb"
    assert imdb.check_imdb_folder(folder)["test/pos"] == 10
    assert not list(tmp_path.glob(".extracting-*"))  # no temporary folder left behind
    d = load_imdb(data_dir=tmp_path, **SMALL)
    assert len(d.y_test) == 20


def test_download_with_wrong_checksum_is_deleted(tmp_path, fake_archive):
    with pytest.raises(ImdbDataError, match="failed its MD5 check.*deleted"):
        ensure_imdb(tmp_path, url=fake_archive.as_uri(), md5="0" * 32)
    assert not (tmp_path / "aclImdb_v1.tar.gz").exists()
    assert not (tmp_path / "aclImdb").exists()


def test_corrupt_cached_archive_is_moved_aside_and_replaced(tmp_path, fake_archive):
    (tmp_path / "aclImdb_v1.tar.gz").write_bytes(b"half a download")
    with pytest.warns(UserWarning, match="failed its MD5 check.*moved aside to .*rejected"):
        folder = ensure_imdb(tmp_path, url=fake_archive.as_uri(), md5=md5(fake_archive))
    assert md5(tmp_path / "aclImdb_v1.tar.gz") == md5(fake_archive)
    assert (tmp_path / "aclImdb_v1.tar.gz.rejected").read_bytes() == b"half a download"
    assert imdb.check_imdb_folder(folder)["train/neg"] == 10


def test_archive_that_is_not_a_tarball_is_kept_and_named(tmp_path):
    bad = tmp_path / "src" / "aclImdb_v1.tar.gz"
    bad.parent.mkdir()
    bad.write_bytes(b"\x1f\x8b this is not gzip")
    data = tmp_path / "data"
    with pytest.raises(ImdbDataError, match="data/aclImdb_v1.tar.gz could not be extracted"
                       ".*archive is kept") as error:
        ensure_imdb(data, url=bad.as_uri(), md5=md5(bad))
    assert ".extracting" not in str(error.value)  # no temporary folder that is gone
    assert (data / "aclImdb_v1.tar.gz").read_bytes() == bad.read_bytes()
    assert not (data / "aclImdb").exists() and not list(data.glob(".extracting-*"))


# ---------------------------------------------------------------------------------------
# Issue #9: a validation split that does not leak (all reviews of a movie on one side)
# ---------------------------------------------------------------------------------------


def test_movie_ids_follow_the_urls_files(fake_data_dir):
    from conftest import fake_movie

    folder = fake_data_dir / "aclImdb" / "train"
    paths = imdb.review_files(folder)
    ids = imdb.movie_ids(folder, paths)
    assert len(ids) == 20
    for path, movie in zip(paths, ids, strict=True):
        assert movie == fake_movie("train", int(path.rsplit("/", 1)[-1].split("_")[0]))


def test_default_split_keeps_each_movie_on_one_side(fake_data_dir):
    d = load_imdb(data_dir=fake_data_dir, **SMALL)  # split="movie" is the default
    assert d.params["split"] == "movie"
    assert set(d.movie_train).isdisjoint(d.movie_val)
    assert len(d.y_val) == 4 and d.y_val.sum() == 2  # one whole movie: 2 pos + 2 neg
    assert len(set(d.movie_train)) == 4 and len(set(d.movie_val)) == 1


def test_random_split_leaks_movies_and_is_still_available(fake_data_dir):
    leaks = []
    for seed in range(3):
        d = load_imdb(data_dir=fake_data_dir, split="review", seed=seed, **SMALL)
        assert len(d.y_val) == 4 and d.y_val.sum() == 2  # stratified as before
        leaks.append(len(set(d.movie_train) & set(d.movie_val)))
    assert max(leaks) > 0  # the old split puts one movie's reviews on both sides


def test_split_is_part_of_the_cache_key(fake_data_dir):
    movie = load_imdb(data_dir=fake_data_dir, **SMALL)
    review = load_imdb(data_dir=fake_data_dir, split="review", **SMALL)
    assert len(list((fake_data_dir / "imdb_cache").glob("*.npz"))) == 2
    assert review.params["split"] == "review"
    again = load_imdb(data_dir=fake_data_dir, **SMALL)  # from the cache
    np.testing.assert_array_equal(again.movie_val, movie.movie_val)
    np.testing.assert_array_equal(again.x_val, movie.x_val)


def test_movie_split_too_small_for_both_classes_is_refused(fake_data_dir):
    # 4 reviews per class, 1 of each wanted in validation, movies of 2 + 2: not always possible
    outcomes = []
    for seed in range(6):
        try:
            d = load_imdb(data_dir=fake_data_dir, subset=8, validation_split=0.25, seed=seed,
                          **SMALL)
            outcomes.append(set(d.y_val.tolist()) == {0, 1})
        except ValueError as error:
            assert "movie-wise split with subset=8" in str(error)
            assert "use a larger subset, or split='review'" in str(error)
            outcomes.append("refused")
    assert "refused" in outcomes and all(o in (True, "refused") for o in outcomes)


def test_movie_split_with_a_subset_is_balanced_and_disjoint(fake_data_dir):
    for seed in range(4):
        d = load_imdb(data_dir=fake_data_dir, subset=16, seed=seed, validation_split=0.25,
                      **SMALL)
        assert len(d.y_train) + len(d.y_val) == 16 and len(d.y_test) == 16
        assert set(d.movie_train).isdisjoint(d.movie_val)
        assert set(d.y_val.tolist()) == {0, 1} and set(d.y_train.tolist()) == {0, 1}


def test_missing_urls_file_names_it_and_offers_the_random_split(fake_data_dir):
    (fake_data_dir / "aclImdb" / "train" / "urls_neg.txt").unlink()
    with pytest.raises(ImdbDataError, match=r"train/urls_neg\.txt is missing.*split='review'"):
        load_imdb(data_dir=fake_data_dir, **SMALL)
    d = load_imdb(data_dir=fake_data_dir, split="review", **SMALL)
    assert len(d.y_val) == 4


def test_movie_split_of_the_real_training_reviews():
    """The urls files of the real data name one movie per review; the split is disjoint
    and within a few reviews of 20 % of each class. Skipped without the real data."""
    from utils.paths import DATA_DIR

    folder = DATA_DIR / "aclImdb" / "train"
    if not folder.is_dir():
        pytest.skip("the real IMDB reviews are not extracted in data/")
    paths = imdb.review_files(folder)
    labels = np.array([0 if "/neg/" in p else 1 for p in paths])
    movies = imdb.movie_ids(folder, paths)
    assert len(movies) == 25_000 and 1_000 < len(set(movies)) < 25_000
    train, val = imdb.split_indices(labels, 0.2, 0, "movie", movies)
    assert set(movies[train]).isdisjoint(movies[val])
    assert len(train) + len(val) == 25_000
    for c in (0, 1):
        assert abs(np.sum(labels[val] == c) - 2_500) <= 5
    old_train, old_val = imdb.split_indices(labels, 0.2, 0, "review", movies)
    assert np.isin(movies[old_val], movies[old_train]).sum() > 1_000  # the old leak


def test_review_files_lists_the_reviews_in_the_order_keras_reads_them(fake_data_dir):
    """`read_reviews` (plain file reads, in the order of `review_files`) returns the bytes and
    labels `keras.utils.text_dataset_from_directory` reads, in its order."""
    import keras

    folder = fake_data_dir / "aclImdb" / "train"
    (folder / "pos" / "10_9.txt").write_text("a tenth positive review sorts between 1 and 2")
    texts, labels = imdb.read_reviews(folder)
    dataset = keras.utils.text_dataset_from_directory(
        folder, class_names=list(imdb.CLASS_NAMES), batch_size=None, shuffle=False, verbose=False)
    read = list(dataset.as_numpy_iterator())
    assert list(texts) == [text for text, _ in read] and b"a tenth positive" in b"".join(texts)
    assert list(labels) == [label for _, label in read]
    paths = imdb.review_files(folder)
    assert [p.split(os.sep)[-2] for p in paths] == [imdb.CLASS_NAMES[y] for y in labels]



def test_a_cache_file_is_built_once_when_two_runs_need_it_at_once(fake_data_dir, monkeypatch,
                                                                   capsys):
    """A run that needs a cache file another run is building waits for it, then loads it."""
    import fcntl
    import threading

    reads = []
    real_read = imdb.read_reviews
    monkeypatch.setattr(imdb, "read_reviews",
                        lambda folder, keep=None: reads.append(folder) or real_read(folder, keep))
    first = load_imdb(data_dir=fake_data_dir, **SMALL)  # builds it: reads train and test
    (cache,) = (fake_data_dir / "imdb_cache").glob("*.npz")
    built = cache.read_bytes()
    cache.unlink()
    second = {}
    with open(cache.with_suffix(".lock"), "a") as lock:  # another run is building it
        fcntl.flock(lock, fcntl.LOCK_EX)
        waiting = threading.Thread(target=lambda: second.update(
            data=load_imdb(data_dir=fake_data_dir, **SMALL)))
        waiting.start()
        waiting.join(timeout=2)
        assert waiting.is_alive()  # waiting for the lock, not reading the reviews
        cache.write_bytes(built)  # the other run finishes
    waiting.join(timeout=60)
    assert not waiting.is_alive() and len(reads) == 2  # the reviews were read once, not twice
    np.testing.assert_array_equal(second["data"].x_test, first.x_test)
    assert "Waiting for another process building" in capsys.readouterr().out


def test_a_subset_reads_only_its_reviews_and_the_same_bytes(fake_data_dir, monkeypatch):
    folder = fake_data_dir / "aclImdb" / "train"
    texts, labels = imdb.read_reviews(folder)
    keep = np.array([13, 2, 7])
    opened = []
    real_read_bytes = imdb.Path.read_bytes
    monkeypatch.setattr(imdb.Path, "read_bytes", lambda p: opened.append(p) or real_read_bytes(p))
    some, some_labels = imdb.read_reviews(folder, keep)
    assert len(opened) == 3  # only the kept files
    assert list(some) == list(texts[keep]) and list(some_labels) == list(labels[keep])
    np.testing.assert_array_equal(imdb.review_labels(folder), labels)
