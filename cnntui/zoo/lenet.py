"""The LeNet family: d2l's LeNet, its batch-norm version, and a LeNet-style net for CIFAR-10.

`activation` and `pool` swap the sigmoid and average pooling of the original for the variants the
d2l text and its readers compare (ReLU, max pooling, ...).
"""

from __future__ import annotations

from torch import nn

from cnntui.zoo.layers import activation as act
from cnntui.zoo.layers import pool as make_pool


def lenet(
    in_channels: int = 1, num_classes: int = 10, activation: str = "sigmoid", pool: str = "avg"
) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(in_channels, 6, kernel_size=5, padding=2),
        act(activation),
        make_pool(pool),
        nn.Conv2d(6, 16, kernel_size=5),
        act(activation),
        make_pool(pool),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120),
        act(activation),
        nn.Linear(120, 84),
        act(activation),
        nn.Linear(84, num_classes),
    )


def lenet_bn(
    in_channels: int = 1, num_classes: int = 10, activation: str = "sigmoid", pool: str = "avg"
) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(in_channels, 6, kernel_size=5),
        nn.BatchNorm2d(6),
        act(activation),
        make_pool(pool),
        nn.Conv2d(6, 16, kernel_size=5),
        nn.BatchNorm2d(16),
        act(activation),
        make_pool(pool),
        nn.Flatten(),
        nn.Linear(16 * 4 * 4, 120),
        nn.BatchNorm1d(120),
        act(activation),
        nn.Linear(120, 84),
        nn.BatchNorm1d(84),
        act(activation),
        nn.Linear(84, num_classes),
    )


def lenet5_cifar(
    in_channels: int = 3, num_classes: int = 10, activation: str = "relu", pool: str = "max"
) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(in_channels, 16, kernel_size=5),
        act(activation),
        make_pool(pool),
        nn.Conv2d(16, 32, kernel_size=5),
        act(activation),
        make_pool(pool),
        nn.Flatten(),
        nn.Linear(32 * 5 * 5, 32),
        act(activation),
        nn.Linear(32, num_classes),
    )
