"""Reference for `rapport analyze ipa`: importance-performance analysis with pandas and scipy.

Prints the fields of `rapport analyze ipa --csv FILE` that can be computed independently; the
Rust tests compare the two to 1e-6 (numbers) and exactly (names, n, quadrants).

Decisions mirrored from the Rust side (crates/stats/src/ipa.rs):
- attributes are the `importance_<name>` columns, in file order, each paired with
  `performance_<name>`;
- pairwise per attribute: an attribute's point uses the rows where both its ratings are present;
- each mean has a Student t 95% interval (scipy.stats.t.interval with the standard error);
- crosshairs at the grand means: the mean over attributes of the attribute means;
- quadrant: importance >= crosshair and performance < crosshair is "concentrate_here", both >= is
  "keep_up_the_good_work", both < is "low_priority", importance < and performance >= is
  "possible_overkill".

Usage:
    python ipa.py --csv survey.csv
"""

import argparse
import json

import pandas as pd
from scipy import stats


def mean_interval(values):
    mean = values.mean()
    low, high = stats.t.interval(0.95, len(values) - 1, loc=mean, scale=stats.sem(values))
    return float(mean), float(low), float(high)


def quadrant(importance, performance, crosshair_importance, crosshair_performance):
    important = importance >= crosshair_importance
    performing = performance >= crosshair_performance
    if important and not performing:
        return "concentrate_here"
    if important and performing:
        return "keep_up_the_good_work"
    if not important and not performing:
        return "low_priority"
    return "possible_overkill"


def ipa(frame):
    names = [c[len("importance_"):] for c in frame.columns if c.startswith("importance_")]
    points = []
    for name in names:
        pair = frame[[f"importance_{name}", f"performance_{name}"]].dropna()
        importance = mean_interval(pair[f"importance_{name}"].astype(float))
        performance = mean_interval(pair[f"performance_{name}"].astype(float))
        points.append((name, len(pair), importance, performance))
    grand_importance = sum(p[2][0] for p in points) / len(points)
    grand_performance = sum(p[3][0] for p in points) / len(points)
    return {
        "grand_mean_importance": grand_importance,
        "grand_mean_performance": grand_performance,
        "rows": len(frame),
        "attributes": [
            {
                "name": name,
                "n": n,
                "importance_mean": imp[0],
                "importance_ci_low": imp[1],
                "importance_ci_high": imp[2],
                "performance_mean": perf[0],
                "performance_ci_low": perf[1],
                "performance_ci_high": perf[2],
                "quadrant": quadrant(imp[0], perf[0], grand_importance, grand_performance),
            }
            for name, n, imp, perf in points
        ],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", required=True)
    args = parser.parse_args()
    print(json.dumps(ipa(pd.read_csv(args.csv)), indent=2))


if __name__ == "__main__":
    main()
