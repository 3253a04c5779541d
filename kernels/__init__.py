"""Numba kernels: plain NumPy arrays in, plain NumPy arrays out.

No xarray, no dask, no I/O here. Every kernel has a slow, obviously-correct
NumPy/scipy twin in ``tests/`` that it is checked against. Installed as
``nightlight.kernels`` (see ``pyproject.toml``), never as a bare ``kernels``.
"""
