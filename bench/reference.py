"""The textbook loop cnntui replaces: d2l's `train_ch6` recipe, reproduced for measurement.

What makes it the reference, as the book runs it: torchvision's FashionMNIST with ToTensor (and
Resize for the big nets) behind a DataLoader with 4 workers and shuffling; xavier_uniform_ on
Linear/Conv2d weights; plain SGD; CrossEntropyLoss; and a host sync through `float()` on the loss
and the accuracy of every batch. Its examples/sec, as the book prints it, times only the batch
step (data loading excluded); we also take the wall clock over whole epochs, data included.
"""

from __future__ import annotations

import gzip
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import torch
import torchvision
from torch import nn
from torch.utils.data import DataLoader
from torchvision import transforms

DEBIAN_FMNIST = Path("/usr/share/datasets/fashion-mnist")
RAW_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


@dataclass
class EpochTiming:
    examples: int
    step_seconds: float  # the book's timer: forward, backward, update, metrics
    wall_seconds: float  # the whole epoch, waiting for data included


class StepTimer:
    """The book's Timer: accumulates the seconds between start() and stop()."""

    def __init__(self) -> None:
        self.total = 0.0
        self._started = 0.0

    def start(self) -> None:
        self._started = time.perf_counter()

    def stop(self) -> None:
        self.total += time.perf_counter() - self._started


def torchvision_root(source: Path = DEBIAN_FMNIST) -> Path:
    """A folder laid out as torchvision expects, with the files unpacked (so no download)."""
    root = Path(tempfile.mkdtemp(prefix="cnntui-bench-"))
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for name in RAW_FILES:
        with gzip.open(source / name, "rb") as packed, open(raw / name[:-3], "wb") as unpacked:
            shutil.copyfileobj(packed, unpacked)
    return root


def fashion_mnist_loaders(
    root: Path, batch_size: int, resize: int | None, workers: int = 4
) -> tuple[DataLoader, DataLoader]:
    steps = [transforms.ToTensor()]
    if resize:
        steps.insert(0, transforms.Resize(resize))
    trans = transforms.Compose(steps)
    train = torchvision.datasets.FashionMNIST(root, train=True, transform=trans)
    test = torchvision.datasets.FashionMNIST(root, train=False, transform=trans)
    return (
        DataLoader(train, batch_size, shuffle=True, num_workers=workers),
        DataLoader(test, batch_size, shuffle=False, num_workers=workers),
    )


def xavier_init(module: nn.Module) -> None:
    if type(module) in (nn.Linear, nn.Conv2d):  # d2l's test: a lazy layer not yet built is not
        nn.init.xavier_uniform_(cast(torch.Tensor, module.weight))


def batch_accuracy(y_hat: torch.Tensor, y: torch.Tensor) -> float:
    """Correct predictions in the batch, read back to the host as the book does."""
    return float((y_hat.argmax(dim=1).type(y.dtype) == y).type(y.dtype).sum())


def evaluate_accuracy(net: nn.Module, loader: DataLoader, device: torch.device) -> float:
    net.eval()
    correct = total = 0.0
    with torch.no_grad():
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            correct += batch_accuracy(net(x), y)
            total += y.numel()
    return correct / total


def train_ch6(
    net: nn.Module,
    train_loader: DataLoader,
    test_loader: DataLoader,
    epochs: int,
    lr: float,
    device: torch.device,
) -> tuple[list[EpochTiming], float]:
    """The recipe's loop; returns per-epoch timings and the final test accuracy."""
    net.apply(xavier_init)
    net.to(device)
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    timings = []
    for _ in range(epochs):
        timer = StepTimer()
        metric = [0.0, 0.0, 0.0]  # loss sum, correct, examples
        net.train()
        epoch_start = time.perf_counter()
        for x, y in train_loader:
            timer.start()
            optimizer.zero_grad()
            x, y = x.to(device), y.to(device)
            y_hat = net(x)
            loss = loss_fn(y_hat, y)
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                batch = x.shape[0]
                # The per-batch host syncs the book's Accumulator makes.
                metric[0] += float(loss * batch)
                metric[1] += batch_accuracy(y_hat, y)
                metric[2] += batch
            timer.stop()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        wall = time.perf_counter() - epoch_start
        timings.append(EpochTiming(int(metric[2]), timer.total, wall))
    return timings, evaluate_accuracy(net, test_loader, device)
