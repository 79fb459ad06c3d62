"""Reference for `rapport analyze key-drivers`: the same report computed with statsmodels.

Prints the JSON that `rapport analyze key-drivers --csv FILE --outcome COL --drivers A,B,...`
prints, for the fields statsmodels can vouch for. The Rust tests compare the two to 1e-6.

Decisions mirrored from the Rust side (crates/stats/src/key_drivers.rs):
- listwise deletion: only rows where the outcome and every driver are present;
- OLS with an intercept; 95% intervals from the t distribution on n - k - 1 degrees of freedom;
- variance inflation factors from statsmodels' variance_inflation_factor on the design with the
  constant;
- standardised coefficients from a second fit on z-scored variables (sample standard deviation),
  which equals coefficient * sd(driver) / sd(outcome).

Usage:
    python statsmodels_key_drivers.py --csv survey.csv --outcome overall_satisfaction \
        --drivers performance_reliability,performance_empathy
"""

import argparse
import json

import pandas as pd
import statsmodels.api as sm
from statsmodels.stats.outliers_influence import variance_inflation_factor


def key_drivers(frame, outcome, drivers):
    data = frame[[outcome] + drivers].apply(pd.to_numeric, errors="raise").dropna()
    y = data[outcome]
    x = sm.add_constant(data[drivers], has_constant="add")
    fit = sm.OLS(y, x).fit()
    intervals = fit.conf_int(alpha=0.05)

    z = (data - data.mean()) / data.std(ddof=1)
    standardized = sm.OLS(z[outcome], sm.add_constant(z[drivers], has_constant="add")).fit().params

    def coefficient(name):
        return {
            "coefficient": float(fit.params[name]),
            "std_error": float(fit.bse[name]),
            "ci_low": float(intervals.loc[name, 0]),
            "ci_high": float(intervals.loc[name, 1]),
            "p_value": float(fit.pvalues[name]),
            "t_statistic": float(fit.tvalues[name]),
        }

    return {
        "n": int(fit.nobs),
        "r_squared": float(fit.rsquared),
        "adjusted_r_squared": float(fit.rsquared_adj),
        "f_statistic": float(fit.fvalue),
        "f_p_value": float(fit.f_pvalue),
        "df_model": int(fit.df_model),
        "df_residual": int(fit.df_resid),
        "intercept": coefficient("const"),
        "drivers": [
            {
                "name": name,
                **coefficient(name),
                "standardized": float(standardized[name]),
                "variance_inflation_factor": float(variance_inflation_factor(x.values, i + 1)),
            }
            for i, name in enumerate(drivers)
        ],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", required=True)
    parser.add_argument("--outcome", required=True)
    parser.add_argument("--drivers", required=True, help="comma-separated column names")
    args = parser.parse_args()
    frame = pd.read_csv(args.csv, keep_default_na=True)
    report = key_drivers(frame, args.outcome, args.drivers.split(","))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
