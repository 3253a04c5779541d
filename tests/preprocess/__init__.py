"""Tests of ``nightlight.preprocess``."""
