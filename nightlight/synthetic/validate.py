"""Score a shrinking-city result against planted ground truth (the synthetic world).

A planted city is matched to the detected city whose polygon contains its centre.
Precision = true positives / cities called shrinking; recall = true positives /
planted shrinking cities in scope: the planted natural cities (noiseless base-year
lit area > 5 km²) plus any smaller planted city the detector did measure (noise can
lift a 4.9 km² city over the rule; it is then judged like any other).
A detected city that contains no planted city (a flare, noise) can only be a false
positive; a planted city that no polygon contains counts against recall.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd


def score_against_truth(result: gpd.GeoDataFrame, truth: pd.DataFrame, *, decline: float = 0.10) -> dict:
    """Precision and recall of ``result["shrinking"]`` against ``truth["true_change"] <= -decline``.

    Parameters
    ----------
    result : GeoDataFrame
        Output of :func:`nightlight.detect_shrinking` (``city_id``, ``shrinking``, polygons).
    truth : DataFrame
        ``World.truth``: ``city_id``, ``lon``, ``lat``, ``true_change``,
        ``expected_natural_city`` and ``is_flare`` columns.
    decline : float
        The decline threshold the detector used.

    Returns
    -------
    dict
        precision, recall, counts, and the ids of false positives/negatives.
    """
    planted = truth[~truth["is_flare"].astype(bool)]
    expected = int(planted["expected_natural_city"].astype(bool).sum())  # planted natural cities, flares not
    points = gpd.GeoDataFrame(
        planted[["city_id", "true_change"]].rename(columns={"city_id": "truth_id"}),
        geometry=gpd.points_from_xy(planted["lon"], planted["lat"]),
        crs="EPSG:4326",
    ).to_crs(result.crs)
    joined = gpd.sjoin(points, result[["city_id", "shrinking", "geometry"]], how="left", predicate="within")
    joined = joined.drop_duplicates("truth_id")
    # The cities that should be judged: every planted natural city, plus any planted
    # city that noise pushed just over 5 km² and the detector therefore measured.
    in_scope = set(planted.loc[planted["expected_natural_city"].astype(bool), "city_id"])
    in_scope |= {int(t) for t in joined.dropna(subset=["city_id"])["truth_id"]}
    planted = planted[planted["city_id"].isin(in_scope)]
    joined = joined[joined["truth_id"].isin(in_scope)]
    truth_shrinking = set(planted.loc[planted["true_change"] <= -decline, "city_id"])
    detected = set(result.loc[result["shrinking"].fillna(False).astype(bool), "city_id"])
    hit = joined.dropna(subset=["city_id"])
    detected_truth = {int(t) for t, d in zip(hit["truth_id"], hit["city_id"]) if d in detected}
    tp = len(detected_truth & truth_shrinking)
    change_by_id = dict(zip(result["city_id"], result["change"]))
    measured = np.array([change_by_id.get(d, np.nan) for d in hit["city_id"]], dtype=float)
    matched_detected = set(hit.loc[hit["truth_id"].isin(truth_shrinking), "city_id"])
    false_pos = sorted(int(d) for d in detected - matched_detected)
    false_neg = sorted(int(t) for t in truth_shrinking - detected_truth)
    return {
        "precision": tp / len(detected) if detected else float("nan"),
        "recall": tp / len(truth_shrinking) if truth_shrinking else float("nan"),
        "true_positives": tp,
        "detected_shrinking": len(detected),
        "truth_shrinking": len(truth_shrinking),
        "matched": int(hit["truth_id"].nunique()),
        "expected": expected,
        "in_scope": int(len(planted)),
        "false_positive_city_ids": false_pos,
        "false_negative_truth_ids": false_neg,
        "median_abs_change_error": float(np.nanmedian(np.abs(measured - hit["true_change"].to_numpy())))
        if len(hit)
        else float("nan"),
    }
