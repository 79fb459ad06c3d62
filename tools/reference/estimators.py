"""Reference values for the `stats` estimators and tests, with their inputs, as one JSON document.

Each case holds its input and what statsmodels or scipy computes for it:
- wilson: statsmodels.stats.proportion.proportion_confint(method="wilson");
- percentile: numpy.percentile (linear, the default) for the point, and the order-statistic
  interval of scipy.stats.quantile_test(x, p=q).confidence_interval(0.95) (null where scipy gives
  nan: the bound cannot be reached at 95% with so few values);
- nps: 100 * (P - D) with Var = (P + D - (P - D)^2) / n and scipy.stats.norm.ppf(0.975);
- two_proportion: statsmodels.stats.proportion.proportions_ztest([current, previous], ...);
- mann_whitney: scipy.stats.mannwhitneyu(current, previous, method="asymptotic");
- welch: scipy.stats.ttest_ind(current, previous, equal_var=False).

Usage:
    python estimators.py > crates/stats/tests/data/estimators.json
"""

import json
import math

import numpy as np
from scipy import stats
from statsmodels.stats.proportion import proportion_confint, proportions_ztest

SEED = 7


def nullable(value):
    value = float(value)
    return None if math.isnan(value) or math.isinf(value) else value


def reply_times(rng, n, scale):
    # Skewed like real reply times, rounded to whole minutes so ties occur.
    return [float(v) for v in np.rint(rng.lognormal(math.log(scale), 0.9, n))]


def main():
    rng = np.random.default_rng(SEED)
    wilson = []
    for successes, n in [(0, 1), (1, 1), (0, 10), (10, 10), (3, 10), (45, 50), (29, 30),
                         (412, 500), (7, 1000), (9950, 10000), (1, 3), (50, 100)]:
        low, high = proportion_confint(successes, n, alpha=0.05, method="wilson")
        wilson.append({"successes": successes, "n": n, "value": successes / n,
                       "low": float(low), "high": float(high)})

    percentile = []
    for n in [1, 5, 6, 10, 35, 36, 37, 100, 1000]:
        values = reply_times(rng, n, 45.0)
        for q in [0.5, 0.9, 0.1, 0.25, 0.95]:
            ci = stats.quantile_test(values, p=q).confidence_interval(0.95)
            percentile.append({"values": values, "q": q,
                               "value": float(np.percentile(values, q * 100)),
                               "low": nullable(ci.low), "high": nullable(ci.high)})

    nps = []
    z = stats.norm.ppf(0.975)
    for promoters, passives, detractors in [(50, 30, 20), (12, 5, 3), (300, 150, 250),
                                            (0, 0, 40), (9, 1, 0), (1234, 800, 600)]:
        n = promoters + passives + detractors
        p, d = promoters / n, detractors / n
        se = 100 * math.sqrt((p + d - (p - d) ** 2) / n)
        value = 100 * (p - d)
        nps.append({"promoters": promoters, "passives": passives, "detractors": detractors,
                    "value": value, "standard_error": se,
                    "low": max(-100.0, value - z * se), "high": min(100.0, value + z * se)})

    two_proportion = []
    for previous, current in [((720, 1000), (785, 1000)), ((45, 50), (40, 50)),
                              ((300, 400), (310, 420)), ((12, 20), (19, 21))]:
        statistic, p_value = proportions_ztest([current[0], previous[0]], [current[1], previous[1]])
        two_proportion.append({"previous": list(previous), "current": list(current),
                               "statistic": float(statistic), "p_value": float(p_value)})

    mann_whitney = []
    welch = []
    for n_previous, n_current, scale_previous, scale_current in [
            (60, 80, 45.0, 45.0), (200, 180, 45.0, 38.0), (15, 12, 30.0, 60.0), (500, 450, 20.0, 21.0)]:
        previous = reply_times(rng, n_previous, scale_previous)
        current = reply_times(rng, n_current, scale_current)
        u = stats.mannwhitneyu(current, previous, alternative="two-sided", method="asymptotic")
        mann_whitney.append({"previous": previous, "current": current,
                             "statistic": float(u.statistic), "p_value": float(u.pvalue)})
        t = stats.ttest_ind(current, previous, equal_var=False)
        welch.append({"previous": previous, "current": current, "statistic": float(t.statistic),
                      "p_value": float(t.pvalue), "degrees_of_freedom": float(t.df)})

    print(json.dumps({"wilson": wilson, "percentile": percentile, "nps": nps,
                      "two_proportion": two_proportion, "mann_whitney": mann_whitney,
                      "welch": welch}))


if __name__ == "__main__":
    main()
