"""bAbI QA tasks v1.2 (Weston et al. 2015, arXiv:1502.05698) as one Lightning data module.

One parse (:mod:`tasks.babi.parse`), two granularities (:mod:`tasks.babi.encode`):
``granularity="word"`` is the DNC paper protocol (Graves et al. 2016, Methods), one word per step
with '-' answer steps; ``granularity="sentence"`` gives MemN2N/EntNet one sentence per step and
one answer step per question. One episode is one whole story with all its questions.

Splits: ``size`` "1k" (``en/``) or "10k" (``en-10k/``); training stories of each task are split
into a ``val_fraction`` validation part and the rest, drawn with ``split_seed``, which does not
change with the run's ``seed``: every seed trains on the same stories and is selected on the same
validation set, as the DNC paper's fixed ~10% hold-out (Graves et al. 2016, Methods "bAbI task
descriptions"); the official ``*_test.txt`` files are
the only test split (``test_split_names = ("test",)``). ``group`` = position of the story's task
in ``tasks``; ``group_names`` = ``("qa<k>", ...)``, hence metric keys like
``test/group/qa16/error``.

Joint vs per-task: ``joint=True`` mixes the stories of all ``tasks`` in one stream (the DNC
paper's joint training; metrics are still reported per group). ``joint=False`` means per-task
training, i.e. one model per task: the module then refuses more than one task; run the 20 tasks
as 20 runs (e.g. a Hydra multirun over ``task.tasks=[1],[2],...``).

The vocabulary (PAD first, then sorted) is built from every file of the 20 tasks present in the
data (``en`` and ``en-10k``, train and test), so it does not depend on ``size`` or ``tasks``; it is
saved with checkpoints (``state_dict``) and checked on load. Parsed tensors are cached under
``cache_dir`` (default ``$MEMNETS_CACHE`` or ``~/.cache/memnets``) keyed by file content and
settings. Per-task training batches group stories of similar length (:mod:`tasks.babi.batching`);
joint training batches are random draws from all tasks (:func:`default_pool_batches`). DDP: each rank
reads its own shard, taken from the initialised ``torch.distributed`` group when the loaders are
built, so ``Trainer(use_distributed_sampler=False)`` is right; with the default ``True`` Lightning
swaps its own DistributedSampler into the batch sampler instead, which shards the same way.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import lightning.pytorch as L
import torch
from torch.utils.data import DataLoader

from tasks.babi.batching import BucketBatchSampler, make_sampler
from tasks.babi.encode import (
    ENCODING_VERSION,
    GRANULARITIES,
    BabiQuestions,
    BabiStories,
    BabiVocabularyError,
    EncodedStories,
    Vocabulary,
    build_vocabulary,
    cached_encode,
    concat_encoded,
    select_stories,
    sentence_width,
)
from tasks.babi.parse import SIZE_FOLDERS, TASK_NAMES, Story, decode, parse_stories, task_file
from tasks.babi.source import ARCHIVE_ROOT, CANONICAL_URL, BabiDataError, open_source
from tasks.batch import ResumableLoader, collate
from tasks.spec import TaskSpec

log = logging.getLogger(__name__)

ALL_TASKS = tuple(TASK_NAMES)
EXAMPLE_UNITS = ("stories", "questions")


def default_cache_dir() -> Path:
    return Path(os.environ.get("MEMNETS_CACHE") or "~/.cache/memnets").expanduser()


def default_pool_batches(joint: bool, n_tasks: int) -> int:
    """Training batches per length-sorted pool when not set.

    Joint training: 1, i.e. every batch is a uniform draw of stories from all tasks, as the DNC
    paper draws "one random story" from the joint set per sample (Graves et al. 2016, Methods).
    Sorting pools by length would group a task's stories (task lengths differ several-fold), so
    batches would be nearly single-task. The price is padding (68% of the cells with 10k word
    stories, batch 32, against 4.6% bucketed). Per-task training: 200 (one task, so sorting by
    length mixes nothing away)."""
    return 1 if joint and n_tasks > 1 else 200


def split_generator(split_seed: int, task: int) -> torch.Generator:
    """The generator of task ``task``'s validation split: a function of ``split_seed`` and the
    task only, never of the run's seed."""
    return torch.Generator().manual_seed(split_seed * 1009 + task)


class BabiDataModule(L.LightningDataModule):
    """bAbI for any model (see module docstring). ``spec`` is ready right after ``__init__``.

    Args:
        data_dir: folder or tarball holding ``tasks_1-20_v1-2`` (downloaded there if absent).
        size: "1k" or "10k" training stories per task.
        tasks: subset of 1..20.
        joint: True = one mixed stream; False = per-task training, exactly one task.
        granularity: "word" (DNC) or "sentence" (MemN2N/EntNet).
        batch_size: training examples per batch (see ``examples``); stories when evaluating.
        examples: the training example, "stories" (a story with all its questions) or
            "questions" (a question with its story up to it, the unit of MemN2N's and EntNet's
            batches of 32 questions). Validation and test always read whole stories, which gives
            the same answers: every model is causal (DESIGN §7).
        val_fraction: share of each task's training stories held out for validation.
        seed: seed of the batch order (not of the split: see ``split_seed``).
        split_seed: seed of the validation split, the same for every run seed.
        fallback_to_1k: if a 10k file is missing (en-10k qa3 train in shared/data), use the 1k
            file instead (logged and put in ``record()``); otherwise that is an error.
        num_workers: DataLoader worker processes.
        cache_dir: cache folder (``None`` = ``$MEMNETS_CACHE`` or ``~/.cache/memnets``;
            ``""`` = no cache).
        sha256: if set, a tarball named by ``data_dir`` must have this checksum.
        download_url: where to fetch the tarball if ``data_dir`` is empty (``None``: never).
        pool_batches: batches per length-sorted pool when training; ``None`` chooses with
            :func:`default_pool_batches` (random batches across tasks when joint).
    """

    GRANULARITIES = GRANULARITIES  # what task.granularity=auto chooses from, in this order
    test_split_names: tuple[str, ...] = ("test",)

    def __init__(
        self,
        data_dir: str | os.PathLike = "data/babi",
        size: str = "10k",
        tasks: Iterable[int] | int = ALL_TASKS,
        joint: bool = True,
        granularity: str = "word",
        batch_size: int = 32,
        examples: str = "stories",
        val_fraction: float = 0.1,
        seed: int = 0,
        split_seed: int = 0,
        fallback_to_1k: bool = False,
        num_workers: int = 0,
        cache_dir: str | os.PathLike | None = None,
        sha256: str | None = None,
        download_url: str | None = CANONICAL_URL,
        pool_batches: int | None = None,
    ) -> None:
        super().__init__()
        self.tasks = (int(tasks),) if isinstance(tasks, int) else tuple(int(t) for t in tasks)
        bad = [t for t in self.tasks if t not in TASK_NAMES]
        if not self.tasks or bad or len(set(self.tasks)) != len(self.tasks):
            raise ValueError(f"bAbI tasks={self.tasks}: expected distinct task numbers in 1..20")
        if not joint and len(self.tasks) != 1:
            raise ValueError(
                f"joint=false is per-task training (one model per task) but tasks={self.tasks}; "
                "give one task per run (e.g. multirun task.tasks=[1],[2],...) or set joint=true"
            )
        if size not in SIZE_FOLDERS:
            raise ValueError(f"bAbI size={size!r}; expected one of {tuple(SIZE_FOLDERS)}")
        if granularity not in GRANULARITIES:
            raise ValueError(
                f"bAbI granularity={granularity!r}; expected one of {GRANULARITIES} (run.py "
                "resolves task.granularity=auto from the model before building the task)"
            )
        if not 0.0 < val_fraction < 1.0:
            raise ValueError(f"val_fraction={val_fraction} must be in (0, 1)")
        if examples not in EXAMPLE_UNITS:
            raise ValueError(f"bAbI examples={examples!r}; expected one of {EXAMPLE_UNITS}")
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size} must be >= 1")
        self.size, self.joint, self.granularity = size, joint, granularity
        self.batch_size, self.val_fraction, self.seed = batch_size, val_fraction, seed
        self.split_seed, self.examples = split_seed, examples
        self.fallback_to_1k, self.num_workers = fallback_to_1k, num_workers
        self.pool_batches = (
            default_pool_batches(joint, len(self.tasks)) if pool_batches is None else pool_batches
        )
        if cache_dir is None:
            self.cache_dir: Path | None = default_cache_dir() / "babi"
        else:
            self.cache_dir = Path(cache_dir).expanduser() / "babi" if str(cache_dir) else None
        self.source = open_source(data_dir, sha256=sha256, url=download_url)
        self._bytes: dict[str, bytes] = {}  # rel path -> content, only until setup() is done
        self._parsed: dict[str, list[Story]] = {}
        self.fallbacks: list[str] = []
        self.files = {(t, s): self._resolve_file(t, s) for t in self.tasks for s in ("train", "test")}
        self.vocab, self.width = self._load_vocabulary()
        needed = set(self.files.values())  # keep only what setup() will read again
        self._bytes = {k: v for k, v in self._bytes.items() if k in needed}
        self._parsed = {k: v for k, v in self._parsed.items() if k in needed}
        self.spec = TaskSpec(
            input_kind="tokens",
            input_width=self.width,
            target_kind="tokens",
            target_width=1,
            vocab_size=len(self.vocab),
            num_classes=len(self.vocab),
            granularity=granularity,
            group_names=tuple(f"qa{t}" for t in self.tasks),
        )
        self.train_set: BabiStories | BabiQuestions | None = None
        self.val_set: BabiStories | None = None
        self.test_set: BabiStories | None = None

    @staticmethod
    def data_present(data_dir: str | os.PathLike) -> bool:
        """Whether bAbI data is at ``data_dir`` already (nothing would be downloaded), so that
        ``python -m memnets.sweep --validate`` checks the files a sweep needs only where they are."""
        try:
            open_source(data_dir, url=None)
        except (BabiDataError, OSError):
            return False
        return True

    # ---- files -------------------------------------------------------------------------------
    def _resolve_file(self, task: int, split: str) -> str:
        rel = task_file(task, self.size, split)
        if self.source.exists(rel):
            return rel
        small = task_file(task, "1k", split)
        if self.size == "10k" and self.fallback_to_1k and self.source.exists(small):
            note = f"{ARCHIVE_ROOT}/{rel} missing: used {ARCHIVE_ROOT}/{small} (1k) instead"
            log.warning("bAbI fallback_to_1k: %s", note)
            self.fallbacks.append(note)
            return small
        hint = " (or set task.fallback_to_1k=true to use the 1k file)" if self.size == "10k" else ""
        raise BabiDataError(f"bAbI file {ARCHIVE_ROOT}/{rel} is missing from {self.source}{hint}")

    def _read(self, rel: str) -> bytes:
        if rel not in self._bytes:
            self._bytes[rel] = self.source.read(rel)
        return self._bytes[rel]

    def _parse(self, rel: str) -> list[Story]:
        if rel not in self._parsed:
            self._parsed[rel] = parse_stories(decode(self._read(rel), rel), rel)
        return self._parsed[rel]

    def _load_vocabulary(self) -> tuple[Vocabulary, int]:
        """Vocabulary and L from every present file of the 20 tasks (cached by content)."""
        rels = [
            task_file(t, size, split)
            for size in SIZE_FOLDERS
            for t in ALL_TASKS
            for split in ("train", "test")
        ]
        rels = [r for r in rels if self.source.exists(r)]
        digest = hashlib.sha256(f"vocab|{ENCODING_VERSION}|{self.granularity}".encode())
        for rel in rels:
            digest.update(f"|{rel}:{hashlib.sha256(self._read(rel)).hexdigest()}".encode())
        path = self.cache_dir / f"vocab-{digest.hexdigest()[:32]}.json" if self.cache_dir else None
        if path is not None and path.is_file():
            try:
                saved = json.loads(path.read_text())
                return Vocabulary(tuple(saved["tokens"])), int(saved["width"])
            except (ValueError, KeyError, TypeError) as err:  # damaged entry: rebuild it
                log.warning("ignoring unreadable bAbI vocabulary cache %s (%s)", path, err)
        stories = [s for rel in rels for s in self._parse(rel)]
        vocab = build_vocabulary(stories, self.granularity)
        width = 1 if self.granularity == "word" else sentence_width(stories)
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(f".{os.getpid()}.tmp")
                tmp.write_text(json.dumps({"tokens": vocab.tokens, "width": width}))
                tmp.replace(path)
            except OSError as err:
                log.warning("could not write bAbI vocabulary cache %s (%s)", path, err)
        return vocab, width

    def _encoded(self, rel: str) -> EncodedStories:
        return cached_encode(
            self._read(rel),
            lambda _: self._parse(rel),
            self.vocab,
            self.granularity,
            self.width,
            self.cache_dir,
            rel,
        )

    # ---- Lightning hooks ---------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        train, val, test, groups = [], [], [], {"train": [], "val": [], "test": []}
        for g, task in enumerate(self.tasks):
            enc = self._encoded(self.files[task, "train"])
            n = len(enc.lengths)
            perm = torch.randperm(n, generator=split_generator(self.split_seed, task))
            n_val = max(1, round(self.val_fraction * n))
            is_val = torch.zeros(n, dtype=torch.bool)
            is_val[perm[:n_val]] = True
            test_enc = self._encoded(self.files[task, "test"])
            for parts, name, part in (
                (train, "train", select_stories(enc, ~is_val)),
                (val, "val", select_stories(enc, is_val)),
                (test, "test", test_enc),
            ):
                parts.append(part)
                groups[name].append(torch.full((len(part.lengths),), g, dtype=torch.long))
        self.train_set = BabiStories(concat_encoded(train), torch.cat(groups["train"]))
        if self.examples == "questions":
            self.train_set = BabiQuestions(self.train_set)
        self.val_set = BabiStories(concat_encoded(val), torch.cat(groups["val"]))
        self.test_set = BabiStories(concat_encoded(test), torch.cat(groups["test"]))
        self._bytes.clear()
        self._parsed.clear()

    def _loader(self, dataset: BabiStories | BabiQuestions | None, train: bool) -> DataLoader:
        if dataset is None:
            raise RuntimeError("call BabiDataModule.setup() before asking for a dataloader")
        sampler = make_sampler(len(dataset), shuffle=train, seed=self.seed)
        batches = BucketBatchSampler(
            sampler,
            self.batch_size,
            False,
            lengths=dataset.lengths,
            pool_batches=self.pool_batches if train else None,
            shuffle=train,
            seed=self.seed,
        )
        return (ResumableLoader if train else DataLoader)(
            dataset,
            batch_sampler=batches,
            collate_fn=collate,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, train=False)

    def test_dataloader(self) -> list[DataLoader]:
        return [self._loader(self.test_set, train=False)]

    # ---- checkpoint and results --------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "vocabulary": list(self.vocab.tokens),
            "granularity": self.granularity,
            "input_width": self.width,
            "tasks": list(self.tasks),
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Refuse a checkpoint whose vocabulary/layout differs from this data's (ids would lie)."""
        saved = tuple(state_dict.get("vocabulary", ()))
        problems = []
        if saved != self.vocab.tokens:
            extra, gone = (
                sorted(set(saved) - set(self.vocab.tokens)),
                sorted(set(self.vocab.tokens) - set(saved)),
            )
            problems.append(
                f"vocabulary differs ({len(saved)} saved vs {len(self.vocab)} now; only saved: "
                f"{extra[:5]}, only now: {gone[:5]})"
            )
        for key, now in (("granularity", self.granularity), ("input_width", self.width)):
            if key in state_dict and state_dict[key] != now:
                problems.append(f"{key} {state_dict[key]!r} in the checkpoint, {now!r} now")
        if problems:
            raise BabiVocabularyError("bAbI checkpoint does not fit this data: " + "; ".join(problems))

    def record(self) -> dict[str, Any]:
        """Facts for results.json."""
        return {
            "source": str(self.source),
            "size": self.size,
            "tasks": list(self.tasks),
            "granularity": self.granularity,
            "vocab_size": len(self.vocab),
            "vocab_fingerprint": self.vocab.fingerprint,
            "fallback_to_1k": list(self.fallbacks),
            "split_seed": self.split_seed,
            "examples": self.examples,
            "pool_batches": self.pool_batches,
        }
