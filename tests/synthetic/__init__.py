"""Tests of ``nightlight.synthetic``."""
