"""What the replication runs on and with: the study's figures, the data files, the fixed parameters.

Nothing here reads data. The study's and the literature's figures are quoted in the
report beside this run's; they are written into ``results.json`` (``study``) so the
report reads every number from one place.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: The study's and follow-ups' published figures, quoted beside ours.
STUDY = {
    "interview": {"shrinking": 938, "cities": 3300, "years": "2013–2016", "sensor": "NPP-VIIRS"},
    "paper": {
        "shrinking": 798,
        "cities": 2862,
        "years": "2013–2016",
        "base": 2013,
        "target": 2016,
        "sensor": "NPP-VIIRS",
        "pixel": "~500 m",  # VIIRS DNB composites, 15″
        "min_area_km2": 5.0,
        "decline": 0.10,
        "ref": "Jiang, Zhai, Meng & Long 2020, J. Urban Plann. Dev. 146(4)",
        "area_km2": 53275,  # all 2,862 natural cities
        "shrinking_area_km2": 13839,  # the 798 shrinking ones
        "territory_share": 0.005,  # "about 0.5 % of the national territory"
        "complete_share": 0.05,  # "only 5 % are complete shrinkage"
        "majority_patterns": ["scatter", "central", "local"],
        "rest_patterns": ["unilateral", "peripheral"],
    },
    "global_dmsp": {"share": 0.20, "cities": 16000, "years": "2000–2012", "sensor": "DMSP-OLS"},
    "zhai2022": {"share": 0.25, "years": "2013–2018", "ref": "Zhai … Long 2022, iScience 25:104411"},
    # DMSP lit thresholds used by Chinese natural-city / urban-extent studies, and the one
    # the shared data README's independent check used (see Params.lit_dn).
    "lit_dn_literature": {"low": 10, "high": 13, "data_readme": 10},
}

CHINA_FILES = {
    2018: "china-dmsplike-1km/DMSP-like2018.tif",
    2019: "china-dmsplike-1km/DMSP-like2019.tif",
    2020: "china-dmsplike-1km/DMSP-like2020.tif",
    2021: "china-dmsplike-1km/DMSP_like2021.tif",  # sic: underscore in the producer's name
}
#: The China pairs: natural cities of each base year, their change to the target year.
CHINA_BASE_YEARS = (2018, 2019, 2020)
CHINA_TARGET_YEAR = 2021
#: The pair the headline, the map, the provinces and the largest cities are reported for.
HEADLINE_BASE_YEAR = 2018

PROVINCES = "china-li2020-5arcmin/shapefile/bou2_4p.shp"
SHANGHAI_YEAR = "shanghai-viirs-like/annual/NTL_Shanghai_2000_2020_{year}.tif"
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
    """Every parameter of the replication, fixed before any count is looked at.

    Attributes
    ----------
    lit_dn : float
        DMSP lit threshold, DN ≥ 10. DMSP blooming makes low DN spill far beyond
        built-up land; Chinese natural-city / urban-extent studies use DN ≥ 10–13, and
        the data README's independent check used 10. The lower end keeps small towns.
    min_area_km2 : float
        Natural city = patch **over** 5 km² (Jiang et al. 2020).
    connectivity : int
        8 (METHOD.md default; pixels touching at corners are one patch).
    decline : float
        Shrinking when total light falls by ≥ 10 % (Jiang et al. 2020).
    dark_floor_dn : float
        DMSP cities whose mean base-year DN is below 7 are ``too_dark`` (Li et al. 2020
        advise using DN > 7). With ``lit_dn`` ≥ 8 no city can be that dark; kept for
        the sensitivity runs.
    mask_resampling : str
        How the 2018/2019 base year is put on the 2020/2021 grid *to draw the city
        extents*: ``nearest``. The grids are offset by under half a pixel on both axes
        (the run measures the offset and reports it), so nearest is a one-to-one
        re-indexing: every pixel keeps its DN, none is duplicated or dropped, and the
        natural cities are exactly those of the base year's own grid (checked: same
        count), each placed off by the same sub-pixel shift. ``average`` would blur
        every patch edge below the DN threshold and remove small towns (shown in the
        sensitivity table).
    light_resampling : str
        How the base year is resampled *to sum its light* inside those extents:
        ``average`` (GDAL weights source pixels by overlap, so the base-year light is
        measured on the same ground footprint as the target year's — the fixed-extent
        comparison the method asks for — and a region's total is preserved).
    viirs_threshold : float or "headtail"
        Shanghai lit rule: Jiang's head/tail breaks (the natural-city method's own
        threshold, Jiang 2013; Jiang & Miao 2015), first level.
    viirs_dark_floor : float
        Shanghai ``too_dark`` floor, nW/cm²/sr (0.5; VNL v2 zeroes cells < 0.6).
    normalise : bool
        Sensitivity only: divide out the change of the window's total light.
    """

    lit_dn: float = 10.0
    min_area_km2: float = 5.0
    connectivity: int = 8
    decline: float = 0.10
    dark_floor_dn: float = 7.0
    mask_resampling: str = "nearest"
    light_resampling: str = "average"
    viirs_threshold: float | str = "headtail"
    viirs_dark_floor: float = 0.5
    normalise: bool = False


# --------------------------------------------------------------------------- national VIIRS-like (issue 11)
#: China VIIRS-like annual light, 8-bit scaled copies (Chen, Yu et al. 2021, ESSD 13:889, "LongNTL").
VIIRS_FILE = "china-viirslike-15s/{year}_8bit.tif"
VIIRS_YEARS = tuple(range(2012, 2023))
#: 8-bit value ≈ this × the product's radiance-like value, floored (data README; constant across years).
VIIRS_SCALE = 0.5
#: The producers simulate the VIIRS-like series from DMSP-OLS before this year (Chen et al. 2021).
VIIRS_ERA = 2013
CENSUS_FILE = "china-census-2010-2020/census_city_2010-2020_v1.csv"
#: Provinces of the Northeast (the census ``province`` column).
NORTHEAST_PROVINCES = ("黑龙江省", "吉林省", "辽宁省")
#: Taiwan in lon/lat (west, south, east, north), with Penghu: in the VIIRS-like mosaic, not in the census.
TAIWAN_LONLAT = (119.3, 21.8, 122.1, 25.4)
#: An equal-area CRS for distances and maps of China (the DMSP-like product's Albers).
CHINA_ALBERS = "+proj=aea +lat_0=0 +lon_0=105 +lat_1=25 +lat_2=47 +datum=WGS84 +units=m +no_defs"


@dataclass(frozen=True)
class NationalParams:
    """Parameters of the national VIIRS-like run, fixed before any count was looked at.

    Attributes
    ----------
    base_year, target_year : int
        The study's years, 2013 → 2016.
    lit : "headtail" or float
        Lit rule for the natural cities of the base year: Jiang's head/tail breaks,
        first level, of the base year's non-zero 8-bit values **over the whole
        mosaic** (also when a window is run, so a window is a crop of the national
        run, not a run of its own). It is the natural-city method's own threshold
        (Jiang 2013; Jiang & Miao 2015) and the one the Shanghai section uses; a float
        is a fixed level in 8-bit units (× 2 for nW/cm²/sr).
    min_area_km2, connectivity, decline : float, int, float
        > 5 km² on the ellipsoid, 8-connectivity, ≥ 10 % decline (Jiang et al. 2020).
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
    alpha : float
        Significance level of the Mann–Kendall trend test and of the FDR (q < α).
    align_resampling : str
        How the 2012 and 2022 grids (~0.22 px off) are put on the 2013 grid:
        ``average`` (overlap-weighted; keeps totals).
    calibrate_area : bool
        Also run the *calibrated* variant: the lit threshold at which the natural
        cities cover the paper's 53,275 km² (whole-country runs only).
    """

    base_year: int = 2013
    target_year: int = 2016
    lit: float | str = "headtail"
    min_area_km2: float = 5.0
    connectivity: int = 8
    decline: float = 0.10
    correction_model: str = "gain"
    correction_buffer_px: int = 2
    headline: str = "corrected"
    prefecture_dark_floor: float = 1e-6
    alpha: float = 0.05
    align_resampling: str = "average"
    calibrate_area: bool = True
