"""Per-batch transforms on the training device: augmentation, normalisation, resize, layout.

Everything works on a whole batch with tensor ops, so a GPU does it in a few kernels and the CPU
never touches individual images.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from cnntui.data.datasets import Augmentation


def resolve_size(size: int | Sequence[int] | None, height: int, width: int) -> tuple[int, int]:
    """Output (H, W); an int sets the shorter side and keeps the aspect, as torchvision's Resize."""
    if size is None:
        return height, width
    if isinstance(size, int):
        if height <= width:
            return size, max(1, round(width * size / height))
        return max(1, round(height * size / width)), size
    h, w = size
    return int(h), int(w)


def augment_batch(
    images: torch.Tensor, augmentation: Augmentation, generator: torch.Generator
) -> torch.Tensor:
    """Random crop after zero padding and random horizontal flip, each image its own draw."""
    n, _, height, width = images.shape
    device = images.device
    flip = None
    if augmentation.hflip:
        flip = torch.rand(n, generator=generator, device=device) < 0.5
    pad = augmentation.crop_padding
    if pad == 0:
        if flip is None:
            return images
        return torch.where(flip[:, None, None, None], images.flip(3), images)
    # One gather does both: each image's rows and columns are a window of the padded batch, and
    # a flip is the same window read backwards.
    offsets = torch.randint(0, 2 * pad + 1, (2, n), generator=generator, device=device)
    rows = offsets[0, :, None] + torch.arange(height, device=device)
    cols = offsets[1, :, None] + torch.arange(width, device=device)
    if flip is not None:
        cols = torch.where(flip[:, None], cols.flip(1), cols)
    padded = F.pad(images, (pad, pad, pad, pad))
    batch = torch.arange(n, device=device)[:, None, None]
    gathered = padded[batch, :, rows[:, :, None], cols[:, None, :]]  # (N, H, W, C)
    return gathered.permute(0, 3, 1, 2)


class BatchTransform:
    """uint8 (N, C, H, W) batches to normalised float batches, augmented and resized as asked."""

    def __init__(
        self,
        *,
        mean: Sequence[float],
        std: Sequence[float],
        size: tuple[int, int] | None = None,
        augmentation: Augmentation | None = None,
        dtype: torch.dtype = torch.float32,
        channels_last: bool = False,
        device: torch.device | str = "cpu",
    ) -> None:
        device = torch.device(device)
        mean_t = torch.tensor(mean, dtype=torch.float64)
        std_t = torch.tensor(std, dtype=torch.float64)
        # x_float = (x / 255 - mean) / std, folded into one multiply and one subtract.
        self.scale = (1.0 / (255.0 * std_t)).to(device, dtype).view(1, -1, 1, 1)
        self.shift = (mean_t / std_t).to(device, dtype).view(1, -1, 1, 1)
        self.size = size
        self.augmentation = augmentation if augmentation and augmentation.enabled else None
        self.dtype = dtype
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format

    def __call__(
        self, images: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Transform one batch; augmentation needs `generator` and is skipped without one."""
        if self.augmentation is not None and generator is not None:
            images = augment_batch(images, self.augmentation, generator)
        # Normalising before resizing is exact (bilinear weights sum to one) and cheaper when the
        # resize enlarges, as 28 -> 224 does.
        x = images.to(self.dtype).mul_(self.scale).sub_(self.shift)
        if self.size is not None and tuple(x.shape[-2:]) != self.size:
            shrinking = self.size[0] < x.shape[-2] or self.size[1] < x.shape[-1]
            # torchvision's Resize antialiases when shrinking; enlarging is the same either way.
            x = F.interpolate(
                x, size=self.size, mode="bilinear", align_corners=False, antialias=shrinking
            )
        return x.contiguous(memory_format=self.memory_format)
