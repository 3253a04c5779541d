"""Numba kernels: plain NumPy arrays in, plain NumPy arrays out.

No xarray, no dask, no I/O here. Every kernel has a slow, obviously-correct
NumPy/scipy twin in ``tests/`` that it is checked against. Installed as
``nightlight.kernels`` (see ``pyproject.toml``), never as a bare ``kernels``.

By job:

* ``label`` — connected components of a block, border pairs, union-find, painting runs as ids;
* ``zonal`` — per-label sums (label images and polygon coverage);
* ``trend`` — Theil–Sen slope and Mann–Kendall test per city;
* ``totals`` — whole-mosaic sum and valid/lit/negative counts of a block, in one sweep;
* ``patterns`` — the six-pattern features of a city window (bit for bit the NumPy/scipy arithmetic);
* ``pixel`` — per-pixel calibration transforms (fitted models, DMSP inter-calibration chains);
* ``resample`` — 2×2 block means and 1-2-1 smoothing (VIIRS 15″ → DMSP 30″);
* ``composite`` — monthly → annual composites;
* ``denoise`` — VIIRS clean-up and the 3×3 data-range background test;
* ``synth``, ``synth_city``, ``synth_noise``, ``synth_truth`` — the synthetic world
  (renderer, noiseless city model, counter-based noise, exact truth).

Every kernel is compiled ``nogil=True``: dask's threaded scheduler runs one per
chunk on every core at once (``benchmarks/bench_nogil.py`` measures the gain).

Numba's on-disk cache (``cache=True``) does not notice changes in another file: the
``synth*`` kernels inline helpers from ``synth_city`` and ``synth_noise``, so after
editing those two delete ``kernels/__pycache__`` (or set ``NUMBA_CACHE_DIR``).
"""
