"""Tests of ``nightlight.change``."""
