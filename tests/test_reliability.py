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
    (tmp_path / "aclImdb_v1.tar.gz").write_bytes(fake_archive.read_bytes()[:100])  # truncated
    with pytest.raises(ImdbDataError, match="Could not download"):
        ensure_imdb(tmp_path, url="http://127.0.0.1:9/aclImdb_v1.tar.gz", md5="0" * 32)
    assert not (tmp_path / "aclImdb_v1.tar.gz").exists()  # deleted, not kept for next time
