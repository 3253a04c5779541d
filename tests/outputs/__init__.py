"""Tests of ``nightlight.outputs``."""
