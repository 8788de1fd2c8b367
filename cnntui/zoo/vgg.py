"""VGG-11 from d2l's vgg_block; `ratio` divides every width as the book does to train it (4)."""

from __future__ import annotations

from torch import nn

from cnntui.errors import UsageError

VGG11_ARCH = ((1, 64), (1, 128), (2, 256), (2, 512), (2, 512))


def vgg_block(num_convs: int, in_channels: int, out_channels: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for _ in range(num_convs):
        layers += [nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1), nn.ReLU()]
        in_channels = out_channels
    layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
    return nn.Sequential(*layers)


def vgg11(
    in_channels: int = 1, num_classes: int = 10, ratio: int = 1, dropout: float = 0.5
) -> nn.Module:
    if ratio < 1 or 64 % ratio:
        raise UsageError(f"vgg11 ratio must divide 64 (1, 2, 4, 8, ...), got {ratio}")
    blocks = []
    for num_convs, width in VGG11_ARCH:
        out_channels = width // ratio
        blocks.append(vgg_block(num_convs, in_channels, out_channels))
        in_channels = out_channels
    return nn.Sequential(
        *blocks,
        nn.Flatten(),
        nn.Linear(in_channels * 7 * 7, 4096),
        nn.ReLU(),
        nn.Dropout(p=dropout),
        nn.Linear(4096, 4096),
        nn.ReLU(),
        nn.Dropout(p=dropout),
        nn.Linear(4096, num_classes),
    )
