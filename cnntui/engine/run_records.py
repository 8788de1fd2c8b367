"""What a run leaves for others to read, built from the training loop's state: the contents of
its checkpoints (resume.py puts them back) and of its summary.json (scripts, `cnntui watch`).

Their layouts are promises to those readers, kept here apart from how the loop trains.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from cnntui import __version__
from cnntui.engine.distributed import unwrap
from cnntui.engine.events import RunStatus

if TYPE_CHECKING:
    from cnntui.engine.loop import TrainingLoop


def checkpoint_state(loop: TrainingLoop) -> dict[str, Any]:
    """What last.pt and best.pt hold: the run where it stands, to resume from (resume.py)."""
    model = unwrap(loop.model)
    state: dict[str, Any] = {
        "format": "cnntui-checkpoint-1",
        "cnntui_version": __version__,
        "model": model.state_dict(),
        "optimizer": loop.optimizer.state_dict(),
        "schedule": loop.schedule.state_dict(),
        "step": loop.step,
        "epoch": loop.epoch,
        "epoch_batch": loop.setup.start_batch,
        "epoch_progress": loop.tally.progress() if loop.setup.start_batch else None,
        "history": loop.history,
        "totals": {
            "examples": loop.examples,
            "train_seconds": loop.train_seconds,
            "data_wait_seconds": loop.data_wait_seconds,
        },
        "best_accuracy": loop.best_accuracy,
        "config": loop.config.to_dict(),
        "classes": list(loop.data.classes),
        # Where the data was read (absolute for folder:PATH): eval and --resume read it there
        # whichever folder they run in (data.datasets.saved_data_spec).
        "data_source": loop.data.source,
        "input_shape": list(loop.data.input_shape),
        "rng_cpu": torch.get_rng_state(),
    }
    if loop.scaler is not None:
        state["scaler"] = loop.scaler.state_dict()
    if loop.device.type == "cuda":
        state["rng_cuda"] = torch.cuda.get_rng_state(loop.device)
    return state


def run_summary(
    loop: TrainingLoop, status: RunStatus, code: int, duration: float, message: str
) -> dict[str, Any]:
    """What summary.json holds: how the run ended, its totals and its epochs."""
    last = loop.history[-1] if loop.history else {}
    return {
        "status": status,
        "exit_code": code,
        "message": message,
        "model": loop.config.model,
        "dataset": loop.config.dataset,
        "device": str(loop.device),
        "steps": loop.step,
        "epochs_completed": len(loop.history) + loop.setup.epochs_before,
        "examples": loop.examples,
        "duration": duration,
        "train_seconds": loop.train_seconds,
        "data_wait_seconds": loop.data_wait_seconds,
        "reporting_seconds": loop.trainer.reporting_seconds,
        "examples_per_sec": loop.examples / loop.train_seconds if loop.train_seconds else None,
        "best_accuracy": loop.best_accuracy,
        "final": {k: v for k, v in last.items() if k not in ("event", "time")},
        "epochs": loop.history,
        "run_dir": str(loop.setup.run_dir) if loop.setup.run_dir else None,
    }
