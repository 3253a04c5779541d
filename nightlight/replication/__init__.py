"""The study's method on the real data in ``../shared/data`` (``nightlight replicate``).

One job per module: :mod:`.params` (the study's figures, file names, :class:`Params`,
:class:`NationalParams`), :mod:`.data` (opening the real files, grid helpers), :mod:`.china`,
:mod:`.regions`, :mod:`.shanghai`, :mod:`.sensitivity` (the DMSP-like and Shanghai analyses),
:mod:`.viirs`, :mod:`.national`, :mod:`.series`, :mod:`.census` and :mod:`.national_job`
(the national VIIRS-like run, its series, the census check), :mod:`.timing`,
:mod:`.figures`, :mod:`.tables`/:mod:`.tables_national` and :mod:`.report`/:mod:`.report_national`
(``report_template.md`` filled from the results), :mod:`.run` (:func:`run_replication`,
the phases in order). Uses the pipeline's stages; nothing in
the pipeline imports this package.
"""

from nightlight.replication.china import china_change, china_inputs, classify_change
from nightlight.replication.data import check_dmsp_dn, open_china_year, read_provinces
from nightlight.replication.national_job import run_national
from nightlight.replication.params import CHINA_FILES, STUDY, WINDOWS, NationalParams, Params
from nightlight.replication.report import render_markdown
from nightlight.replication.run import run_replication
from nightlight.replication.tables import md_table

__all__ = [
    "CHINA_FILES",
    "STUDY",
    "NationalParams",
    "WINDOWS",
    "Params",
    "check_dmsp_dn",
    "china_change",
    "china_inputs",
    "classify_change",
    "md_table",
    "open_china_year",
    "read_provinces",
    "render_markdown",
    "run_national",
    "run_replication",
]
