"""One path (issue 18): one input boundary, one parameter set with one name per idea in every layer."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import rasterio
from click.testing import CliRunner

import nightlight
from nightlight.batch.config import ConfigError, load_config
from nightlight.cli import main
from nightlight.errors import ParameterError, UnitsError
from nightlight.params import PARAM_NAMES, Params
from nightlight.preprocess.inputs import prepare_inputs
from nightlight.synthetic import make_world
from nightlight.testing.builders import write_geotiff

REPO = Path(__file__).resolve().parents[1]
CHINA = "../shared/data/china-viirslike-15s"


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    d = tmp_path_factory.mktemp("pair")
    world = make_world(seed=3, bounds=(12.0, 45.0, 13.0, 46.0))
    files = world.write_geotiffs(d)
    return str(files[world.years[0]]), str(files[world.years[-1]]), float(world.lit_threshold)


# --------------------------------------------------------------------------- one parameter set
#: A value other than the default for every parameter: (CLI words, TOML text, the value Params holds).
NON_DEFAULT = {
    "nodata": (["--nodata", "-999"], "-999", -999.0),
    "units": (["--units", "DN"], '"DN"', "DN"),
    "band": (["--band", "2"], "2", 2),
    "region": (["--region", "1,2,3,4"], "[1, 2, 3, 4]", (1.0, 2.0, 3.0, 4.0)),
    "align": (["--align", "nearest"], '"nearest"', "nearest"),
    "preprocess": (["--preprocess", "negatives_to_zero"], '"negatives_to_zero"', "negatives_to_zero"),
    "chunks": (["--chunks", "512"], "512", 512),
    "lit_threshold": (["--lit-threshold", "7.5"], "7.5", 7.5),
    "min_area_km2": (["--min-area-km2", "3"], "3.0", 3.0),
    "connectivity": (["--connectivity", "4"], "4", 4),
    "area": (["--area", "nominal"], '"nominal"', "nominal"),
    "min_decline": (["--min-decline", "0.2"], "0.2", 0.2),
    "min_valid_share": (["--min-valid-share", "0.5"], "0.5", 0.5),
    "dark_floor": (["--dark-floor", "0.1"], "0.1", 0.1),
    "negative_radiance": (["--negative-radiance", "zero"], '"zero"', "zero"),
    "allow_blank": (["--allow-blank"], "true", True),
    "allow_common_shift": (["--allow-common-shift"], "true", True),
    "patterns": (["--no-patterns"], "false", False),
    "base_years": (["--base-years", "2012,2013"], "[2012, 2013]", (2012, 2013)),
    "compare_years": (["--compare-years", "2016-2017"], '"2016-2017"', (2016, 2017)),
}


def test_every_parameter_reaches_the_run_from_its_detect_option(monkeypatch, tmp_path):
    """Each field's generated option, set to a non-default value, arrives in the Params run_detect gets."""
    import nightlight.cli.detect as detect_cli

    assert set(NON_DEFAULT) == set(PARAM_NAMES), "a new parameter needs a row here"
    got = {}

    def run_detect(before, after, out, *, params, **kw):
        got["params"] = params
        raise ParameterError("stop here")

    monkeypatch.setattr(detect_cli, "run_detect", run_detect)
    words = [w for cli, _, _ in NON_DEFAULT.values() for w in cli]
    res = CliRunner().invoke(main, ["detect", "a.tif", "b.tif", "--out", str(tmp_path / "o"), *words])
    assert "stop here" in res.output, res.output
    for name, (_, _, value) in NON_DEFAULT.items():
        assert getattr(got["params"], name) == value, name
        assert value != getattr(Params(), name), name


def test_every_parameter_reaches_the_run_from_its_toml_key(tmp_path, pair):
    """Each field written under its table in a batch configuration arrives in the config's Params."""
    before, after, _ = pair
    tables: dict[str, list[str]] = {}
    for f in fields(Params):
        tables.setdefault(f.metadata["section"], []).append(f"{f.name} = {NON_DEFAULT[f.name][1]}")
    tables.setdefault("decline", []).extend(["base = 2013", "compare = [2016]"])
    files = f'[inputs.files]\n2013 = "{before}"\n2016 = "{after}"\n'
    body = "\n".join(f"[{t}]\n" + "\n".join(lines) for t, lines in tables.items())
    cfg = tmp_path / "c.toml"
    cfg.write_text(files + "\n" + body.replace("[inputs]\n", "[inputs]\n", 1) + "\n")
    params = load_config(cfg).params
    for name, (_, _, value) in NON_DEFAULT.items():
        assert getattr(params, name) == value, name


@pytest.mark.parametrize(
    "table, line, words",
    [
        ("decline", "dark_floor = nan", "finite"),
        ("decline", "dark_floor = inf", "finite"),
        ("decline", 'dark_floor = "1"', "expected int or float"),
        ("cities", "min_area_km2 = nan", "finite"),
        ("cities", "min_area_km2 = inf", "finite"),
        ("decline", "min_decline = 0.0", "strictly between 0 and 1"),
    ],
)
def test_toml_values_are_checked_by_the_same_checks_with_their_line(tmp_path, pair, table, line, words):
    """Old: `dark_floor = nan` passed and every city came out too_dark; `min_area_km2 = nan` failed late."""
    before, after, lit = pair
    cfg = tmp_path / "c.toml"
    text = f'[inputs.files]\n2013 = "{before}"\n2016 = "{after}"\n\n[cities]\nlit_threshold = {lit}\n\n'
    text += "[decline]\nbase = 2013\ncompare = [2016]\n"
    text = text.replace(f"[{table}]\n", f"[{table}]\n{line}\n")
    cfg.write_text(text)
    n = text.splitlines().index(line) + 1
    with pytest.raises(ConfigError) as exc:
        load_config(cfg)
    assert str(exc.value).startswith(f"{cfg}, line {n}: ") and words in str(exc.value), str(exc.value)


def test_library_keywords_share_the_checks(pair):
    before, after, lit = pair
    cities = nightlight.extract_natural_cities(before, lit_threshold=lit)
    with pytest.raises(ParameterError, match="dark_floor=nan"):
        nightlight.detect_shrinking(cities, before, after, dark_floor=float("nan"))
    with pytest.raises(ParameterError, match="unknown parameter"):
        Params().replace(decline=0.2)


def test_config_template_with_another_placeholder_and_non_utf8_text(tmp_path, pair):
    before, _, _ = pair
    cfg = tmp_path / "c.toml"
    cfg.write_text('[inputs]\ntemplate = "x_{year}_{band}.tif"\n\n[decline]\nbase = 2013\ncompare = [2016]\n')
    with pytest.raises(ConfigError, match=r"line 2: \[inputs.template\] .*uses \{band\}"):
        load_config(cfg)
    cfg.write_bytes(b'[inputs]\ntemplate = "caf\xe9_{year}.tif"\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(cfg)


def test_outputs_folder_is_resolved_from_the_config_and_kept_inside_it(tmp_path, pair, monkeypatch):
    before, after, lit = pair
    sub = tmp_path / "study"
    sub.mkdir()
    body = f'[inputs.files]\n2013 = "{before}"\n2016 = "{after}"\n\n[decline]\nbase = 2013\ncompare = [2016]\n\n'
    (sub / "c.toml").write_text(body + '[outputs]\nfolder = "out"\n')
    monkeypatch.chdir(tmp_path)
    assert load_config(sub / "c.toml").out == sub / "out"
    for bad in ('"../elsewhere"', f'"{tmp_path / "abs"}"'):
        (sub / "c.toml").write_text(body + f"[outputs]\nfolder = {bad}\n")
        with pytest.raises(ConfigError, match="inside the configuration's folder"):
            load_config(sub / "c.toml")


# --------------------------------------------------------------------------- one input boundary
def test_the_same_file_twice_is_refused_everywhere(tmp_path, pair):
    before, _, lit = pair
    with pytest.raises(ParameterError, match="given twice"):
        prepare_inputs([before, str(Path(before).parent / "." / Path(before).name)])
    res = CliRunner().invoke(main, ["detect", before, before, "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "given twice" in res.output, res.output
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        f'[inputs.files]\n2013 = "{before}"\n2016 = "{before}"\n\n[decline]\nbase = 2013\ncompare = [2016]\n'
    )
    with pytest.raises(ConfigError, match=r"years \[2013, 2016\] all read"):
        load_config(cfg)


def test_units_known_on_one_side_only_need_units(tmp_path):
    data = np.zeros((40, 40), np.float32)
    data[10:20, 10:20] = 30
    known = write_geotiff(tmp_path / "mosaic_a.tif", data)
    with rasterio.open(known, "r+") as dst:
        dst.units = ("nW/cm2/sr",)
    unknown = write_geotiff(tmp_path / "mosaic_b.tif", (data * 0.5).astype(np.uint8))  # 8-bit: says nothing
    with pytest.warns(UserWarning, match="units not declared"), pytest.raises(UnitsError, match="units='nW/cm2/sr'"):
        prepare_inputs([known, unknown])
    assert prepare_inputs([known, unknown], units="nW/cm2/sr").units == "nW/cm2/sr"


@pytest.mark.slow
@pytest.mark.realdata
def test_a_catalog_file_by_path_reads_as_its_catalog_name(shared_data, monkeypatch):
    """Old: the path read 0 as missing (declared nodata), the name as dark; units differed."""
    monkeypatch.chdir(REPO)
    box = (121.0, 31.0, 121.3, 31.3)
    by_path = nightlight.open_mosaic(f"{CHINA}/2016_8bit.tif", region=box)
    by_name = nightlight.open_mosaic("china-viirslike-8bit:2016", region=box)
    assert by_path.attrs["units"] == by_name.attrs["units"] == "nW/cm2/sr"
    np.testing.assert_array_equal(by_path.values, by_name.values)
    assert not np.isnan(by_path.values).any()  # 0 is dark, not missing


@pytest.mark.slow
@pytest.mark.realdata
def test_the_national_crop_runs_and_records_the_snapped_offset(shared_data, tmp_path, monkeypatch):
    """Old: exit 1 'not on the same pixel grid: shapes differ' — x coordinates 2.8e-14 off, inner-joined away."""
    monkeypatch.chdir(REPO)
    out = tmp_path / "r"
    args = ["detect", f"{CHINA}/2013_8bit.tif", f"{CHINA}/2016_8bit.tif", "--out", str(out)]
    res = CliRunner().invoke(main, [*args, "--units", "nW/cm2/sr", "--region", "120,40,135,50"])
    assert res.exit_code == 0, res.output
    meta = json.loads(pq.read_schema(out / "cities.parquet").metadata[b"nightlight"])
    ((dx, dy),) = meta["inputs"]["grid_snapped_px"].values()
    assert abs(dx + 0.0167) < 1e-3 and dy == 0.0
    assert meta["inputs"]["resampled"] == {}


@pytest.mark.slow
def test_a_multi_band_file_says_which_band_the_cli_reads(tmp_path, pair):
    """The CLI passes no band unless asked, so the library's 'which band' warning reaches the user."""
    import numpy as np

    before, after, lit = pair
    with rasterio.open(before) as src:
        profile, data = src.profile, src.read(1)
    profile.update(count=2)
    two = tmp_path / "two_bands.tif"
    with rasterio.open(two, "w", **profile) as dst:
        dst.write(np.stack([data, data]))
    res = CliRunner().invoke(
        main, ["detect", str(two), after, "--out", str(tmp_path / "o"), "--lit-threshold", str(lit)]
    )
    assert res.exit_code == 0, res.output
    assert "band" in res.output and "Warning" in res.output, res.output


def test_the_boundary_takes_the_parameters_written_forms(pair):
    """Old: prepare_inputs checked nodata='none' and a 'W,S,E,N' region, then passed the raw text on."""
    before, after, _ = pair
    as_text = prepare_inputs([before, after], nodata="none", region="12.2,45.2,12.6,45.6")
    as_values = prepare_inputs([before, after], nodata=None, region=(12.2, 45.2, 12.6, 45.6))
    assert as_text.mosaics[0].attrs["nodata_used"] is None
    assert as_text.mosaics[0].shape == as_values.mosaics[0].shape < (240, 240)


@pytest.mark.parametrize("aligned_dir", [False, True], ids=["lazy", "written-once"])
def test_a_resampled_year_keeps_the_base_working_dtype(tmp_path, aligned_dir):
    """A year resampled by align is float32 beside float32 snapped years (it was float64: 7 GB census runs).

    Reference: rasterio.warp.reproject of the whole file in float64, independent of the block-wise warp.
    """
    from rasterio.transform import from_origin
    from rasterio.warp import Resampling, reproject

    rng = np.random.default_rng(5)
    values = {name: rng.gamma(2.0, 10.0, (96, 80)).astype(np.float32) for name in ("b", "a", "c")}
    origins = {"b": 0.0, "a": 0.3, "c": 0.01}  # a: beyond the tolerance (resampled); c: snapped
    paths = {
        n: write_geotiff(
            tmp_path / f"{n}.tif",
            v,
            transform=from_origin(10.0 + origins[n] * 0.01, 50.0, 0.01, 0.01),
            tags={"units": "nW/cm2/sr"},
        )
        for n, v in values.items()
    }
    inputs = prepare_inputs(
        {n: str(p) for n, p in paths.items()},
        align="average",
        chunks=32,
        aligned_dir=tmp_path / "aligned" if aligned_dir else None,
    )
    assert set(inputs.resampled) == {str(paths["a"])} and set(inputs.snapped) == {str(paths["c"])}
    assert [inputs[n].dtype for n in ("b", "a", "c")] == [np.float32] * 3
    want = np.full((96, 80), np.nan)
    reproject(
        values["a"].astype(np.float64),
        want,
        src_transform=from_origin(10.003, 50.0, 0.01, 0.01),
        src_crs="EPSG:4326",
        src_nodata=np.nan,
        dst_transform=from_origin(10.0, 50.0, 0.01, 0.01),
        dst_crs="EPSG:4326",
        dst_nodata=np.nan,
        resampling=Resampling.average,
    )
    got = inputs["a"].values
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=1e-6, equal_nan=True)
    # the totals the decline test compares: float32 pixels summed in float64 lose nothing that matters
    assert np.nansum(got, dtype=np.float64) == pytest.approx(np.nansum(want), rel=1e-6)
