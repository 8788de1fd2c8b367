"""cnntui: a terminal UI training monitor for PyTorch CNNs.

Importing this package is cheap on purpose: torch and Textual load only when a command needs them.
"""

__version__ = "0.1.0"
