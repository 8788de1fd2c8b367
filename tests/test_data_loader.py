"""The device-resident loader and its batch transforms (run on the CPU here)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from cnntui.data.datasets import Augmentation
from cnntui.data.loader import DeviceLoader
from cnntui.data.transforms import BatchTransform, augment_batch, resolve_size

PLAIN = BatchTransform(mean=(0.0,), std=(1.0,))


def numbered(count: int = 103, shape: tuple[int, int, int] = (1, 4, 4)) -> DeviceLoader:
    """A loader whose labels are the example numbers, so batches show the order."""
    images = torch.randint(0, 256, (count, *shape), dtype=torch.uint8, generator=_gen(0))
    return DeviceLoader(images, torch.arange(count), batch_size=10, transform=PLAIN, shuffle=True)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def epoch_order(loader: DeviceLoader, epoch: int, start_batch: int = 0) -> list[int]:
    loader.set_epoch(epoch, start_batch)
    return [int(i) for _, labels in loader for i in labels]


def test_every_example_once_per_epoch() -> None:
    loader = numbered()
    assert len(loader) == 11 and loader.num_examples == 103
    for epoch in range(3):
        order = epoch_order(loader, epoch)
        assert sorted(order) == list(range(103))


def test_order_changes_by_epoch_and_repeats_for_the_same_seed_and_epoch() -> None:
    loader = numbered()
    first, second = epoch_order(loader, 0), epoch_order(loader, 1)
    assert first != second
    assert epoch_order(numbered(), 1) == second, "a fresh loader replays epoch 1"
    assert epoch_order(loader, 0) == first
    other_seed = numbered()
    other_seed.seed = 1
    assert epoch_order(other_seed, 0) != first


def test_order_stays_until_set_epoch_is_called() -> None:
    loader = numbered()
    loader.set_epoch(4)
    assert [int(i) for _, y in loader for i in y] == [int(i) for _, y in loader for i in y]


def test_resume_mid_epoch_sees_the_rest_of_the_same_epoch() -> None:
    loader = numbered()
    loader.transform = BatchTransform(
        mean=(0.0,), std=(1.0,), augmentation=Augmentation(crop_padding=1, hflip=True)
    )
    loader.set_epoch(2)
    full = list(loader)
    loader.set_epoch(2, start_batch=7)
    tail = list(loader)
    assert len(tail) == len(full) - 7
    for (x_full, y_full), (x_tail, y_tail) in zip(full[7:], tail, strict=True):
        assert torch.equal(y_full, y_tail)
        assert torch.equal(x_full, x_tail), "augmentation is keyed by (seed, epoch, batch)"


def test_drop_last() -> None:
    loader = numbered()
    loader.drop_last = True
    assert len(loader) == 10
    sizes = [len(y) for _, y in loader]
    assert sizes == [10] * 10
    loader.drop_last = False
    assert [len(y) for _, y in loader][-1] == 3


def test_unshuffled_loader_keeps_file_order() -> None:
    images = torch.zeros((25, 1, 2, 2), dtype=torch.uint8)
    loader = DeviceLoader(images, torch.arange(25), batch_size=10, transform=PLAIN)
    assert [int(i) for _, y in loader for i in y] == list(range(25))
    x, y = next(iter(loader))
    assert x.dtype == torch.float32 and y.dtype == torch.int64


def test_resize_to_224_and_96_matches_torchvision() -> None:
    from torchvision.transforms import functional as TF

    images = torch.randint(0, 256, (3, 1, 28, 28), dtype=torch.uint8, generator=_gen(1))
    for size in (224, 96):
        transform = BatchTransform(mean=(0.0,), std=(1.0,), size=resolve_size(size, 28, 28))
        resized = transform(images)
        assert resized.shape == (3, 1, size, size)
        reference = TF.resize(images.float() / 255, [size, size], antialias=True)
        assert torch.allclose(resized, reference, atol=1e-5)


def test_resolve_size_int_keeps_the_aspect() -> None:
    assert resolve_size(None, 28, 28) == (28, 28)
    assert resolve_size(64, 32, 48) == (64, 96)
    assert resolve_size(64, 48, 32) == (96, 64)
    assert resolve_size((10, 20), 28, 28) == (10, 20)


def reference_crop_flip(image: torch.Tensor, top: int, left: int, flip: bool, pad: int):
    padded = F.pad(image, (pad, pad, pad, pad))
    window = padded[:, top : top + image.shape[1], left : left + image.shape[2]]
    return window.flip(2) if flip else window


def test_crop_and_flip_keep_shapes_and_are_windows_of_the_padded_image() -> None:
    images = torch.randint(1, 256, (64, 3, 8, 8), dtype=torch.uint8, generator=_gen(2))
    augmentation = Augmentation(crop_padding=2, hflip=True)
    out = augment_batch(images, augmentation, _gen(5))
    assert out.shape == images.shape and out.dtype == torch.uint8
    assert torch.equal(out, augment_batch(images, augmentation, _gen(5))), "deterministic"
    assert not torch.equal(out, augment_batch(images, augmentation, _gen(6)))
    candidates = [(t, s, f) for t in range(5) for s in range(5) for f in (False, True)]
    for image, result in zip(images, out, strict=True):
        matches = [
            c for c in candidates if torch.equal(reference_crop_flip(image, *c, pad=2), result)
        ]
        assert matches, "each output is some crop of the padded image, maybe mirrored"
    flipped = sum(
        torch.equal(result, image.flip(2)) for image, result in zip(images, out, strict=True)
    )
    assert flipped < 64


def test_flip_only_mirrors_about_half() -> None:
    images = torch.randint(0, 256, (200, 1, 5, 5), dtype=torch.uint8, generator=_gen(3))
    out = augment_batch(images, Augmentation(hflip=True), _gen(0))
    mirrored = [torch.equal(o, i.flip(2)) for o, i in zip(out, images, strict=True)]
    kept = [torch.equal(o, i) for o, i in zip(out, images, strict=True)]
    assert all(m or k for m, k in zip(mirrored, kept, strict=True))
    assert 60 < sum(mirrored) < 140


def test_normalisation_gives_zero_mean_unit_std() -> None:
    images = torch.randint(0, 256, (500, 3, 8, 8), dtype=torch.uint8, generator=_gen(4))
    pixels = images.double() / 255
    mean = pixels.mean(dim=(0, 2, 3)).tolist()
    std = pixels.std(dim=(0, 2, 3)).tolist()
    x = BatchTransform(mean=mean, std=std)(images)
    assert x.mean(dim=(0, 2, 3)).abs().max() < 1e-4
    assert (x.std(dim=(0, 2, 3)) - 1).abs().max() < 1e-3


def test_channels_last_output() -> None:
    images = torch.zeros((4, 3, 8, 8), dtype=torch.uint8)
    x = BatchTransform(mean=(0.0,) * 3, std=(1.0,) * 3, channels_last=True)(images)
    assert x.is_contiguous(memory_format=torch.channels_last)
    augmented = BatchTransform(
        mean=(0.0,) * 3, std=(1.0,) * 3, augmentation=Augmentation(crop_padding=1)
    )(images, _gen(0))
    assert augmented.is_contiguous()
