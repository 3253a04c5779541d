"""The test suite; its folders mirror the subpackages of ``nightlight`` (issue 18)."""
