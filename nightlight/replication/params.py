"""What the replication runs on and with: the study's figures, the data files, the fixed parameters.

Nothing here reads data. The study's and the literature's figures (:data:`STUDY`, from
``catalog/studies/jiang2020.toml``) are quoted in the report beside this run's; they are
written into ``results.json`` (``study``) so the report reads every number from one place.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass

from nightlight._resources import catalog_path

#: A lon/lat box (west, south, east, north), degrees.
Box = tuple[float, float, float, float]

#: The study's and follow-ups' published figures, quoted beside ours (``catalog/studies/jiang2020.toml``).
STUDY: dict[str, object] = tomllib.loads(catalog_path("studies", "jiang2020.toml").read_text(encoding="utf-8"))

#: The China pairs (``catalog/studies/china-dmsplike-<base>-<target>.toml``).
CHINA_BASE_YEARS = (2018, 2019, 2020)
CHINA_TARGET_YEAR = 2021
#: The pair the headline, the map, the provinces and the largest cities are reported for.
HEADLINE_BASE_YEAR = 2018

PROVINCES = "china-li2020-5arcmin/shapefile/bou2_4p.shp"
#: The Shanghai years: a catalog product (``catalog/products/shanghai-viirs-like.toml``).
SHANGHAI_PRODUCT = "shanghai-viirs-like"
SHANGHAI_YEARS = range(2000, 2021)
SHANGHAI_MGUP = "shanghai-viirs-like/builtup/real_sh_MGUP2018.tif"
SHANGHAI_MGUP_YEAR = 2018  # the year of the MGUP built-up mask (file name)
SHANGHAI_DISTRICTS = "shanghai-viirs-like/boundaries/shanghai_districts_boundary.shp"
#: The study's years, run on the Shanghai VIIRS-like series.
SHANGHAI_BASE_YEAR, SHANGHAI_TARGET_YEAR = 2013, 2016
#: The VIIRS-like series is DMSP-derived before this year (Chen et al. 2021).
SHANGHAI_VIIRS_ERA = 2013

#: Named lon/lat boxes for cropped runs (tests, quick looks): (west, south, east, north) in degrees.
WINDOWS = {"northeast": (118.0, 40.5, 135.0, 49.0)}

#: China's extent in lon/lat with a margin (includes the South China Sea islands):
#: province polygons outside it mean a wrong CRS assumption.
CHINA_LONLAT = (72.0, 2.0, 136.5, 54.5)

#: Length of one degree of longitude on the WGS84 equator, m (the pixel size of a lon/lat grid quoted in the text).
M_PER_DEG_EQUATOR = 2 * math.pi * 6378137.0 / 360.0

#: A place is matched to the nearest natural city within this distance when no city contains it.
PLACES_MAX_KM = 5.0


@dataclass(frozen=True)
class Params:
    """The Shanghai section's parameters, fixed before any count is looked at.

    (The national and DMSP-like parameters are in their study configurations,
    ``catalog/studies/*.toml``.)

    Attributes
    ----------
    min_area_km2 : float
        Natural city = patch **over** 5 km² (Jiang et al. 2020).
    connectivity : int
        8 (METHOD.md default; pixels touching at corners are one patch).
    decline : float
        Shrinking when total light falls by ≥ 10 % (Jiang et al. 2020).
    viirs_threshold : float or "headtail"
        Lit rule: Jiang's head/tail breaks (the natural-city method's own threshold,
        Jiang 2013; Jiang & Miao 2015), first level.
    viirs_dark_floor : float
        ``too_dark`` floor, nW/cm²/sr (0.5; VNL v2 zeroes cells < 0.6).
    """

    min_area_km2: float = 5.0
    connectivity: int = 8
    decline: float = 0.10
    viirs_threshold: float | str = "headtail"
    viirs_dark_floor: float = 0.5


# --------------------------------------------------------------------------- national VIIRS-like (issue 11)
#: 8-bit value ≈ this × the product's radiance-like value, floored (the catalog's scale_factor is its inverse).
VIIRS_SCALE = 0.5
#: The producers simulate the VIIRS-like series from DMSP-OLS before this year (Chen et al. 2021).
VIIRS_ERA = 2013
CENSUS_FILE = "china-census-2010-2020/census_city_2010-2020_v1.csv"
#: Provinces of the Northeast (the census ``province`` column).
NORTHEAST_PROVINCES = ("黑龙江省", "吉林省", "辽宁省")
#: Taiwan in lon/lat (west, south, east, north), with Penghu: in the VIIRS-like mosaic, not in the census.
TAIWAN_LONLAT = (119.3, 21.8, 122.1, 25.4)


@dataclass(frozen=True)
class NationalParams:
    """What the national section adds to its study configuration, fixed before any count was looked at.

    The years, the lit rule (head/tail breaks of the whole 2013 mosaic), > 5 km²,
    8-connectivity, the ≥ 10 % decline, the alignment of 2012/2022 and the trend's α are
    in the study configuration (``catalog/studies/<study>.toml``), run by the batch engine.

    Attributes
    ----------
    study : str
        The study configuration's name in ``catalog/studies/``.
    correction_model : str
        Brightness correction of the target year (``fit_normalisation`` model):
        ``"gain"`` — a product change scales radiance; the dim invariant pixels cannot
        pin an offset.
    correction_buffer_px : int
        Pixels around the natural cities left out of the invariant set (their fringes).
    headline : {"corrected", "raw"}
        Which of the two is the headline: the study corrected brightness first.
    prefecture_dark_floor : float
        ``dark_floor`` (mean 8-bit value per pixel) for the census prefectures: any
        light at all. The default floor (0.5, meant for radiance cities) would drop
        prefectures whose light sits in a few towns among dark land.
    calibrate_area : bool
        Also run the *calibrated* variant: the lit threshold at which the natural
        cities cover the paper's 53,275 km² (whole-country runs only).
    """

    study: str = "national-viirslike-2013-2016"
    correction_model: str = "gain"
    correction_buffer_px: int = 2
    headline: str = "corrected"
    prefecture_dark_floor: float = 1e-6
    calibrate_area: bool = True
