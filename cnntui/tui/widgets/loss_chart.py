"""The loss chart: training loss per step (smoothed) and val/test loss per epoch."""

from __future__ import annotations

from cnntui.tui import format as fmt
from cnntui.tui.state import RunState
from cnntui.tui.widgets.chart import MetricChart, latest, latest_values


class LossChart(MetricChart):
    """`log_scale` switches the y axis to log10 (the `l` key)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.log_scale = False

    def set_log_scale(self, on: bool) -> None:
        self.log_scale = on
        self.border_title = "Loss (log)" if on else "Loss"
        self.refresh()

    def has_data(self, state: RunState) -> bool:
        return len(state.loss) > 0 or any(v is not None for v in state.epochs.val_loss)

    def empty_text(self, state: RunState | None) -> str:
        if state is not None and state.loss.nonfinite and not len(state.loss):
            return "no finite loss to plot: every step's loss was nan or inf"
        return super().empty_text(state)

    def subtitle(self, state: RunState) -> str:
        pairs = [
            ("train", state.loss.last()),
            ("val", latest(state.epochs.val_loss)),
            ("test", latest(state.epochs.test_loss)),
        ]
        return latest_values(pairs, fmt.metric, self.subtitle_width)

    def draw(self, state: RunState, columns: int) -> None:
        # One bucket per column: the envelope spans each column's range, the mean runs through.
        self.plot_steps(state, state.loss.view(columns), "train", positive_only=self.log_scale)
        self.plot_epochs(state, state.epochs.val_loss, "val", positive_only=self.log_scale)
        self.plot_epochs(state, state.epochs.test_loss, "test", positive_only=self.log_scale)
        if self.log_scale:
            self.plt.yscale("log")
