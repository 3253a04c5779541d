"""Tests of ``nightlight.testing``."""
