"""From datasets to device batches: the seeded endless training streams, the evaluation loader, and
the typed batches a method's train step receives."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler, Subset

from gtaseg.config import Config
from gtaseg.distributed import DistInfo

MAX_WORKERS = 8  # per stream: beyond this the loader rarely gains and memory grows


@dataclass
class LabeledBatch:
    image: Tensor  # float [B,3,H,W] in [0, 1] on the device (the model normalises itself)
    mask: Tensor  # int64 [B,H,W], IGNORE where unlabeled


@dataclass
class UnlabeledBatch:
    image: Tensor  # float [B,3,H,W] in [0, 1]
    mask: Tensor  # int64 [B,H,W]: ground truth where the dataset has it (only to score pseudo labels), else IGNORE
    valid: Tensor  # bool [B,H,W]: inside the image (False on padding)


class SeededSampler(Sampler):
    """Endless shuffled stream of (index, seed) for one rank, starting at sample `start` of that rank.

    Epoch e is a permutation drawn from (seed, e), split over ranks; every item carries its own
    augmentation seed from its global position, so the data depend only on the position in the
    stream: a resumed run, another number of workers, or N ranks x batch B against one process x
    batch N*B see exactly the same images.
    """

    def __init__(self, n: int, seed: int, rank: int = 0, world: int = 1, start: int = 0):
        self.n, self.seed, self.rank, self.world, self.start = n, seed, rank, world, start
        self.per_rank = math.ceil(n / world)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        epoch, offset = divmod(self.start, self.per_rank)
        while True:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            perm = torch.randperm(self.n, generator=g)
            perm = perm.repeat(math.ceil(self.per_rank * self.world / self.n))[: self.per_rank * self.world]
            mine = perm[self.rank :: self.world].tolist()
            for i in range(offset, self.per_rank):
                yield mine[i], hash((self.seed, epoch, i * self.world + self.rank)) & 0x7FFFFFFF
            epoch, offset = epoch + 1, 0


class Seeded(Dataset):
    """Applies the per-item seed around the wrapped dataset's (random) transform."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> dict:
        index, seed = key
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return self.dataset[index]


def _worker_init(_: int) -> None:
    torch.set_num_threads(1)  # workers must not compete with the training step for cores


def loader_workers(cfg: Config, info: DistInfo, streams: int = 2) -> int:
    """data.num_workers, or for -1 the machine's share: this process's cores (those left after the
    main process, split over the processes of the node) divided over its `streams` loaders."""
    if cfg.data.num_workers >= 0:
        return cfg.data.num_workers
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", info.world_size))
    return max(1, min(MAX_WORKERS, (cores // local_world - 1) // streams))


def train_loader(ds: Dataset, batch: int, cfg: Config, info: DistInfo, seed: int, start_step: int,
                 workers: int) -> Iterator:
    sampler = SeededSampler(len(ds), seed, info.rank, info.world_size, start=start_step * batch)
    return iter(DataLoader(Seeded(ds), batch_size=batch, sampler=sampler, num_workers=workers, drop_last=True,
                           pin_memory=info.device.type == "cuda", persistent_workers=workers > 0,
                           prefetch_factor=4 if workers > 0 else None, worker_init_fn=_worker_init,
                           generator=torch.Generator()))  # own generator: never draws from the global RNG


def eval_loader(ds: Dataset, cfg: Config, info: DistInfo) -> DataLoader:
    # Each rank scores a disjoint shard, no padding, so no image is counted twice.
    shard = list(range(info.rank, len(ds), info.world_size))
    return DataLoader(Subset(ds, shard), batch_size=cfg.eval.batch_size,
                      num_workers=min(loader_workers(cfg, info, streams=1), 2), pin_memory=info.device.type == "cuda",
                      worker_init_fn=_worker_init, generator=torch.Generator())


def to_input(images: Tensor, device: torch.device, channels_last: bool = False) -> Tensor:
    """uint8 [B,3,H,W] -> float in [0,1] on the device (the model normalises itself)."""
    x = images.to(device, non_blocking=True).float().div_(255)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def labeled_batch(batch: dict, device: torch.device, channels_last: bool = False) -> LabeledBatch:
    return LabeledBatch(to_input(batch["image"], device, channels_last), batch["mask"].to(device, non_blocking=True))


def unlabeled_batch(batch: dict, device: torch.device, channels_last: bool = False) -> UnlabeledBatch:
    return UnlabeledBatch(to_input(batch["image"], device, channels_last), batch["mask"].to(device, non_blocking=True),
                          batch["valid"].to(device, non_blocking=True))
