"""Before training: a plain refusal when a model's forward returns something other than one
tensor of class scores, in eval mode or while training.

A run takes `model(x)` as the logits in both modes (step.py, evaluate.py). A user's model that
returns a dict ({"logits": ...}, as segmentation and Hugging Face models do) or a tuple while
training only (torchvision's googlenet and inception_v3 add their auxiliary classifiers'
outputs) otherwise fails at step 0 with torch's "must be Tensor, not dict", after the run
directory exists. Which element holds the class scores is the user's to say, so none is picked.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from cnntui.shapes.placement import make_input, placed_copy
from cnntui.shapes.returned import describe
from cnntui.shapes.trace import REAL_MAX_ELEMENTS, REAL_MAX_PARAMS

META = torch.device("meta")
CPU = torch.device("cpu")
# How torchvision's googlenet and inception_v3 are told to return the class scores alone.
AUX_OPTION = "(aux_logits=True), and a run trains on the class scores alone: -o aux_logits=false"
# Where torch.nn's own layers live: their forwards return the same structure in both modes.
TORCH_LAYERS = "torch.nn.modules."


def returns_problem(
    model: nn.Module, image_shape: tuple[int, ...], num_classes: int, returned_in_eval: str | None
) -> str | None:
    """What is wrong with what the model returns, as the rest of a sentence that starts with the
    model's name; None when both modes return a tensor, or when the model could not be run here
    (the run then shows its own error) and declares no auxiliary outputs.

    `returned_in_eval` is what the shape trace's eval-mode forward of one image returned when
    that was not one tensor (ShapeReport.returned): the trace has run that forward already, so at
    most a training-mode forward runs here.
    """
    if returned_in_eval is not None:
        return _refusal(model, returned_in_eval, num_classes, when="")
    if _torch_layers_only(model):
        return None
    try:
        probe, device = _probe_copy(model, image_shape)
    except Exception:
        return _declared_aux_outputs(model)
    # Batch 2: BatchNorm1d refuses a batch of 1 in training mode.
    train_output = _train_output(probe, shape=(2, *image_shape), device=device)
    if train_output is None:
        # inception_v3's auxiliary classifier raises while training on images under 299 px
        # (224 included): the same option fixes that and what it would have returned.
        return _declared_aux_outputs(model)
    if not isinstance(train_output, torch.Tensor):
        return _refusal(model, describe(train_output), num_classes, when=" while training")
    return None


def _torch_layers_only(model: nn.Module) -> bool:
    """Whether every module is one of torch.nn's own layers with its class's forward (LeNet,
    AlexNet, VGG and NiN are Sequentials of them): training mode changes what they compute
    (dropout, batch statistics), never what they return, so the eval-mode forward has said it
    all, and a VGG-11 at 224 px is spared a batch of 2 that costs twice the trace. A forward
    of anyone else's may return more while training, as googlenet's does."""
    return all(
        type(module).__module__.startswith(TORCH_LAYERS) and "forward" not in vars(module)
        for module in model.modules()
    )


def _declared_aux_outputs(model: nn.Module) -> str | None:
    """The refusal of a model that says it returns auxiliary outputs while training, when
    what it returns could not be seen."""
    if getattr(model, "aux_logits", False) is not True:
        return None
    return (
        "returns its auxiliary classifiers' outputs with the class scores while training "
        f"{AUX_OPTION}"
    )


def _probe_copy(model: nn.Module, image_shape: tuple[int, ...]) -> tuple[nn.Module, torch.device]:
    """A hook-free copy of the model that a forward in training mode cannot change it through.

    Parameters are shared on the cpu (a forward without autograd does not write them), buffers
    are cloned: BatchNorm updates its running statistics in training mode, and the run's first
    step must see the ones the model was built with. A model or input the tracer would not run
    on real tensors (tens of millions of parameters, megapixel images) is probed on meta, where
    a forward costs no compute (the trace has paid for its imports by then).
    """
    params = sum(p.numel() for p in model.parameters())
    elements = torch.Size(image_shape).numel()
    device = CPU if params <= REAL_MAX_PARAMS and elements <= REAL_MAX_ELEMENTS else META
    probe = placed_copy(model, device, torch.float32)
    for module in probe.modules():
        for name, buffer in list(module.named_buffers(recurse=False)):
            setattr(module, name, buffer.clone())
    return probe, device


def _train_output(probe: nn.Module, shape: tuple[int, ...], device: torch.device) -> Any | None:
    """The probe's output in training mode, None when the forward raised: the run says why."""
    probe.train()
    # The forked RNG keeps dropout's draws out of the seed's sequence, as the shape trace does.
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        try:
            return probe(make_input(shape, device, torch.float32))
        except Exception:
            return None


def _refusal(model: nn.Module, returned: str, num_classes: int, when: str) -> str:
    other_mode = " (a tensor in eval mode)" if when else ""
    text = (
        f"returns {returned}{when}{other_mode}, where a run needs one tensor: the class "
        f"scores, batch x {num_classes}. "
    )
    # torchvision's googlenet and inception_v3 have an option for exactly this.
    if getattr(model, "aux_logits", False) is True:
        return text + f"The others are its auxiliary classifiers' outputs {AUX_OPTION}"
    return text + "Make its forward return the class scores alone (a wrapper module can)."
