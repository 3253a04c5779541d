"""Tests of ``nightlight.replication``."""
