"""Synthetic image classification data: deterministic, any shape, learnable.

Each class has a smooth random template; an image is the average of its class template and uniform
noise, plus a brightness jitter. A small net learns it within an epoch, so tests and benchmarks can
watch the accuracy rise without any files.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from cnntui.data.readers import RawSplits
from cnntui.data.seeding import mix_seed

TEMPLATE_GRID = 4  # templates are upsampled from a 4x4 grid, so nets see blobs, not pixels
_STREAM_TEMPLATES, _STREAM_TRAIN, _STREAM_TEST = 0, 1, 2


def make_synthetic(
    shape: tuple[int, int, int] = (1, 28, 28),
    num_classes: int = 10,
    train_size: int = 4000,
    test_size: int = 1000,
    seed: int = 0,
) -> RawSplits:
    """Generate the train and test sets on the CPU; the same arguments give the same bytes."""
    channels, height, width = shape
    generator = torch.Generator().manual_seed(mix_seed(seed, _STREAM_TEMPLATES))
    grid = torch.rand(num_classes, channels, TEMPLATE_GRID, TEMPLATE_GRID, generator=generator)
    templates = F.interpolate(grid, size=(height, width), mode="bilinear", align_corners=False)
    templates = templates.mul_(255).round_().to(torch.int16)
    train = _sample(templates, train_size, mix_seed(seed, _STREAM_TRAIN))
    test = _sample(templates, test_size, mix_seed(seed, _STREAM_TEST))
    return RawSplits(*train, *test, [f"class {k}" for k in range(num_classes)], "generated")


def _sample(templates: torch.Tensor, count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    num_classes = templates.shape[0]
    generator = torch.Generator().manual_seed(seed)
    # Balanced classes in a shuffled order.
    labels = (torch.arange(count) % num_classes)[torch.randperm(count, generator=generator)]
    images = torch.empty((count, *templates.shape[1:]), dtype=torch.uint8)
    # Integer arithmetic on uint8 noise: the CPU generator is the cost here, and uint8 draws are
    # the cheapest. Chunks bound the working memory for large shapes such as 3x224x224.
    chunk = max(1, (1 << 22) // templates[0].numel())
    for start in range(0, count, chunk):
        batch_labels = labels[start : start + chunk]
        n = len(batch_labels)
        noise = torch.randint(
            0, 256, (n, *templates.shape[1:]), generator=generator, dtype=torch.uint8
        )
        brightness = torch.randint(-25, 26, (n, 1, 1, 1), generator=generator, dtype=torch.int16)
        pixels = (templates[batch_labels] + noise + 1).div_(2, rounding_mode="floor") + brightness
        images[start : start + n] = pixels.clamp_(0, 255).to(torch.uint8)
    return images, labels
