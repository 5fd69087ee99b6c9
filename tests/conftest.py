"""Shared fixtures: a tiny fake IMDB folder with the real layout, built in a temporary folder."""

import os
import re
import tarfile
import tempfile

import pytest

# Before anything imports utils.paths: whatever a test writes as "results" goes to a temporary
# folder, so `make test` never changes the committed results/ (a test that checks the
# committed files reads ROOT / "results" explicitly).
os.environ["BIRNN_RESULTS_DIR"] = tempfile.mkdtemp(prefix="birnn-test-results-")

# Notebook kernels forked from a process that has imported TensorFlow once per worker
# (tests/forked_kernels.py); BIRNN_FORKED_KERNELS=0 starts each one as jupyter_client does.
if os.environ.get("BIRNN_FORKED_KERNELS", "1") != "0":
    from forked_kernels import ForkedKernelManager

    from utils import run_notebooks

    run_notebooks.KERNEL_MANAGER = ForkedKernelManager


def pytest_collection_modifyitems(config, items):
    """The order in which `make test` hands tests to its workers (`--dist load
    --maxschedchunk 1`: one test at a time to whichever worker is free): the longest first, so
    that the many short tests fill the end instead of one notebook running alone (2026-12-07:
    the last four minutes of a 17-minute run had one kernel busy). First the assignment's
    notebook tests (its one grading test is the longest of all), then the notebook runs, the
    later lessons first (they train longer), then the unit tests in collection order."""
    def rank(item):
        if item.module.__name__.endswith("test_assignment") and item.get_closest_marker(
                "notebook"):
            return (0, 0)
        if item.get_closest_marker("notebook"):
            lesson = re.search(r"\[(\d\d)", item.nodeid)
            return (1, -int(lesson[1]) if lesson else 0)
        return (2, 0)

    items.sort(key=rank)  # stable: collection order within a rank


# Words chosen so the tests can tell where each review went.
POS_WORDS = "great wonderful superb loved"
NEG_WORDS = "awful boring terrible hated"
# utils.data.REVIEWS_PER_CLASS as the module sets it (the fixture below patches it to 10).
REAL_REVIEWS_PER_CLASS = None


def fake_movie(split, i):
    """The IMDb id of review i (pos or neg) in the fake: reviews 2k and 2k+1 of each class
    share movie k, so each movie has two positive and two negative reviews."""
    return f"tt{(1 if split == 'train' else 2) * 1_000_000 + i // 2:07d}"


def write_fake_imdb(root, n_per_class=10):
    """Create root/aclImdb with train/{pos,neg,unsup} and test/{pos,neg}, and the
    urls_{pos,neg}.txt files naming each review's movie (see `fake_movie`); return it."""
    folder = root / "aclImdb"
    for split in ("train", "test"):
        for label, words in (("pos", POS_WORDS), ("neg", NEG_WORDS)):
            d = folder / split / label
            d.mkdir(parents=True)
            for i in range(n_per_class):
                extra = "onlyintest" if split == "test" else f"film{i}"
                text = f"This {label.upper()} movie<br /><br />was {words}, {extra} really!"
                (d / f"{i}_{7 if label == 'pos' else 2}.txt").write_text(text)
            urls = [f"http://www.imdb.com/title/{fake_movie(split, i)}/usercomments"
                    for i in range(n_per_class)]
            (folder / split / f"urls_{label}.txt").write_text("\n".join(urls) + "\n")
    unsup = folder / "train" / "unsup"
    unsup.mkdir()
    for i in range(n_per_class):
        (unsup / f"{i}_0.txt").write_text("unlabelledword " * 5)
    (folder / "README").write_text("fake IMDB for tests")
    return folder


@pytest.fixture
def fake_data_dir(tmp_path):
    """A data folder holding a tiny, complete aclImdb/ (10 reviews per class and split)."""
    write_fake_imdb(tmp_path)
    return tmp_path


@pytest.fixture
def fake_archive(tmp_path_factory):
    """A tar.gz of the fake aclImdb/, as the official archive is laid out; returns its path."""
    src = tmp_path_factory.mktemp("src")
    write_fake_imdb(src)
    archive = tmp_path_factory.mktemp("archive") / "aclImdb_v1.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(src / "aclImdb", arcname="aclImdb")
    return archive


@pytest.fixture(autouse=True)
def no_real_download(monkeypatch):
    """No test ever downloads the real 84 MB archive: the official URL points nowhere here.

    The fake folders hold 10 reviews per class and split, so the completeness check expects
    10 instead of the real 12,500 (a test that needs another count patches it again)."""
    from utils import data

    global REAL_REVIEWS_PER_CLASS
    REAL_REVIEWS_PER_CLASS = data.REVIEWS_PER_CLASS  # restored after each test, so the real one
    monkeypatch.setattr(data, "IMDB_URL", "http://127.0.0.1:9/aclImdb_v1.tar.gz")
    monkeypatch.setattr(data, "REVIEWS_PER_CLASS", 10)
