"""The training engine: a Trainer that emits typed events to subscribers.

Importing this package is cheap; torch loads with `cnntui.engine.trainer`.
"""
