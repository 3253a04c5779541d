"""The study's method on the real data (``nightlight replicate``).

The national VIIRS-like and the DMSP-like analyses are study configurations in
``catalog/studies/`` run by the batch engine (:mod:`.studies`); the rest is computed from
what they return: :mod:`.national` (brightness correction, calibrated variant, census
check via :mod:`.census` and :mod:`.series`), :mod:`.china` (with places and provinces),
:mod:`.shanghai`, :mod:`.sensitivity`. :mod:`.params` holds the fixed parameters (the
study's published figures are ``catalog/studies/jiang2020.toml``), :mod:`.data` the vector
files. The report is the template ``catalog/studies/report.md.j2`` rendered from
``results.json`` (:mod:`.report`); :mod:`.run` runs the phases in order. Nothing in the
pipeline imports this package.
"""

from nightlight.replication.params import STUDY, WINDOWS, NationalParams, Params
from nightlight.replication.report import render_markdown
from nightlight.replication.run import run_replication
from nightlight.replication.studies import load_study, run_study

__all__ = ["STUDY", "NationalParams", "WINDOWS", "Params", "load_study", "render_markdown"]
__all__ += ["run_replication", "run_study"]
