"""AlexNet as d2l adapts it to 1-channel 224x224 Fashion-MNIST."""

from __future__ import annotations

from torch import nn


def alexnet(in_channels: int = 1, num_classes: int = 10, dropout: float = 0.5) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(in_channels, 96, kernel_size=11, stride=4, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(96, 256, kernel_size=5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(256, 384, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.Conv2d(384, 384, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.Conv2d(384, 256, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Flatten(),
        nn.Linear(6400, 4096),
        nn.ReLU(),
        nn.Dropout(p=dropout),
        nn.Linear(4096, 4096),
        nn.ReLU(),
        nn.Dropout(p=dropout),
        nn.Linear(4096, num_classes),
    )
