"""A multilayer perceptron for MNIST: 784-300-100-10 with ReLU."""

from __future__ import annotations

from torch import nn


def mlp(in_channels: int = 1, num_classes: int = 10, image_size: int = 28) -> nn.Module:
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(in_channels * image_size * image_size, 300),
        nn.ReLU(),
        nn.Linear(300, 100),
        nn.ReLU(),
        nn.Linear(100, num_classes),
    )
