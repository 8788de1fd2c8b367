"""A loader whose data set lives on the training device as uint8 tensors.

MNIST-sized sets and CIFAR-10 fit in device memory many times over, so instead of worker processes
decoding images one by one, each batch is an index_select by a permutation made on the device,
followed by the batch transforms. Nothing in the loop waits for the host.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Protocol

import torch

from cnntui.data.seeding import mix_seed
from cnntui.data.transforms import BatchTransform

STREAM_ORDER = 1
STREAM_AUGMENT = 2


class BatchLoader(Protocol):
    """What the engine iterates: (x float, y long) batches on the device."""

    batch_size: int
    drop_last: bool

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]: ...
    def __len__(self) -> int: ...
    @property
    def num_examples(self) -> int: ...
    def set_epoch(self, epoch: int, start_batch: int = 0) -> None: ...


def batches_per_epoch(
    num_examples: int, batch_size: int, drop_last: bool, world_size: int = 1
) -> int:
    """How many batches one pass yields (a last batch too small to give every rank one example
    is dropped in a distributed run)."""
    if drop_last:
        return num_examples // batch_size
    if world_size > 1:
        return num_examples // batch_size + (num_examples % batch_size >= world_size)
    return math.ceil(num_examples / batch_size)


class DeviceLoader:
    """Shuffled (or ordered) batches from device-resident uint8 images and int64 labels.

    The order of epoch e depends only on (seed, e), and batch b's augmentation only on
    (seed, e, b), so a run resumed at any epoch or batch sees exactly what it would have seen.
    Like DistributedSampler, the order changes only when `set_epoch` is called.
    """

    # Batches are kernels queued on the device. On a GPU, time the host spends in `next()` is the
    # launch queue being full (the GPU busy with earlier steps), not a wait for data.
    waits_on_host = False

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        *,
        batch_size: int,
        transform: BatchTransform,
        shuffle: bool = False,
        seed: int = 0,
        drop_last: bool = False,
        device: torch.device | str | None = None,
    ) -> None:
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise ValueError(
                f"expected uint8 (N, C, H, W) images, got {images.dtype} {images.shape}"
            )
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.device = torch.device(device) if device is not None else images.device
        self.images = images.to(self.device)
        self.labels = labels.to(self.device, torch.int64)
        self.batch_size = batch_size
        self.transform = transform
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.epoch = 0
        self._start_batch = 0
        self.rank, self.world_size = 0, 1
        self._generator = torch.Generator(device=self.device)

    @property
    def num_examples(self) -> int:
        """Examples per epoch, counting those a dropped last batch would skip."""
        return len(self.labels)

    def __len__(self) -> int:
        return batches_per_epoch(
            self.num_examples, self.batch_size, self.drop_last, self.world_size
        )

    def shard(self, rank: int, world_size: int) -> None:
        """Yield only rank `rank`'s part of every batch of a data-parallel run.

        `batch_size` stays the global batch: every rank draws the same epoch permutation and
        takes its own contiguous equal share of each global batch, so with gradients averaged
        over ranks a step is the same update a single process makes on the whole batch.
        """
        if world_size > 1 and self.batch_size < world_size:
            raise ValueError(
                f"the global batch ({self.batch_size}) is smaller than the {world_size} ranks"
            )
        left_out = self.batch_size % world_size
        if world_size > 1 and left_out:
            # Trained on, they would be a step that is not the whole batch's, in silence.
            share = self.batch_size // world_size
            raise ValueError(
                f"the global batch ({self.batch_size}) does not split evenly over "
                f"{world_size} ranks: {share} each would leave {left_out} of every batch "
                f"untrained; use a batch of {share * world_size} or "
                f"{(share + 1) * world_size}, or a number of ranks that divides "
                f"{self.batch_size}"
            )
        self.rank, self.world_size = rank, world_size

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        """Select epoch `epoch`'s order; the next pass starts at batch `start_batch` (to resume)."""
        self.epoch = epoch
        self._start_batch = start_batch

    def order(self) -> torch.Tensor | None:
        """This epoch's permutation on the device, or None when unshuffled."""
        if not self.shuffle:
            return None
        self._generator.manual_seed(mix_seed(self.seed, STREAM_ORDER, self.epoch))
        return torch.randperm(self.num_examples, generator=self._generator, device=self.device)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = self.order()
        start_batch, self._start_batch = self._start_batch, 0
        augment = self.transform.augmentation is not None
        for b in range(start_batch, len(self)):
            lo, hi = b * self.batch_size, min((b + 1) * self.batch_size, self.num_examples)
            if self.world_size > 1:
                share = (hi - lo) // self.world_size
                lo += self.rank * share
                hi = lo + share
            if order is None:
                images, labels = self.images[lo:hi], self.labels[lo:hi]
            else:
                index = order[lo:hi]
                images = self.images.index_select(0, index)
                labels = self.labels.index_select(0, index)
            generator = None
            if augment:
                seed = mix_seed(self.seed, STREAM_AUGMENT, self.epoch, b)
                if self.world_size > 1:  # each rank its own draws for its part of the batch
                    seed = mix_seed(seed, self.rank)
                generator = self._generator.manual_seed(seed)
            yield self.transform(images, generator), labels
