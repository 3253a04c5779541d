"""Tests of ``nightlight.cities``."""
