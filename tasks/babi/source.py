"""Where the bAbI files come from: a folder, a tarball, or the canonical download.

``data_dir`` may be
- a folder holding ``tasks_1-20_v1-2/`` (e.g. ``data/babi``),
- the ``tasks_1-20_v1-2`` folder itself (it holds ``en/`` and/or ``en-10k/``),
- a ``.tar.gz`` file in the original archive layout (read in place with :mod:`tarfile`),
- a folder holding only ``tasks_1-20_v1-2.tar.gz`` (read in place), or
- absent/empty: the canonical tarball is downloaded there (progress bar, SHA-256 and size checked)
  and unpacked.
A tarball of the canonical archive's size must have its SHA-256; another tarball (the repacked copy
in shared/data/babi has its own checksum, see its README) is checked against ``sha256`` only if
the caller passes one. Every tarball is read to its end: a damaged member header, which
:mod:`tarfile` takes silently for the end of the archive, is refused with the missing files.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tarfile
import tempfile
import urllib.request
from pathlib import Path

from tasks.babi.parse import SIZE_FOLDERS, TASK_NAMES, task_file

log = logging.getLogger(__name__)

ARCHIVE_ROOT = "tasks_1-20_v1-2"
ARCHIVE_NAME = f"{ARCHIVE_ROOT}.tar.gz"
CANONICAL_URL = "http://www.thespermwhale.com/jaseweston/babi/tasks_1-20_v1-2.tar.gz"
# Size and SHA-256 of the canonical tarball, from the Hugging Face `babi_qa` metadata
# (see shared/data/babi/README.md, "Canonical downloads").
CANONICAL_SHA256 = "0364ebde659f14d11bc21744516c5ec49d3d06cb692733f66680771244998898"
CANONICAL_SIZE = 15_719_851


class BabiDataError(FileNotFoundError):
    """The bAbI data (or one file of it) is not where it was expected."""


class BabiChecksumError(ValueError):
    """A file's SHA-256 or size is not the expected one."""


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def verify_file(path: str | Path, sha256: str, size: int | None = None) -> None:
    """Raise :class:`BabiChecksumError` unless ``path`` has this SHA-256 (and size, if given)."""
    path = Path(path)
    actual_size = path.stat().st_size
    if size is not None and actual_size != size:
        raise BabiChecksumError(f"{path}: size {actual_size:,} bytes, expected {size:,}")
    actual = sha256_file(path)
    if actual != sha256.lower():
        raise BabiChecksumError(f"{path}: sha256 {actual}, expected {sha256.lower()}")


def download(url: str, dest: Path, sha256: str | None, size: int | None) -> Path:
    """Download ``url`` to ``dest`` with a progress bar, verify it, then move it into place."""
    from rich.progress import DownloadColumn, Progress, TransferSpeedColumn

    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=dest.parent, suffix=".part", delete=False) as tmp:
        part = Path(tmp.name)
        try:
            with urllib.request.urlopen(url, timeout=60) as response:
                total = int(response.headers.get("Content-Length") or 0) or size
                with Progress(
                    *Progress.get_default_columns(), DownloadColumn(), TransferSpeedColumn()
                ) as bar:
                    job = bar.add_task(f"bAbI {dest.name}", total=total)
                    while block := response.read(1 << 16):
                        tmp.write(block)
                        bar.update(job, advance=len(block))
        except OSError as err:  # URLError, timeouts, refused connections
            part.unlink(missing_ok=True)
            raise BabiDataError(
                f"bAbI data not found and the download of {url} failed ({err}). Download "
                f"{ARCHIVE_NAME} by hand and put it at {dest} (or unpack it there so that "
                f"{dest.parent / ARCHIVE_ROOT}/en-10k exists), or point task.data_dir / "
                "MEMNETS_BABI_DIR at a folder or tarball that holds it."
            ) from err
    try:
        if sha256 is not None:
            verify_file(part, sha256, size)
    except BabiChecksumError:
        part.unlink(missing_ok=True)
        raise
    part.replace(dest)
    return dest


class BabiSource:
    """Read-only access to the files under ``tasks_1-20_v1-2/``, from a folder or a tarball."""

    def __init__(self, root: Path | None = None, tarball: Path | None = None) -> None:
        if (root is None) == (tarball is None):
            raise ValueError("BabiSource needs exactly one of root= or tarball=")
        self.root, self.tarball = root, tarball
        self._members: dict[str, bytes] | None = None

    def __repr__(self) -> str:
        return f"BabiSource({self.root or self.tarball})"

    def _tar_members(self) -> dict[str, bytes]:
        """Relative path under tasks_1-20_v1-2/ -> bytes, for the en and en-10k text files.

        :mod:`tarfile` stops without an error at a damaged member header; this reads on to the
        end and raises :class:`BabiDataError` unless only the end-of-archive zeros are left.
        """
        if self._members is None:
            members: dict[str, bytes] = {}
            with tarfile.open(self.tarball, "r:*") as tar:
                for info in tar:
                    parts = Path(info.name).parts
                    if info.isfile() and ARCHIVE_ROOT in parts and info.name.endswith(".txt"):
                        rel = "/".join(parts[parts.index(ARCHIVE_ROOT) + 1 :])
                        if rel.split("/")[0] in ("en", "en-10k"):
                            members[rel] = tar.extractfile(info).read()  # type: ignore[union-attr]
                if not _only_zeros_after(tar):
                    raise BabiDataError(damaged_archive_message(self.tarball, tar.offset, members))
            self._members = members
        return self._members

    def exists(self, rel: str) -> bool:
        if self.root is not None:
            return (self.root / rel).is_file()
        return rel in self._tar_members()

    def read(self, rel: str) -> bytes:
        """Bytes of ``tasks_1-20_v1-2/<rel>``; :class:`BabiDataError` naming the file if absent."""
        if not self.exists(rel):
            raise BabiDataError(f"bAbI file {ARCHIVE_ROOT}/{rel} is missing from {self}")
        if self.root is not None:
            return (self.root / rel).read_bytes()
        return self._tar_members()[rel]


def _only_zeros_after(tar: tarfile.TarFile, chunk: int = 1 << 16) -> bool:
    """Whether the archive holds nothing but zero padding after the point where reading stopped."""
    stream = tar.fileobj
    stream.seek(tar.offset)
    while block := stream.read(chunk):
        if block.count(0) != len(block):
            return False
    return True


def expected_files() -> list[str]:
    """The text files of the 20 tasks in ``en`` and ``en-10k`` (train and test), as in the archive."""
    return [task_file(t, size, split) for size in SIZE_FOLDERS for t in TASK_NAMES
            for split in ("train", "test")]


def damaged_archive_message(path: Path | None, offset: int, read: dict[str, bytes]) -> str:
    missing = [rel for rel in expected_files() if rel not in read]
    shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
    return (f"{path} is a damaged archive: the member header at byte {offset:,} of its tar stream "
            f"cannot be read, so only {len(read)} of its task files could be read (missing: "
            f"{shown or 'none of the en/en-10k files, but later members are lost'}). Replace it: "
            f"download {ARCHIVE_NAME} again (its SHA-256 is {CANONICAL_SHA256}) or unpack a good "
            "copy and point task.data_dir at the folder")


def _has_data(folder: Path) -> bool:
    return (folder / "en").is_dir() or (folder / "en-10k").is_dir()


def _check_tarball(path: Path, sha256: str | None) -> None:
    """``sha256`` if given; else a file of the canonical archive's size must be the canonical
    archive (a copy damaged in transit keeps its size). Other tarballs (repacked copies) are
    checked member by member when read."""
    if sha256 is not None:
        verify_file(path, sha256)
    elif path.stat().st_size == CANONICAL_SIZE:
        verify_file(path, CANONICAL_SHA256, CANONICAL_SIZE)


def open_source(
    data_dir: str | Path,
    *,
    sha256: str | None = None,
    url: str | None = CANONICAL_URL,
    download_sha256: str | None = CANONICAL_SHA256,
    download_size: int | None = CANONICAL_SIZE,
) -> BabiSource:
    """Find the data at ``data_dir`` (see module docstring), downloading it if absent.

    ``sha256``: if given, a tarball found at ``data_dir`` must have this checksum (without it,
    only a tarball of the canonical size is checked, against the canonical checksum). Downloads are
    always checked against ``download_sha256``/``download_size`` (the canonical tarball's).
    ``url=None`` forbids downloading.
    """
    path = Path(data_dir).expanduser()
    if path.is_file():
        _check_tarball(path, sha256)
        return BabiSource(tarball=path)
    if _has_data(path):
        return BabiSource(root=path)
    if _has_data(path / ARCHIVE_ROOT):
        return BabiSource(root=path / ARCHIVE_ROOT)
    archive = path / ARCHIVE_NAME
    if archive.is_file():
        _check_tarball(archive, sha256)
        return BabiSource(tarball=archive)
    if url is None:
        raise BabiDataError(
            f"no bAbI data at {path}: put {ARCHIVE_NAME} (or its unpacked {ARCHIVE_ROOT}/ "
            "folder) there, or point task.data_dir / MEMNETS_BABI_DIR at it"
        )
    log.info("bAbI data not found at %s; downloading %s", path, url)
    download(url, archive, download_sha256, download_size)
    with tarfile.open(archive, "r:gz") as tar:
        tmp = Path(tempfile.mkdtemp(dir=path))
        if hasattr(tarfile, "data_filter"):  # Python >= 3.10.12 / 3.11.4: refuse unsafe members
            tar.extractall(tmp, filter="data")
        else:  # pragma: no cover
            tar.extractall(tmp)
        if not (path / ARCHIVE_ROOT).exists():
            (tmp / ARCHIVE_ROOT).replace(path / ARCHIVE_ROOT)
        shutil.rmtree(tmp, ignore_errors=True)
    return BabiSource(root=path / ARCHIVE_ROOT)
