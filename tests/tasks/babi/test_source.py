"""Finding the bAbI data: folder vs tarball, checksums, download (file:// only, no network)."""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
import urllib.error
from pathlib import Path

import pytest
import torch

from tasks.babi import source as babi_source
from tasks.babi.datamodule import BabiDataModule
from tasks.babi.parse import task_file
from tasks.babi.source import (
    BabiChecksumError,
    BabiDataError,
    BabiSource,
    open_source,
    sha256_file,
    verify_file,
)

# shared/data/babi/README.md: the repacked tarball (not the canonical one, which has 0364eb...).
REPACKED_SHA256 = "fd8a253f82274b2661b8d89065f212bef2f0e686fd487f78ed389260644cd98b"
SMALL_FILES = [task_file(1, "1k", "train"), task_file(1, "1k", "test")]


@pytest.fixture(scope="module")
def shared_tarball(babi_dir: Path) -> Path:
    path = babi_dir if babi_dir.is_file() else babi_dir / "tasks_1-20_v1-2.tar.gz"
    if not path.is_file():
        pytest.skip(f"no tarball at {path}")
    return path


def _small_tarball(path: Path, root: Path) -> Path:
    """A tarball in the archive layout holding only task 1 of en/."""
    with tarfile.open(path, "w:gz") as tar:
        for rel in SMALL_FILES:
            data = (root / rel).read_bytes()
            info = tarfile.TarInfo(f"tasks_1-20_v1-2/{rel}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.needs_data
def test_tarball_reads_the_same_bytes_and_tensors_as_the_folder(shared_tarball, babi_root):
    tar, folder = BabiSource(tarball=shared_tarball), BabiSource(root=babi_root)
    for rel in [*SMALL_FILES, task_file(19, "10k", "train"), task_file(8, "10k", "test")]:
        assert tar.read(rel) == folder.read(rel)
    assert not tar.exists(task_file(3, "10k", "train"))  # the known gap, in both
    a = BabiDataModule(shared_tarball, size="1k", tasks=[8, 19], cache_dir="")
    b = BabiDataModule(babi_root, size="1k", tasks=[8, 19])  # default cache: warm
    assert a.vocab == b.vocab and a.spec == b.spec
    a.setup("fit")
    b.setup("fit")
    for x, y in ((a.train_set, b.train_set), (a.val_set, b.val_set), (a.test_set, b.test_set)):
        for s, t in zip(x.enc, y.enc, strict=True):
            assert torch.equal(s, t)


@pytest.mark.needs_data
def test_checksum_rejects_a_corrupted_tarball(shared_tarball, tmp_path):
    copy = tmp_path / "copy.tar.gz"
    data = bytearray(shared_tarball.read_bytes())
    copy.write_bytes(data)
    verify_file(copy, REPACKED_SHA256, len(data))  # the intact copy passes
    data[len(data) // 2] ^= 0x01
    copy.write_bytes(data)
    with pytest.raises(BabiChecksumError, match="sha256"):
        verify_file(copy, REPACKED_SHA256)
    with pytest.raises(BabiChecksumError, match="size"):
        verify_file(copy, REPACKED_SHA256, len(data) + 1)
    with pytest.raises(BabiChecksumError):  # open_source checks a user tarball only on request
        open_source(copy, sha256=REPACKED_SHA256)
    assert open_source(shared_tarball).tarball == shared_tarball  # not the canonical sha: fine


@pytest.mark.needs_data
def test_download_verifies_and_unpacks(babi_root, tmp_path):
    served = _small_tarball(tmp_path / "served.tar.gz", babi_root)
    sha, size = sha256_file(served), served.stat().st_size
    target = tmp_path / "data"
    source = open_source(target, url=served.as_uri(), download_sha256=sha, download_size=size)
    assert source.root == target / "tasks_1-20_v1-2"
    assert source.read(SMALL_FILES[0]) == (babi_root / SMALL_FILES[0]).read_bytes()
    assert hashlib.sha256((target / "tasks_1-20_v1-2.tar.gz").read_bytes()).hexdigest() == sha
    # a second call finds the unpacked folder and downloads nothing
    assert open_source(target, url=None).root == source.root


@pytest.mark.needs_data
def test_download_with_a_wrong_checksum_leaves_nothing(babi_root, tmp_path):
    served = _small_tarball(tmp_path / "served.tar.gz", babi_root)
    target = tmp_path / "data"
    with pytest.raises(BabiChecksumError):
        open_source(target, url=served.as_uri(), download_sha256="0" * 64, download_size=None)
    assert list(target.iterdir()) == []


def test_no_network_says_where_to_put_the_file(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(babi_source.urllib.request, "urlopen", offline)
    with pytest.raises(BabiDataError) as err:
        open_source(tmp_path / "babi")
    message = str(err.value)
    assert str(tmp_path / "babi" / "tasks_1-20_v1-2.tar.gz") in message
    assert babi_source.CANONICAL_URL in message and "MEMNETS_BABI_DIR" in message
    assert not any((tmp_path / "babi").iterdir())  # no partial download left behind


def test_downloads_can_be_forbidden(tmp_path):
    with pytest.raises(BabiDataError, match="no bAbI data"):
        open_source(tmp_path, url=None)


def _tiny_tarball(tiny_babi: Path, path: Path, damage_member: int | None = None) -> Path:
    """The tiny data set as a .tar.gz; ``damage_member``: overwrite that member's header."""
    raw = io.BytesIO()
    files = sorted((tiny_babi / "tasks_1-20_v1-2").rglob("*.txt"))
    offsets = []
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for file in files:
            offsets.append(raw.tell())
            tar.add(file, arcname=str(file.relative_to(tiny_babi)))
    data = bytearray(raw.getvalue())
    if damage_member is not None:
        start = offsets[damage_member]
        data[start : start + 100] = b"\x7f" * 100  # the member's name field: checksum fails
    with gzip.open(path, "wb") as f:
        f.write(bytes(data))
    return path


def test_a_tarball_damaged_in_the_middle_is_refused_with_what_is_missing(tiny_babi, tmp_path):
    """tarfile stops at a bad header without an error; the reader must not train on what came
    before it (the tiny set: qa19 test, qa19 train, qa1 test, qa1 train, in that order)."""
    good = _tiny_tarball(tiny_babi, tmp_path / "good.tar.gz")
    assert BabiDataModule(good, size="1k", tasks=[19], cache_dir="").spec.vocab_size > 0
    bad = _tiny_tarball(tiny_babi, tmp_path / "bad.tar.gz", damage_member=2)
    with pytest.raises(BabiDataError) as err:  # task 19's files come before the damage
        BabiDataModule(bad, size="1k", tasks=[19], cache_dir="")
    message = str(err.value)
    assert str(bad) in message and "damaged archive" in message
    assert "only 2 of its task files could be read" in message
    assert "en/qa1_single-supporting-fact_train.txt" in message  # after the bad header: lost


def test_a_tarball_of_the_canonical_size_must_have_the_canonical_checksum(tmp_path):
    fake = tmp_path / "tasks_1-20_v1-2.tar.gz"
    fake.write_bytes(b"\0" * babi_source.CANONICAL_SIZE)
    with pytest.raises(BabiChecksumError, match="sha256"):
        open_source(fake)
    with pytest.raises(BabiChecksumError, match="sha256"):
        open_source(tmp_path)  # the same file found in a folder
