"""What `cnntui shapes NAME` traces: a model, or the net a preset trains.

A name that is a preset (`cnntui presets`) means what `cnntui run NAME` trains: the preset's
model with its model options, fed its data set's images at its resize. So `shapes vgg11` shows
the ratio-4 net that `run vgg11` trains, not the full-width one. The preset is read by the same
`load_config` that `run` uses, so the two cannot drift apart. Only a resize imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cnntui.config import find_preset, load_config
from cnntui.data.datasets import parse_data_spec
from cnntui.errors import UsageError
from cnntui.zoo import default_input, takes_features

Image = tuple[int, int, int]  # (C, H, W)


@dataclass(frozen=True)
class ShapesTarget:
    """The model to build and the input it takes when `--input` does not say."""

    model: str  # zoo name, torchvision:NAME or module:attr
    options: dict[str, Any] = field(default_factory=dict)
    preset: str | None = None  # the preset the net comes from, when the name was one
    dataset: str | None = None  # the preset's data set
    image: Image | None = None  # (C, H, W) of one example; None when only --input can say
    num_classes: int | None = None  # None: the model's own default
    takes_features: bool = False  # two sizes of --input are N x features, not HxW (an MLP)

    @property
    def in_channels(self) -> int | None:
        """The channels a preset's images have, which its model is built for (as `run` does)."""
        return self.image[0] if self.preset is not None and self.image is not None else None


def resolve_target(name: str, options: dict[str, Any]) -> ShapesTarget:
    """The preset called `name` if there is one, as `cnntui run` reads it; else the model."""
    if find_preset(name) is None:
        return ShapesTarget(
            name,
            dict(options),
            image=default_input(name, options),
            takes_features=takes_features(name),
        )
    return _preset_target(name, options)


def _preset_target(name: str, options: dict[str, Any]) -> ShapesTarget:
    # As in `run`: -o replaces the preset's model options rather than adding to them.
    overrides = {"model_options": dict(options)} if options else {}
    config = load_config(name, None, overrides)
    image, num_classes = _data_image(config.dataset, config.resize)
    return ShapesTarget(
        config.model,
        dict(config.model_options),
        preset=name,
        dataset=config.dataset,
        image=image,
        num_classes=num_classes,
        takes_features=takes_features(config.model),
    )


def _data_image(dataset: str, resize: int | None) -> tuple[Image | None, int | None]:
    """One example's (C, H, W) after the resize, and the class count, from the catalogue alone:
    reading the files could mean a download. None where only the files can say (folder:PATH)."""
    spec = parse_data_spec(dataset)
    stored, num_classes = spec.stored_shape, spec.class_count
    if stored is None:
        return None, num_classes
    channels, height, width = stored
    if resize is not None:
        # The loader's own resize rule, so the traced input is the one training sees.
        from cnntui.data.transforms import resolve_size

        height, width = resolve_size(resize, height, width)
    return (channels, height, width), num_classes


def missing_input(target: ShapesTarget) -> UsageError:
    """The error for a target whose input only `--input` can give."""
    example = "--input 1x3x224x224"
    if target.preset is not None:
        return UsageError(
            f"preset {target.preset} trains on {target.dataset}, whose image size only its "
            f"files know; pass --input, e.g. {example}"
        )
    return UsageError(
        f"{target.model} does not say what input it takes; pass --input, e.g. {example}"
    )
