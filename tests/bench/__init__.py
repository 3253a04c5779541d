"""Tests of ``nightlight.bench``."""
