"""The study's method on the real data (``nightlight replicate``).

The national VIIRS-like and the DMSP-like analyses are study configurations in
``catalog/studies/`` run by the batch engine (:mod:`.studies`); the rest is computed from
what they return: :mod:`.national` (brightness correction, calibrated variant, census
check and series test, :mod:`.census`), :mod:`.china` (with places and provinces),
:mod:`.shanghai`, :mod:`.sensitivity`. :mod:`.params` reads the fixed parameters
(``catalog/studies/replication.toml``) and the study's published figures
(``catalog/studies/jiang2020.toml``) and opens the files. The report is the template
``catalog/studies/report.md.j2`` rendered from ``results.json`` (:mod:`.report`);
:mod:`.run` runs the phases in order. Nothing in the pipeline imports this package.
"""

from nightlight.replication.params import FIXED, STUDY, WINDOWS, NationalParams
from nightlight.replication.report import render_markdown
from nightlight.replication.run import run_replication
from nightlight.replication.studies import load_study, run_study

__all__ = ["FIXED", "STUDY", "NationalParams", "WINDOWS", "load_study", "render_markdown"]
__all__ += ["run_replication", "run_study"]
