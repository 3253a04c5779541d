"""Tests of ``nightlight.cli``."""
