"""The package version (one place; ``nightlight.__version__`` and run records read it)."""

__version__ = "0.1.0"
