"""The zoo's catalogue: names, default inputs and parameter counts, without importing torch.

`cnntui models` reads only this table, so listing the zoo stays instant. The parameter counts are
data, checked against the built models by the test suite.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cnntui.errors import UsageError


@dataclass(frozen=True)
class ModelSpec:
    name: str
    factory: str  # "module:function", imported only when the model is built
    default_input: tuple[int, int, int]  # (channels, height, width) the book feeds it
    params: int  # parameter count with the default options, 1 channel in (3 for CIFAR), 10 out
    summary: str
    options: dict[str, object] = field(default_factory=dict)  # option name -> default
    # The option that sets the square image side the model is built for (an MLP's first Linear
    # is sized from it), so its input follows the option instead of default_input's side.
    size_option: str | None = None
    # Its first layer flattens the input (an MLP), so it also takes N x features (1x784).
    takes_features: bool = False

    def input_for(
        self, options: dict[str, object] | None = None, in_channels: int | None = None
    ) -> tuple[int, int, int]:
        """The (C, H, W) the model is built for with these options and input channels."""
        channels, height, width = self.default_input
        if in_channels is not None:
            channels = in_channels
        side = (options or {}).get(self.size_option) if self.size_option else None
        if side is None:
            return channels, height, width
        if isinstance(side, bool) or not isinstance(side, int) or side < 1:
            raise UsageError(
                f"model {self.name}: option {self.size_option} is the input's side and must be "
                f"a whole number of at least 1, got {side!r}"
            )
        return channels, side, side


LENET_OPTIONS = {"activation": "sigmoid", "pool": "avg"}

ZOO: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in [
        ModelSpec(
            "lenet",
            "cnntui.zoo.lenet:lenet",
            (1, 28, 28),
            61_706,
            "LeNet-5 as in d2l: sigmoid, average pooling",
            dict(LENET_OPTIONS),
        ),
        ModelSpec(
            "lenet-bn",
            "cnntui.zoo.lenet:lenet_bn",
            (1, 28, 28),
            44_878,
            "LeNet with batch normalisation (d2l's nn.BatchNorm version)",
            dict(LENET_OPTIONS),
        ),
        ModelSpec(
            "lenet5-cifar",
            "cnntui.zoo.lenet:lenet5_cifar",
            (3, 32, 32),
            40_010,
            "LeNet-style net for CIFAR-10 (16/32 channels, ReLU, max pooling)",
            {"activation": "relu", "pool": "max"},
        ),
        ModelSpec(
            "mlp",
            "cnntui.zoo.mlp:mlp",
            (1, 28, 28),
            266_610,
            "Multilayer perceptron 784-300-100-10 with ReLU",
            {"image_size": 28},
            size_option="image_size",
            takes_features=True,
        ),
        ModelSpec(
            "alexnet",
            "cnntui.zoo.alexnet:alexnet",
            (1, 224, 224),
            46_764_746,
            "AlexNet for 1-channel 224x224 input, dropout 0.5",
        ),
        ModelSpec(
            "vgg11",
            "cnntui.zoo.vgg:vgg11",
            (1, 224, 224),
            128_806_154,
            "VGG-11; option ratio divides every width (d2l trains ratio 4)",
            {"ratio": 1},
        ),
        ModelSpec(
            "nin",
            "cnntui.zoo.nin:nin",
            (1, 224, 224),
            1_992_166,
            "Network in Network: 1x1 convolutions, global average pooling",
        ),
        ModelSpec(
            "googlenet",
            "cnntui.zoo.googlenet:googlenet",
            (1, 96, 96),
            5_977_530,
            "GoogLeNet with Inception blocks",
        ),
        ModelSpec(
            "resnet18",
            "cnntui.zoo.resnet:resnet18",
            (1, 96, 96),
            11_178_378,
            "ResNet-18 built from d2l's Residual blocks",
        ),
        ModelSpec(
            "densenet",
            "cnntui.zoo.densenet:densenet",
            (1, 96, 96),
            758_226,
            "DenseNet: growth 32, four dense blocks of four convs",
        ),
        ModelSpec(
            "convnet-bn",
            "cnntui.zoo.convnet:convnet_bn",
            (1, 28, 28),
            140_458,
            "Small modern CNN: 3x3 convs with batch norm, global average pooling",
            {"width": 32},
        ),
    ]
}
