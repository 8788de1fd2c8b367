"""Benchmarks: the d2l reference loop and cnntui's engine, measured side by side."""
