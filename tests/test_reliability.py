"""Edge cases a student will meet: empty reviews, all-padding batches, interrupted extraction."""

import tarfile

import numpy as np
import pytest

from utils import data as imdb
from utils.data import ImdbDataError, ensure_imdb, load_imdb
from utils.models import sentiment_model

SMALL = dict(units=3, embed_dim=4, vocab_size=20, maxlen=6)


@pytest.mark.parametrize("direction", ["both", "forward", "backward"])
@pytest.mark.parametrize("pooling", [None, "max", "avg"])
def test_all_padding_batch_gives_finite_probabilities(direction, pooling):
    model = sentiment_model(direction, pooling=pooling, **SMALL)
    x = np.zeros((4, 6), "int32")  # four empty reviews: every step is padding
    p = np.asarray(model(x))
    assert p.shape == (4, 1) and np.all(np.isfinite(p)) and np.all((p > 0) & (p < 1))


def test_single_token_review_is_finite_for_every_merge():
    x = np.array([[7, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 7]], "int32")
    for merge_mode in ("concat", "sum", "ave", "mul"):
        model = sentiment_model("both", merge_mode=merge_mode, **SMALL)
        p = np.asarray(model(x))
        assert np.all(np.isfinite(p))
        np.testing.assert_allclose(p[0], p[1], atol=1e-6)  # masked: padding side is irrelevant


def test_empty_and_punctuation_only_reviews_load(fake_data_dir):
    pos = fake_data_dir / "aclImdb" / "train" / "pos"
    (pos / "0_7.txt").write_text("")
    (pos / "1_7.txt").write_text("!!! ... ???")
    d = load_imdb(data_dir=fake_data_dir, vocab_size=30, maxlen=12, verbose=False,
                  validation_split=0.5)
    rows = np.concatenate([d.x_train, d.x_val])
    assert (rows.sum(axis=1) == 0).sum() == 2  # two all-padding rows, no crash
    p = np.asarray(sentiment_model("both", units=3, embed_dim=4, vocab_size=30, maxlen=12)(rows))
    assert np.all(np.isfinite(p))


def test_interrupted_extraction_leaves_nothing_half_done(tmp_path, fake_archive, monkeypatch):
    calls = {"n": 0}
    original = tarfile.TarFile.extractall

    def interrupted(self, path, *args, **kwargs):
        original(self, path, *args, **kwargs)
        calls["n"] += 1
        raise KeyboardInterrupt  # Ctrl-C after the files were written, before the rename

    monkeypatch.setattr(tarfile.TarFile, "extractall", interrupted)
    import hashlib

    md5 = hashlib.md5(fake_archive.read_bytes()).hexdigest()
    with pytest.raises(KeyboardInterrupt):
        ensure_imdb(tmp_path, url=fake_archive.as_uri(), md5=md5)
    assert calls["n"] == 1
    assert not (tmp_path / "aclImdb").exists()  # never a half-extracted folder
    assert not list(tmp_path.glob(".extracting-*"))
    monkeypatch.setattr(tarfile.TarFile, "extractall", original)
    folder = ensure_imdb(tmp_path, url=fake_archive.as_uri(), md5=md5)  # the next run recovers
    assert imdb.check_imdb_folder(folder)["train/pos"] == 10


def test_interrupted_download_is_not_reused(tmp_path, fake_archive):
    truncated = fake_archive.read_bytes()[:100]
    (tmp_path / "aclImdb_v1.tar.gz").write_bytes(truncated)
    with pytest.warns(UserWarning, match="moved aside"), pytest.raises(
            ImdbDataError, match=r"Could not download.*moved aside to .*\.rejected"):
        ensure_imdb(tmp_path, url="http://127.0.0.1:9/aclImdb_v1.tar.gz", md5="0" * 32)
    assert not (tmp_path / "aclImdb_v1.tar.gz").exists()  # not reused next time ...
    assert (tmp_path / "aclImdb_v1.tar.gz.rejected").read_bytes() == truncated  # ... nor lost


# ---------------------------------------------------------------------------------------
# Issue #12: data never lost, never stale; every error names the real file and the fix
# ---------------------------------------------------------------------------------------

SMALL_LOAD = dict(vocab_size=30, maxlen=12, verbose=False)


def _md5(path):
    import hashlib

    return hashlib.md5(path.read_bytes()).hexdigest()


def test_user_archive_with_unknown_checksum_is_moved_aside_never_deleted(tmp_path):
    placed = b"an archive the user downloaded by hand"
    (tmp_path / "aclImdb_v1.tar.gz").write_bytes(placed)
    with pytest.warns(UserWarning, match="moved aside"), pytest.raises(ImdbDataError) as error:
        ensure_imdb(tmp_path)  # the official URL points nowhere in tests: no network
    message = str(error.value)
    assert "moved aside to" in message and "aclImdb_v1.tar.gz.rejected" in message
    assert (tmp_path / "aclImdb_v1.tar.gz.rejected").read_bytes() == placed
    (tmp_path / "aclImdb_v1.tar.gz").write_bytes(placed)  # a second time: nothing overwritten
    with pytest.warns(UserWarning), pytest.raises(ImdbDataError, match="rejected-2"):
        ensure_imdb(tmp_path)
    assert (tmp_path / "aclImdb_v1.tar.gz.rejected").read_bytes() == placed
    assert (tmp_path / "aclImdb_v1.tar.gz.rejected-2").read_bytes() == placed


def test_known_alternative_checksum_is_used_with_a_warning(tmp_path, fake_archive, monkeypatch):
    monkeypatch.setenv(imdb.ALTERNATIVE_MD5_VARIABLE, f"0123, {_md5(fake_archive)}")
    (tmp_path / "aclImdb_v1.tar.gz").write_bytes(fake_archive.read_bytes())
    with pytest.warns(UserWarning, match="not the official .*known alternative"):
        folder = ensure_imdb(tmp_path)  # no download attempted: the URL points nowhere
    assert imdb.check_imdb_folder(folder)["test/neg"] == 10
    assert _md5(tmp_path / "aclImdb_v1.tar.gz") == _md5(fake_archive)  # kept as it was


def test_an_alternative_checksum_is_accepted_only_when_listed(tmp_path, fake_archive, monkeypatch):
    """No MD5 but the official one is built into the library: without the variable, the same
    archive is moved aside, never used."""
    monkeypatch.delenv(imdb.ALTERNATIVE_MD5_VARIABLE, raising=False)
    (tmp_path / "aclImdb_v1.tar.gz").write_bytes(fake_archive.read_bytes())
    with pytest.warns(UserWarning), pytest.raises(ImdbDataError):
        ensure_imdb(tmp_path)
    assert (tmp_path / "aclImdb_v1.tar.gz.rejected").exists()


def test_real_counts_are_expected_and_a_short_folder_is_reported(fake_data_dir, monkeypatch):
    import conftest

    assert conftest.REAL_REVIEWS_PER_CLASS == 12_500  # the real dataset, per class and split
    monkeypatch.setattr(imdb, "REVIEWS_PER_CLASS", 20)  # a folder 10 reviews short per class
    with pytest.raises(ImdbDataError, match=r"train/neg has 10, train/pos has 10, test/neg "
                       r"has 10, test/pos has 10 of the 20 reviews expected.*Move that"):
        load_imdb(data_dir=fake_data_dir, subset=8, **SMALL_LOAD)
    assert imdb._count_reviews(fake_data_dir / "aclImdb" / "train" / "pos") == 10  # untouched


def test_real_folder_passes_the_completeness_check(monkeypatch):
    import conftest

    from utils.paths import DATA_DIR

    if not (DATA_DIR / "aclImdb").is_dir():
        pytest.skip("the real IMDB reviews are not extracted in data/")
    monkeypatch.setattr(imdb, "REVIEWS_PER_CLASS", conftest.REAL_REVIEWS_PER_CLASS)
    assert set(imdb.check_imdb_folder(DATA_DIR / "aclImdb").values()) == {12_500}


def test_edited_review_rebuilds_the_cache_never_reuses_it(fake_data_dir):
    import warnings

    first = load_imdb(data_dir=fake_data_dir, **SMALL_LOAD)
    assert "brandnewword" not in first.vocabulary
    for i in range(10):  # edit every training review the same way
        (fake_data_dir / "aclImdb" / "train" / "pos" / f"{i}_7.txt").write_text(
            f"brandnewword brandnewword great {i}")
    with pytest.warns(UserWarning, match="built from other review files.*rebuilding"):
        again = load_imdb(data_dir=fake_data_dir, **SMALL_LOAD)
    assert "brandnewword" in again.vocabulary
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the rebuilt cache matches the reviews now
        third = load_imdb(data_dir=fake_data_dir, **SMALL_LOAD)
    np.testing.assert_array_equal(third.x_train, again.x_train)
    assert len(list((fake_data_dir / "imdb_cache").glob("*.npz"))) == 1  # replaced, not added


def test_replaced_review_of_the_same_size_changes_the_fingerprint(fake_data_dir):
    import os

    folder = fake_data_dir / "aclImdb"
    before = imdb.reviews_fingerprint(folder)
    review = folder / "test" / "neg" / "3_2.txt"
    text = review.read_text()
    review.write_text(text.replace("awful", "AWFUL"))  # same size, new content
    os.utime(review, ns=(0, review.stat().st_mtime_ns + 1_000_000_000))
    assert imdb.reviews_fingerprint(folder) != before
    (folder / "train" / "neg" / "0_2.txt").unlink()
    fewer = imdb.reviews_fingerprint(folder)
    assert fewer not in (before, imdb.reviews_fingerprint(folder) + "x")
    assert imdb.reviews_fingerprint(folder) == fewer  # stable when nothing changes


def test_read_only_data_folder_works_without_the_cache(fake_data_dir, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(imdb.tempfile, "mkstemp", refuse)  # as a read-only folder would
    with pytest.warns(UserWarning, match=r"Could not write the cache in .*imdb_cache/ "
                      r"\(Permission denied\); continuing without it.*writable"):
        d = load_imdb(data_dir=fake_data_dir, **SMALL_LOAD)
    reference = load_imdb(data_dir=fake_data_dir, use_cache=False, **SMALL_LOAD)
    np.testing.assert_array_equal(d.x_train, reference.x_train)
    assert not list((fake_data_dir / "imdb_cache").glob("*.npz"))


@pytest.mark.skipif(__import__("os").geteuid() == 0, reason="root ignores permissions")
def test_read_only_data_folder_on_disk(fake_data_dir):
    fake_data_dir.chmod(0o555)
    try:
        with pytest.warns(UserWarning, match="Could not write the cache"):
            d = load_imdb(data_dir=fake_data_dir, **SMALL_LOAD)
    finally:
        fake_data_dir.chmod(0o755)
    assert len(d.y_test) == 20


def test_second_extraction_finding_the_folder_made_uses_it(tmp_path, fake_archive, monkeypatch):
    """Two first runs at once: the other one renamed its folder in place first."""
    from conftest import write_fake_imdb

    original = tarfile.TarFile.extractall

    def the_other_run_finishes_first(self, path, *args, **kwargs):
        original(self, path, *args, **kwargs)
        write_fake_imdb(tmp_path)  # the complete folder appears at data/aclImdb meanwhile

    monkeypatch.setattr(tarfile.TarFile, "extractall", the_other_run_finishes_first)
    folder = ensure_imdb(tmp_path, url=fake_archive.as_uri(), md5=_md5(fake_archive))
    assert imdb.check_imdb_folder(folder)["train/pos"] == 10
    assert not list(tmp_path.glob(".extracting-*"))


def test_concurrent_first_runs_are_safe(tmp_path, fake_archive):
    from concurrent.futures import ThreadPoolExecutor

    url, md5 = fake_archive.as_uri(), _md5(fake_archive)
    with ThreadPoolExecutor(2) as pool:  # flock: two open() calls lock each other out
        futures = [pool.submit(ensure_imdb, tmp_path, url, md5) for _ in range(2)]
        folders = [f.result() for f in futures]  # neither raises
    assert folders == [tmp_path / "aclImdb"] * 2
    assert imdb.check_imdb_folder(tmp_path / "aclImdb")["test/pos"] == 10
    assert not list(tmp_path.glob(".extracting-*"))


def test_incomplete_archive_names_the_archive_not_a_temporary_folder(tmp_path):
    from conftest import write_fake_imdb

    src = write_fake_imdb(tmp_path / "src")
    for review in (src / "test" / "neg").glob("*.txt"):
        review.unlink()
    archive = tmp_path / "src" / "aclImdb_v1.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(src, arcname="aclImdb")
    data = tmp_path / "data"
    with pytest.raises(ImdbDataError, match=r"data/aclImdb_v1.tar.gz does not hold the "
                       r"complete IMDB reviews \(test/neg missing.*archive is kept") as error:
        ensure_imdb(data, url=archive.as_uri(), md5=_md5(archive))
    assert ".extracting" not in str(error.value)
    assert (data / "aclImdb_v1.tar.gz").exists() and not (data / "aclImdb").exists()


def test_non_utf8_review_is_named(fake_data_dir):
    from utils.data import reviews_frame

    bad = fake_data_dir / "aclImdb" / "train" / "pos" / "3_7.txt"
    bad.write_bytes(b"caf\xe9 latin-1 text")
    for call in (lambda: reviews_frame(fake_data_dir),
                 lambda: load_imdb(data_dir=fake_data_dir, **SMALL_LOAD)):
        with pytest.raises(ImdbDataError, match=r"The review .*train/pos/3_7\.txt is not "
                           r"UTF-8 text.*Save it again as UTF-8"):
            call()
