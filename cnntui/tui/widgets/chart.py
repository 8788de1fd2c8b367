"""The shared chart pane: a PlotextPlot that downsamples to its own width at render time."""

from __future__ import annotations

import math
from collections.abc import Sequence

from rich.text import Text
from textual.app import RenderResult
from textual_plotext import PlotextPlot

from cnntui.tui.axis_labels import Y_AXIS_WIDTH, y_ticks
from cnntui.tui.downsample import SeriesView, ema
from cnntui.tui.plot_text import figure_text
from cnntui.tui.state import RunState
from cnntui.tui.widgets.paced import REDRAW_BUDGET, PacedRedraw

SUBTITLE_MARGIN = 6  # the bottom border's corners and dashes around its subtitle
SMOOTHING = 0.6
COLORS = {"raw": "gray", "train": "cyan+", "val": "orange+", "test": "magenta+"}


class MetricChart(PlotextPlot):
    """Subclasses implement `draw`; the data is read from the state only when the pane renders."""

    DEFAULT_CSS = """
    MetricChart {
        height: 1fr;
        min-height: 6;
    }
    """
    log_scale = False  # a log10 y axis: the loss chart's `l` key

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._state: RunState | None = None
        self._ys: list[float] = []  # every y the figure being drawn plots, for its tick labels
        self.pacing = PacedRedraw(self, self._redraw)  # charts follow the data about once a second

    def update_from(self, state: RunState) -> None:
        self._state = state
        self.pacing.request()

    def _redraw(self) -> None:
        if self._state is not None:
            # Setting the subtitle repaints the whole chart, so it changes only with the plot.
            self.border_subtitle = self.subtitle(self._state)
        self.refresh()

    def subtitle(self, state: RunState) -> str:
        """The latest values under the chart: exact numbers the plot cannot give."""
        return ""

    @property
    def subtitle_width(self) -> int:
        """Columns the bottom border has for the subtitle (all it wants before the first layout)."""
        return self.size.width - SUBTITLE_MARGIN if self.size.width else 1_000

    def on_resize(self) -> None:
        # The subtitle is fitted to the width: a narrower pane takes fewer of its values.
        if self._state is not None:
            self.border_subtitle = self.subtitle(self._state)

    def render(self) -> RenderResult:
        state = self._state
        width, height = self.size.width, self.size.height
        if state is None or not self.has_data(state) or width < 12 or height < 4:
            return Text(self.empty_text(state), style="dim", justify="center")
        with self.pacing.measure(self):
            return self._render_plot(state, width, height)

    def _render_plot(self, state: RunState, width: int, height: int) -> RenderResult:
        plt = self.plt
        plt.clear_figure()
        # No top and right frame lines: a row and a column more for data on small panes.
        plt.xaxes(True, False)
        plt.yaxes(True, False)
        plt.xfrequency(max(2, min(6, width // 14)))
        y_count = max(2, min(5, height // 3))
        plt.yfrequency(y_count)
        self._ys = []
        self.draw(state, max(8, width - Y_AXIS_WIDTH))
        span = x_span(state)
        if span is not None:
            plt.xlim(*span)
        ticks = y_ticks(self._ys, y_count, self.log_scale)
        if ticks is not None:
            plt.yticks(*ticks)
        return self.plot_text()

    def plot_text(self) -> Text:
        """What PlotextPlot.render returns (the sized, themed figure), 20-50% cheaper: read from
        plotext's matrix rather than printed as ANSI and decoded again (cnntui/tui/plot_text.py)."""
        plot, (width, height) = self.plt, self.size
        plot.plotsize(width, height)
        plot._set_size(width, height)
        plot.theme(self._get_plotext_theme_name(self.app.theme))
        return figure_text(plot)

    def empty_text(self, state: RunState | None) -> str:
        """What an empty chart says: a run that ended without a step to plot (one failed or
        stopped at once in its first step) is not waiting for its first steps any more."""
        if state is None or not state.ended:
            return "waiting for the first steps…"
        return "no step was reported before the run ended"

    def has_data(self, state: RunState) -> bool:
        raise NotImplementedError

    def draw(self, state: RunState, columns: int) -> None:
        raise NotImplementedError

    def plot_steps(
        self,
        state: RunState,
        view: SeriesView,
        label: str,
        scale: float = 1.0,
        positive_only: bool = False,
    ) -> None:
        """A step series: its min/max envelope dim, its smoothed mean bright."""
        xs = [state.step_to_epoch(x) for x in view.xs]
        env_x, env_y = view.envelope()
        env_x = [state.step_to_epoch(x) for x in env_x]
        self.line(env_x, [y * scale for y in env_y], None, COLORS["raw"], positive_only)
        smooth = ema(view.means, SMOOTHING)
        self.line(xs, [y * scale for y in smooth], label, COLORS["train"], positive_only)

    def plot_epochs(
        self,
        state: RunState,
        values: Sequence[float | None],
        label: str,
        scale: float = 1.0,
        positive_only: bool = False,
    ) -> None:
        """A per-epoch series (val or test) at the epochs' last steps."""
        xs = [
            state.step_to_epoch(s)
            for s, v in zip(state.epochs.steps, values, strict=True)
            if v is not None
        ]
        ys = [v * scale for v in values if v is not None]
        if xs:
            self.line(xs, ys, label, COLORS[label], positive_only, marker="hd")

    def line(
        self,
        xs: Sequence[float],
        ys: Sequence[float],
        label: str | None,
        color: str,
        positive_only: bool,
        marker: str = "braille",
    ) -> None:
        """Plot finite points (positive ones on a log scale, where others have no place)."""
        points = [
            (x, y)
            for x, y in zip(xs, ys, strict=True)
            if math.isfinite(y) and (y > 0 or not positive_only)
        ]
        if not points:
            return
        self._ys += [p[1] for p in points]
        self.plt.plot(
            [p[0] for p in points], [p[1] for p in points], marker=marker, color=color, label=label
        )


def x_span(state: RunState) -> tuple[float, float] | None:
    """The x axis every chart shares, in epochs: from the run's start to its latest step.
    Left to plotext, each chart's axis spanned its own data: the loss has every step and the
    accuracy one point a window, so the same column was epoch 0.01 above and 0.13 below (ticks
    0.02 … 1.66 beside 0.13 … 1.67). The start is where this session began (a resumed run's
    step), or earlier where the series hold earlier sessions (watch of a resumed run's log);
    the end is later than the latest step where an earlier session went further (resumed from
    a checkpoint before a divergence: the steps up to it stay in view)."""
    series = (state.loss, state.train_accuracy)
    starts: list[float] = [state.started.start_step if state.started else 0]
    starts += [s.first_x - 1 for s in series if s.first_x is not None]
    first = max(0.0, min(starts))
    last = max(
        [state.step, *state.epochs.steps, *(s.last_x for s in series if s.last_x is not None)]
    )
    if last <= first:
        return None
    return state.step_to_epoch(first), state.step_to_epoch(last)


def latest(values: Sequence[float | None]) -> float | None:
    """The last value that is not None."""
    return next((v for v in reversed(values) if v is not None), None)


def latest_values(pairs: Sequence[tuple[str, float | None]], fmt_value, width: int) -> str:
    """`train 0.372 · val 0.482 · x: epochs` for the pairs that have a value, as many as fit in
    `width` columns: the border's ellipsis cut the last into a wrong number (`val 0.84…`)."""
    parts = [f"{name} {fmt_value(value)}" for name, value in pairs if value is not None]
    shown: list[str] = []
    for part in [*parts, "x: epochs"]:
        if len(" · ".join([*shown, part])) > width:
            break
        shown.append(part)
    return " · ".join(shown)


def pace_together(*charts: MetricChart) -> None:
    """Charts that share an x axis redraw in the same frame, from the same state.

    Paced apart, each at its own cost, they drifted: on a loaded machine one capture showed the
    loss chart's axis ending at epoch 0.99 beside accuracy's at 1.67. Together they cost the sum
    of their renders, within the sum of their budgets."""

    def redraw_all() -> None:
        # The first update of the pair may redraw before the others were handed the state.
        state = next((chart._state for chart in charts if chart._state is not None), None)
        for chart in charts:
            chart._state = state
            chart._redraw()

    shared = PacedRedraw(charts[0], redraw_all, REDRAW_BUDGET * len(charts))
    for chart in charts:
        chart.pacing = shared
