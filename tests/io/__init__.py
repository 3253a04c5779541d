"""Tests of ``nightlight.io``."""
