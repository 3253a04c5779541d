"""The README's code runs as written (on the real data in ../shared/data)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


@pytest.mark.slow
@pytest.mark.realdata
def test_the_national_library_snippet_runs_as_written(shared_data, monkeypatch, capsys):
    """Old: the snippet's snap_to_grid left x coordinates 1 ulp off, and the next step dropped columns."""
    block = next(b for b in python_blocks((REPO / "README.md").read_text()) if "prepare_inputs(" in b)
    monkeypatch.chdir(REPO)
    scope: dict = {}
    exec(compile(block, "README.md", "exec"), scope)  # noqa: S102 (the README's own code)
    years, result, series = scope["years"], scope["result"], scope["series"]
    assert years.snapped and abs(next(iter(years.snapped.values()))[0]) < 0.05
    assert (years[2013]["x"].values == years[2016]["x"].values).all()  # bit-identical: nothing dropped
    assert len(result) == len(scope["cities"]) > 1000 and result["shrinking"].sum() > 0
    assert set(series.resampled) == {"china-viirslike-8bit:2012", "china-viirslike-8bit:2022"}
    assert len(series.snapped) == 8
