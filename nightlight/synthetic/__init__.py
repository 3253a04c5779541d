"""A synthetic night-light world with known shrinking cities (ground truth for tests and benchmarks).

``make_world(seed=...)`` builds a catalogue of cities on a real geographic grid
(EPSG:4326) and returns a :class:`World` whose mosaics are generated lazily, chunk by
chunk, by numba kernels (``nightlight.kernels.synth*``). A pixel's value is a pure
function of (seed, year, global row, global column): the mosaic does not depend on
its chunking, and a global 15″ mosaic (86,400 × 33,600 px) never sits in memory.

Modules: ``make`` (:func:`make_world`, which runs the phases in order), ``model``
(sensor constants, grid, catalogue draws, planted changes), ``world`` (:class:`World`:
lazy mosaics rendered chunk by chunk, truth, GeoTIFF export), ``validate``
(:func:`score_against_truth`).

The model
---------
*Cities* have a heavy-tailed size distribution (radius R ~ truncated Pareto,
α = 2, 1.5–25 km: many small, few large, as natural-city sizes follow Zipf's law,
Jiang & Jia 2011), a slightly elliptical smooth profile (Gaussian core + plateau
with a smooth edge, exactly zero beyond its support) and a lognormal peak
brightness that grows with size. Supports never overlap (plus a ≥ 1 km gap), so
every natural city extracted from the base-year mosaic is exactly one planted
city. Cities are spread uniformly by area over the box (oceans included: a test
world, not a map); the same seed gives the same cities, ids and planted changes
to a VIIRS and a DMSP world.

*Sensors* (docs/method.md, "The sensors"):

* ``"viirs"`` — 15″ grid, radiance in nW/cm²/sr: background 0.2, additive
  Gaussian noise σ = 0.3 (+2 % of the city light), hence small negative values;
  gas flares as very bright ~0.25 km Gaussian spots; long-tailed lognormal cores.
* ``"dmsp"`` — 30″ grid, DN 0–63: blooming (profiles 1.3× wider with softer
  edges, flares 2.5× wider), DN = clip(round(14·ln(1 + L) + 0.5·z), 0, 63),
  saturating at 63 in bright cores; integer values stored as float32.

*Default lit thresholds* (:data:`LIT_THRESHOLD`): 5 nW/cm²/sr for VIIRS, DN 20 for
DMSP. ``expected_natural_city`` in the truth table is True when the base-year
noiseless lit area at that threshold is > 5 km² (Jiang et al. 2020's natural-city
rule); cities whose analytic lit area at the threshold ± 3σ of the noise could
fall in 3.5–7.5 km² are redrawn, so noise cannot flip that decision.

*Changes*: every city gets a planted relative change of its total light, kept away
from the −10 % decision boundary: shrinking −50 %…−15 %, stable −4 %…+4 %, growing
+5 %…+60 % (and ``n_near_boundary`` cities in −13 %…−7 % on request). The change is
applied as a brightness factor (no spatial growth). ``true_change`` is the change
of the sum of noiseless sensor values inside the base-year lit extent — what a
correct detector measures — and it equals the planted change exactly (to 1e-12):
VIIRS solves the factor in closed form (the constant background is part of the
sum), DMSP by a bracketed root search (Illinois regula falsi) through the
saturating response. A DMSP city so saturated that growth cannot show gets the
planted radiance factor and the (smaller) change its DN show; its ``kind`` follows
that change. With more than two years, year t uses factor ``1 + (f − 1)·p_t``
with a monotone-ish progress p_t from 0 to 1.
"""

# the names used from the package (the rest: from their modules)
from nightlight.synthetic.make import make_world
from nightlight.synthetic.model import CHANGE_RANGES, LIT_THRESHOLD
from nightlight.synthetic.world import World

__all__ = ["CHANGE_RANGES", "LIT_THRESHOLD", "World", "make_world"]
