"""Tests of ``nightlight.batch``."""
