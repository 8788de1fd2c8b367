"""The model zoo: d2l's nets by name, any torchvision classifier, or a user's own module.

Names resolve three ways:
- a zoo name (`lenet`, `resnet18`, ...) from `registry.ZOO`;
- `torchvision:NAME`, any torchvision classification model, built without weights;
- `package.module:attr` or `path/to/file.py:attr`, a user's nn.Module class, factory or instance.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cnntui.errors import UsageError
from cnntui.wording import did_you_mean
from cnntui.zoo.registry import ZOO, ModelSpec

if TYPE_CHECKING:
    from torch import nn

__all__ = [
    "ZOO",
    "BuiltModel",
    "ModelSpec",
    "build_model",
    "default_input",
    "option_defaults",
    "resolve_spec",
    "takes_features",
]


@dataclass
class BuiltModel:
    module: nn.Module
    name: str
    default_input: tuple[int, int, int] | None  # (C, H, W) when the source knows it


def resolve_spec(name: str) -> ModelSpec:
    """The zoo entry for `name`, or a one-line error with the closest names."""
    spec = ZOO.get(name.lower())
    if spec is not None:
        return spec
    hint = did_you_mean(name.lower(), ZOO)
    raise UsageError(
        f"unknown model {name!r}{hint}; see `cnntui models`, or use torchvision:NAME or module:attr"
    )


def default_input(name: str, options: dict[str, Any] | None = None) -> tuple[int, int, int] | None:
    """The (C, H, W) a model is meant for with these options, without building it when the zoo
    knows."""
    if ":" not in name:
        return resolve_spec(name).input_for(options)
    if name.startswith("torchvision:"):
        return (3, 224, 224)
    return None


def option_defaults(name: str) -> dict[str, Any]:
    """The options a zoo model is built with where none are given: its factory's keyword
    defaults, then the zoo's own. Empty for torchvision's and users' models, whose defaults
    cnntui does not read."""
    if ":" in name or name.lower() not in ZOO:
        return {}
    spec = resolve_spec(name)
    params = _factory_options(spec)
    defaults = {key: p.default for key, p in params.items() if p.default is not p.empty}
    return {**defaults, **spec.options}


def takes_features(name: str) -> bool:
    """Whether a zoo model starts by flattening its input, so N x features (1x784) fits it as
    well as an image does. A user's module has no default input; two sizes are NxF for it."""
    return ":" not in name and resolve_spec(name).takes_features


def build_model(
    name: str,
    in_channels: int | None = None,
    num_classes: int | None = None,
    options: dict[str, Any] | None = None,
    classes_asked: bool = False,
) -> BuiltModel:
    """Build a model by zoo name, `torchvision:NAME`, or `module:attr`.

    `classes_asked`: the user gave `num_classes` (--num-classes), so a user's module that cannot
    take it is refused; otherwise (a data set's class count) it is passed only where it fits.
    """
    options = dict(options or {})
    if name.startswith("torchvision:"):
        from cnntui.zoo.external import build_torchvision

        module = build_torchvision(name.split(":", 1)[1], num_classes, options)
        return BuiltModel(module, name, (3, 224, 224))
    if ":" in name:
        from cnntui.zoo.external import build_user_model

        module = build_user_model(name, in_channels, num_classes, options, classes_asked)
        return BuiltModel(module, name, None)

    spec = resolve_spec(name)
    unknown = set(options) - set(spec.options) - _factory_keywords(spec)
    if unknown:
        allowed = ", ".join(sorted(spec.options)) or "none"
        raise UsageError(
            f"model {spec.name} has no option {', '.join(sorted(unknown))} (options: {allowed})"
        )
    factory = _import_factory(spec.factory)
    kwargs: dict[str, Any] = {**spec.options, **options}
    # What the net is really built for: the channels it was given and the side its options set.
    built_for = spec.input_for(options, in_channels)
    kwargs["in_channels"] = built_for[0]
    if num_classes is not None:
        kwargs["num_classes"] = num_classes
    return BuiltModel(factory(**kwargs), spec.name, built_for)


def _import_factory(path: str) -> Any:
    import importlib

    module_name, attr = path.split(":")
    return getattr(importlib.import_module(module_name), attr)


def _factory_keywords(spec: ModelSpec) -> set[str]:
    """Keyword options a factory accepts beyond the advertised ones (dropout, growth_rate...)."""
    return set(_factory_options(spec))


def _factory_options(spec: ModelSpec) -> dict[str, inspect.Parameter]:
    """The factory's parameters other than the two cnntui passes itself."""
    params = inspect.signature(_import_factory(spec.factory)).parameters
    return {k: p for k, p in params.items() if k not in ("in_channels", "num_classes")}
