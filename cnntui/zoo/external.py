"""Models from outside the zoo: torchvision classifiers and users' own modules."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from pathlib import Path
from typing import Any

from torch import nn

from cnntui.errors import UsageError
from cnntui.wording import did_you_mean


def build_torchvision(name: str, num_classes: int | None, options: dict[str, Any]) -> nn.Module:
    """Any torchvision classification model, randomly initialised (nothing is downloaded)."""
    from torchvision import models

    available = models.list_models(module=models)
    if name not in available:
        hint = did_you_mean(name, available)
        raise UsageError(f"torchvision has no classification model {name!r}{hint}")
    kwargs = dict(options)
    kwargs["weights"] = None
    if num_classes is not None:
        kwargs["num_classes"] = num_classes
    try:
        return models.get_model(name, **kwargs)
    except TypeError as exc:
        raise UsageError(f"torchvision:{name}: {exc}") from None


def build_user_model(
    ref: str,
    in_channels: int | None,
    num_classes: int | None,
    options: dict[str, Any],
    classes_asked: bool = False,
) -> nn.Module:
    """Load `package.module:attr` or `path/to/file.py:attr` and make an nn.Module of it.

    `in_channels` and `num_classes` go to a class or factory that takes them; when
    `classes_asked` (the user gave --num-classes), one that cannot is a UsageError rather
    than a net with classes of its own choosing.
    """
    target = load_user_target(ref)
    if classes_asked and num_classes is not None:
        _check_takes_classes(ref, target, num_classes)
    if isinstance(target, nn.Module):
        if options:
            # Built already: the options would go nowhere, yet the header would name them.
            names = ", ".join(sorted(options))
            raise UsageError(
                f"{ref} is a module already built, so options ({names}) cannot change it; "
                "point at its class or a factory that takes them"
            )
        return target
    kwargs = dict(options)
    accepted = _accepted_keywords(target)
    for key, value in (("in_channels", in_channels), ("num_classes", num_classes)):
        if value is not None and (accepted is None or key in accepted):
            kwargs[key] = value
    try:
        built = target(**kwargs)
    except TypeError as exc:
        raise UsageError(f"{ref}: {exc}") from exc
    except Exception as exc:
        # The user's own code failed: one line names it; --debug shows the chained traceback.
        raise UsageError(f"building the model from {ref} failed: {_one_line(exc)}") from exc
    if not isinstance(built, nn.Module):
        raise UsageError(f"{ref} returned {type(built).__name__}, not an nn.Module")
    return built


def _check_takes_classes(ref: str, target: Any, num_classes: int) -> None:
    """A UsageError when `target` cannot be given `num_classes`, which would go unused."""
    if isinstance(target, nn.Module):
        why = "is a module already built"
    else:
        accepted = _accepted_keywords(target)
        if accepted is None or "num_classes" in accepted:
            return
        why = "takes no num_classes argument"
    raise UsageError(f"--num-classes {num_classes}: {ref} {why}, so its own layers set the classes")


def load_user_target(ref: str) -> Any:
    """The module, class or factory `ref` names, imported but not called; UsageError if none."""
    location, _, attr = ref.rpartition(":")
    if not location or not attr:
        raise UsageError(f"model reference {ref!r} should look like module:attr or file.py:attr")
    module = _load_module(location)
    try:
        target = getattr(module, attr)
    except AttributeError:
        public = [n for n in vars(module) if not n.startswith("_")]
        hint = did_you_mean(attr, public, cutoff=0.6)
        raise UsageError(f"{location} has no attribute {attr!r}{hint}") from None
    if not isinstance(target, nn.Module) and not callable(target):
        raise UsageError(f"{ref} is neither an nn.Module nor a class or function that makes one")
    return target


def model_file(location: str) -> Path | None:
    """The file that `location`, a model reference's part before its `:attr`, names (as in
    `path/to/file.py:attr`); None for a module to import (`package.module:attr`)."""
    if location.endswith(".py") or "/" in location or "\\" in location:
        return Path(location).expanduser()
    return None


def _load_module(location: str) -> Any:
    path = model_file(location)
    if path is not None:
        if not path.is_file():
            raise UsageError(f"model file {location} does not exist")
        module_name = f"cnntui_user_{path.stem}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise UsageError(f"cannot load {location} as a Python module")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        folder = str(path.resolve().parent)
        added = folder not in sys.path
        if added:
            # As `python path/to/file.py` does: the file's folder first on the path while it
            # is imported, so that its siblings (`from layers import Block`) win over
            # installed modules of the same name.
            sys.path.insert(0, folder)
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            del sys.modules[module_name]
            raise UsageError(f"importing {location} failed: {_one_line(exc)}") from exc
        finally:
            if added:
                # Then last, where its forward can still import a sibling lazily, but a
                # `rich.py` or `plotext.py` beside it can't shadow what cnntui imports later.
                sys.path.remove(folder)
                sys.path.append(folder)
        return module
    try:
        return importlib.import_module(location)
    except ModuleNotFoundError as exc:
        raise UsageError(f"cannot import {location}: {exc}") from None
    except Exception as exc:
        raise UsageError(f"importing {location} failed: {_one_line(exc)}") from exc


def _one_line(exc: BaseException) -> str:
    """`Type: first line of the message`, the way a traceback's last line names an error."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def _accepted_keywords(target: Any) -> set[str] | None:
    """Keyword names `target` accepts, or None when it takes **kwargs or has no signature."""
    if inspect.isclass(target) and target.__init__ is nn.Module.__init__:
        # A module with no __init__ of its own: nn.Module's takes **kwargs only to refuse them.
        return set()
    try:
        params = inspect.signature(target).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return {p.name for p in params}
