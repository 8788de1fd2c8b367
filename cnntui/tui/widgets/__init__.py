"""One module per dashboard pane; each pane has `update_from(state)` and reads a `RunState`."""
