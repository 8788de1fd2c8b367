"""The accuracy chart: training accuracy per logging window and val/test accuracy per epoch."""

from __future__ import annotations

from cnntui.tui import format as fmt
from cnntui.tui.state import RunState
from cnntui.tui.widgets.chart import MetricChart, latest, latest_values


class AccuracyChart(MetricChart):
    """Accuracy in percent against epochs."""

    def has_data(self, state: RunState) -> bool:
        return len(state.train_accuracy) > 0 or any(
            v is not None for v in state.epochs.val_accuracy
        )

    def subtitle(self, state: RunState) -> str:
        pairs = [
            ("train", state.train_accuracy.last()),
            ("val", latest(state.epochs.val_accuracy)),
            ("test", latest(state.epochs.test_accuracy)),
        ]
        return latest_values(pairs, fmt.percent, self.subtitle_width)

    def draw(self, state: RunState, columns: int) -> None:
        self.plot_steps(state, state.train_accuracy.view(columns), "train", scale=100)
        self.plot_epochs(state, state.epochs.val_accuracy, "val", scale=100)
        self.plot_epochs(state, state.epochs.test_accuracy, "test", scale=100)
