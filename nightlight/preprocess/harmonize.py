"""VIIRS → DMSP-like harmonization (Li, Zhou, Zhao & Zhao 2020, Sci. Data 7:168).

VIIRS radiance (nW/cm²/sr, 15″) is made to look like DMSP-OLS stable lights (DN, 30″):

1. radiance below a noise floor → 0 (Li et al. 2020: ≤ 1 nW/cm²/sr);
2. Gaussian blur mimicking DMSP's wide footprint (σ ≈ 2 px at 15″, radius ~5 px);
3. ``log1p``;
4. aggregation 15″ → 30″ onto the DMSP grid, after an exact grid-alignment check;
5. a sigmoid ``DN = L / (1 + e^(−k(x − x0))) + b`` fitted against DMSP in the overlap
   year(s) 2012/2013 (:func:`nightlight.preprocess.calibration`), applied to later years.

Everything is lazy and chunked: the blur runs through ``map_overlap`` with a depth
computed from σ and ``truncate``; the aggregation uses a 1-pixel overlap.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr
from affine import Affine

from nightlight._backend import ArrayLike, as2d, dispatch, float_dtype, is_dask, map_pixels
from nightlight.errors import GridMismatchError, UnitsError
from nightlight.grid import PIXEL_TOLERANCE, Grid
from nightlight.kernels import resample as kr
from nightlight.preprocess.calibration import Calibration, fit
from nightlight.units import check_dn


def blur_depth(sigma: float, truncate: float = 2.5) -> int:
    """Overlap (px) a chunk needs for :func:`gaussian_blur`: scipy's kernel radius ``int(truncate·σ + 0.5)``."""
    return int(truncate * float(sigma) + 0.5)


def _blur_block(b: np.ndarray, sigma: float, truncate: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    x = np.asarray(b, dtype=np.float64)
    valid = np.isfinite(x)
    # Normalized convolution: NaN (and the area outside the mosaic) carry no weight,
    # so a chunk with its halo gives exactly what the whole array gives.
    num = gaussian_filter(np.where(valid, x, 0.0), sigma, mode="constant", cval=0.0, truncate=truncate)
    den = gaussian_filter(valid.astype(np.float64), sigma, mode="constant", cval=0.0, truncate=truncate)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(valid, num / den, np.nan)
    return out.astype(b.dtype if np.issubdtype(b.dtype, np.floating) else np.float32)


def gaussian_blur(data: ArrayLike, *, sigma: float = 2.0, truncate: float = 2.5) -> ArrayLike:
    """NaN-aware Gaussian blur (σ in pixels) mimicking DMSP-OLS's footprint.

    Default σ = 2 px, truncate 2.5 → radius 5 px at 15″ (Li et al. 2020). Dask input
    runs with ``map_overlap(depth=blur_depth(sigma, truncate))``; results do not
    depend on the chunking.
    """
    if sigma <= 0:
        raise UnitsError(f"gaussian_blur: sigma={sigma} px must be > 0.")

    def run_dask(x):
        x = x if np.issubdtype(x.dtype, np.floating) else x.astype(np.float32)
        d = blur_depth(sigma, truncate)
        if min(x.shape[-2:]) <= d:  # smaller than the halo: one block is the exact answer (map_overlap refuses)
            return x.rechunk(-1).map_blocks(_blur_block, dtype=x.dtype, sigma=sigma, truncate=truncate)
        return x.map_overlap(_blur_block, depth=d, boundary="none", dtype=x.dtype, sigma=sigma, truncate=truncate)

    return dispatch(data, lambda x: _blur_block(x.astype(float_dtype(x.dtype), copy=False), sigma, truncate), run_dask)


def _smooth121(data: Any) -> Any:
    return dispatch(
        data, as2d(kr.smooth121), lambda x: x.map_overlap(as2d(kr.smooth121), depth=1, boundary="none", dtype=x.dtype)
    )


def _coarsen2(data: Any) -> Any:
    ny, nx = (data.shape[0] // 2) * 2, (data.shape[1] // 2) * 2
    data = data[:ny, :nx]

    def run(b: np.ndarray) -> np.ndarray:
        out = np.empty((b.shape[0] // 2, b.shape[1] // 2), dtype=b.dtype)
        return kr.coarsen_mean2(np.ascontiguousarray(b), out)

    def run_dask(x):
        even = tuple(tuple(_even_chunks(c)) for c in x.chunks)
        return x.rechunk(even).map_blocks(run, dtype=x.dtype, chunks=tuple(tuple(c // 2 for c in cs) for cs in even))

    return dispatch(data, run, run_dask)


def _even_chunks(chunks: tuple[int, ...]) -> list[int]:
    """Chunk sizes that are all even and add up to the same (even) total."""
    total = sum(chunks)
    size = max(2, (max(chunks) // 2) * 2)
    out = [size] * (total // size)
    if total % size:
        out.append(total % size)
    return out


def _float(data: xr.DataArray | np.ndarray) -> Any:
    arr = data.data if isinstance(data, xr.DataArray) else np.asarray(data)
    return arr if np.issubdtype(arr.dtype, np.floating) else arr.astype(np.float32)


def aggregate(data: ArrayLike, *, factor: int = 2, alignment: str = "centers") -> ArrayLike:
    """Aggregate 15″ → 30″ (factor 2) by exact area-weighted averaging (NaN-aware).

    Parameters
    ----------
    alignment : {"centers", "edges"}
        ``"centers"``: 30″ pixel centres sit on every second 15″ pixel centre,
        starting with pixel 0 — the global VIIRS (86,401 px) / DMSP (43,201 px)
        grids; each 30″ pixel is the [1, 2, 1] ⊗ [1, 2, 1] weighted mean of the 3×3
        15″ pixels it overlaps. ``"edges"``: 30″ pixel edges coincide with 15″ edges,
        each 30″ pixel is the mean of a 2×2 block (a trailing odd row/column is dropped).
    """
    if factor != 2:
        raise UnitsError(f"aggregate: factor={factor}; only 2 (15″ → 30″) is supported.")
    if alignment not in ("centers", "edges"):
        raise UnitsError(f"aggregate: alignment={alignment!r}; use 'centers' or 'edges'.")
    arr = _float(data)
    if alignment == "centers":
        out = _smooth121(arr)[::2, ::2]
    else:
        out = _coarsen2(arr)
    if not isinstance(data, xr.DataArray):
        return out
    ydim, xdim = data.dims[-2:]
    coords = {}
    if xdim in data.coords and ydim in data.coords:
        xs, ys = data[xdim].values, data[ydim].values
        if alignment == "centers":
            coords = {ydim: ys[::2], xdim: xs[::2]}
        else:
            ny, nx = out.shape
            coords = {
                ydim: (ys[0 : 2 * ny : 2] + ys[1 : 2 * ny : 2]) / 2,
                xdim: (xs[0 : 2 * nx : 2] + xs[1 : 2 * nx : 2]) / 2,
            }
    res = xr.DataArray(out, dims=(ydim, xdim), coords=coords, attrs=dict(data.attrs), name=data.name)
    if data.rio.crs is not None:
        t = data.rio.transform(recalc=False)
        shift = -0.5 if alignment == "centers" else 0.0
        nt = Affine(t.a * 2, t.b, t.c + shift * t.a, t.d, t.e * 2, t.f + shift * t.e)
        res = Grid(data.rio.crs, nt, tuple(out.shape)).georeference(res)
    return res


def aggregate_to(viirs: xr.DataArray, target: xr.DataArray | Grid) -> xr.DataArray:
    """Aggregate a 15″ mosaic onto a 30″ target grid after an exact alignment check.

    The target must share the CRS, have exactly twice the pixel size, and its pixel
    centres must fall on 15″ pixel corners (2×2 mean) or on 15″ pixel centres
    ([1, 2, 1] weights) — any other offset raises :class:`GridMismatchError` rather
    than silently resampling. Target pixels beyond the VIIRS extent are NaN.
    """
    src = Grid.of(viirs, name="viirs")
    tgt = target if isinstance(target, Grid) else Grid.of(target, name="target")
    problems = []
    if src.crs != tgt.crs:
        problems.append("their CRSs differ")
    sa, se, ta, te = src.transform.a, src.transform.e, tgt.transform.a, tgt.transform.e
    if (
        abs(ta - 2 * sa) > PIXEL_TOLERANCE * abs(ta)
        or abs(te - 2 * se) > PIXEL_TOLERANCE * abs(te)
        or src.transform.b
        or src.transform.d
        or tgt.transform.b
        or tgt.transform.d
    ):
        problems.append(
            f"the target pixel ({ta:.9g} x {te:.9g}) is not exactly twice the VIIRS pixel ({sa:.9g} x {se:.9g})"
        )
    fc = fr = 0.0
    mode = None
    if not problems:
        cx, cy = tgt.transform @ (0.5, 0.5)
        fc, fr = ~src.transform @ (cx, cy)
        tol = 1e-4
        fracs = [(v - np.floor(v + tol)) for v in (fc, fr)]
        if all(abs(f) < tol for f in fracs):
            mode = "edges"
        elif all(abs(f - 0.5) < tol for f in fracs):
            mode = "centers"
        else:
            problems.append(
                f"target pixel centres fall at VIIRS pixel position ({fc:.4f}, {fr:.4f}): neither on VIIRS pixel "
                "corners (integer) nor on VIIRS pixel centres (integer + 0.5)"
            )
    if problems:
        raise GridMismatchError(
            f"viirs cannot be aggregated exactly onto the target 30″ grid: {'; '.join(problems)}.\n"
            f"  viirs: {src.describe()}\n  target: {tgt.describe()}\n"
            "Fix: reproject the VIIRS mosaic onto a 15″ grid nested in the target "
            "(e.g. `viirs.rio.reproject_match(...)` with resampling='average'), or aggregate with "
            "nightlight.preprocess.harmonize.aggregate() and align afterwards with nightlight.align_to."
        )
    H, W = tgt.shape
    arr = _float(viirs)
    if mode == "edges":
        r0, c0 = int(round(fr)) - 1, int(round(fc)) - 1
        rows, cols = (r0, r0 + 2 * H), (c0, c0 + 2 * W)
    else:
        r0, c0 = int(round(fr - 0.5)) - 1, int(round(fc - 0.5)) - 1
        rows, cols = (r0, r0 + 2 * H + 1), (c0, c0 + 2 * W + 1)
    window = _window(arr, rows, cols)
    out = _coarsen2(window) if mode == "edges" else _smooth121(window)[1::2, 1::2]
    attrs = {**viirs.attrs, "aggregation": f"15″ → 30″ exact ({mode})"}
    if not isinstance(target, xr.DataArray):
        return tgt.wrap(out, name=viirs.name, attrs=attrs)
    # the target's own coordinates (not recomputed), so results align with it exactly in xarray arithmetic
    coords = {d: target[d] for d in target.dims[-2:] if d in target.coords}
    res = xr.DataArray(out, dims=target.dims[-2:], coords=coords, attrs=attrs, name=viirs.name)
    return tgt.georeference(res)


def _window(arr: Any, rows: tuple[int, int], cols: tuple[int, int]) -> Any:
    """``arr[rows, cols]`` with NaN where the window runs past the array."""
    ny, nx = arr.shape
    pads = ((max(0, -rows[0]), max(0, rows[1] - ny)), (max(0, -cols[0]), max(0, cols[1] - nx)))
    sub = arr[max(rows[0], 0) : min(rows[1], ny), max(cols[0], 0) : min(cols[1], nx)]
    if any(p for pp in pads for p in pp):
        import dask.array as dsa

        pad = dsa.pad if is_dask(sub) else np.pad
        sub = pad(sub, pads, mode="constant", constant_values=np.nan)
    return sub


def prepare_viirs(
    viirs: ArrayLike,
    *,
    target: xr.DataArray | Grid | None = None,
    noise_floor: float = 1.0,
    sigma: float = 2.0,
    truncate: float = 2.5,
    alignment: str = "centers",
) -> ArrayLike:
    """Steps 1–4 of Li et al. 2020: floor → blur → log1p → 30″ (onto ``target`` when given)."""
    from nightlight.preprocess.denoise import clean

    x = clean(viirs, negatives="zero", floor=noise_floor)
    x = gaussian_blur(x, sigma=sigma, truncate=truncate)
    x = map_pixels(x, np.log1p)
    if target is not None:
        if not isinstance(x, xr.DataArray):
            raise GridMismatchError("prepare_viirs: target= needs a georeferenced VIIRS DataArray.")
        return aggregate_to(x, target)
    return aggregate(x, alignment=alignment)


def _prepared(viirs: ArrayLike, prepare: bool, **kwargs: Any) -> ArrayLike:
    """:func:`prepare_viirs`, or (``prepare=False``: already on the DMSP grid) only ``log1p`` of radiance ≥ 0."""
    return prepare_viirs(viirs, **kwargs) if prepare else map_pixels(viirs, lambda b: np.log1p(np.maximum(b, 0)))


def fit_harmonization(
    viirs: ArrayLike | list,
    dmsp: ArrayLike | list,
    *,
    min_dn: float | None = None,
    prepare: bool = True,
    **kwargs: Any,
) -> Calibration:
    """Fit the Li et al. 2020 sigmoid (prepared VIIRS → DMSP DN) on the overlap year(s).

    ``viirs``/``dmsp`` may be lists (e.g. 2012 and 2013, pooled). With ``prepare``
    the VIIRS inputs go through :func:`prepare_viirs` onto each DMSP grid first;
    pass ``prepare=False`` for arrays already on the DMSP grid (then only ``log1p``
    is applied). ``min_dn`` restricts the fit to DMSP DN > min_dn (Li et al. advise
    using the result for DN > 7). Other keywords go to :func:`nightlight.preprocess.calibration`.
    """
    vs = viirs if isinstance(viirs, list) else [viirs]
    ds = dmsp if isinstance(dmsp, list) else [dmsp]
    xs = [_prepared(v, prepare, target=d) for v, d in zip(vs, ds)]
    masks = kwargs.pop("mask", None)
    if masks is not None and not isinstance(masks, list):
        masks = [masks]
    for i, d in enumerate(ds):
        if not is_dask(d):
            check_dn(np.asarray(d, dtype=np.float64), f"dmsp[{i}]")
    if min_dn is not None:
        # stays lazy for dask-backed DMSP (fit samples it per chunk)
        above = [(d > min_dn) if isinstance(d, xr.DataArray) else np.asarray(d) > min_dn for d in ds]
        masks = above if masks is None else [m & a for m, a in zip(masks, above)]
    kwargs.setdefault("model", "sigmoid")
    kwargs.setdefault("clip", (0.0, 63.0))
    meta = dict(kwargs.pop("meta", {}) or {})
    meta.setdefault("preprocess", "li2020: floor, blur, log1p, 30″" if prepare else "log1p")
    return fit(xs, ds, mask=masks, meta=meta, **kwargs)


def harmonize_viirs(
    viirs: ArrayLike,
    calibration: Calibration,
    *,
    target: xr.DataArray | Grid | None = None,
    prepare: bool = True,
    **kwargs: Any,
) -> ArrayLike:
    """VIIRS radiance → DMSP-like DN (0–63) with a fitted :class:`Calibration` (lazy)."""
    out = calibration.apply(_prepared(viirs, prepare, target=target, **kwargs))
    if isinstance(out, xr.DataArray):
        out.attrs["units"] = "DN (DMSP-like)"
    return out
