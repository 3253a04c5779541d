"""The study's method on the real data (``nightlight replicate``).

The national VIIRS-like and the DMSP-like analyses are study configurations in
``catalog/studies/`` run by the batch engine (:mod:`.studies`); the report builder
computes the rest from what they return. One job per module: :mod:`.params` (the
study's figures, :class:`Params`, :class:`NationalParams`), :mod:`.data` (vector files,
the Shanghai box), :mod:`.national` and :mod:`.national_job` (the national run: the
brightness correction, the calibrated variant), :mod:`.series`, :mod:`.census`,
:mod:`.china`, :mod:`.regions`, :mod:`.shanghai`, :mod:`.sensitivity`,
:mod:`.figures`, :mod:`.tables`/:mod:`.tables_national` and
:mod:`.report`/:mod:`.report_national` (``report_template.md`` filled from the results),
:mod:`.run` (:func:`run_replication`, the phases in order). Nothing in the pipeline
imports this package.
"""

from nightlight.replication.params import STUDY, WINDOWS, NationalParams, Params
from nightlight.replication.report import render_markdown
from nightlight.replication.run import run_replication
from nightlight.replication.studies import load_study, run_study
from nightlight.replication.tables import md_table

__all__ = [
    "STUDY",
    "NationalParams",
    "WINDOWS",
    "Params",
    "load_study",
    "md_table",
    "render_markdown",
    "run_replication",
    "run_study",
]
