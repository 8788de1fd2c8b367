"""DenseNet (d2l): dense blocks of BN-ReLU-Conv units joined by halving transition layers."""

from __future__ import annotations

import torch
from torch import nn


def conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.BatchNorm2d(in_channels),
        nn.ReLU(),
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1),
    )


class DenseBlock(nn.Module):
    """Each conv block sees the concatenation of the input and every earlier block's output."""

    def __init__(self, num_convs: int, in_channels: int, growth_rate: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            *(conv_block(in_channels + i * growth_rate, growth_rate) for i in range(num_convs))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.net:
            x = torch.cat((x, block(x)), dim=1)
        return x


def transition_block(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.BatchNorm2d(in_channels),
        nn.ReLU(),
        nn.Conv2d(in_channels, out_channels, kernel_size=1),
        nn.AvgPool2d(kernel_size=2, stride=2),
    )


def densenet(
    in_channels: int = 1,
    num_classes: int = 10,
    growth_rate: int = 32,
    convs_per_block: tuple[int, ...] = (4, 4, 4, 4),
) -> nn.Module:
    b1 = nn.Sequential(
        nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3),
        nn.BatchNorm2d(64),
        nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
    )
    layers: list[nn.Module] = [b1]
    channels = 64
    for i, num_convs in enumerate(convs_per_block):
        layers.append(DenseBlock(num_convs, channels, growth_rate))
        channels += num_convs * growth_rate
        if i != len(convs_per_block) - 1:
            layers.append(transition_block(channels, channels // 2))
            channels //= 2
    layers += [
        nn.BatchNorm2d(channels),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d((1, 1)),
        nn.Flatten(),
        nn.Linear(channels, num_classes),
    ]
    return nn.Sequential(*layers)
