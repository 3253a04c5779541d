"""Data, not code: product descriptions, grids, units and coefficient tables.

Read the files here with :func:`nightlight.catalog_path` (``importlib.resources``).
Nothing in this folder executes; this file only makes it an installable package.
"""
