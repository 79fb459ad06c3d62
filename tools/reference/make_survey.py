"""Writes the synthetic customer survey used by the `stats` reference tests.

400 respondents rate six SERVQUAL-style service attributes twice on a 1-7 scale: how important
the attribute is to them (`importance_<attribute>`) and how well we perform on it
(`performance_<attribute>`), then give an overall satisfaction rating (1-7).

The structure is known, so a reader can judge the analyses: overall satisfaction is driven by
performance with weights reliability 0.40, responsiveness 0.25, empathy 0.15, assurance 0.10,
tangibles 0.05 and ease 0.00, plus noise. Performance ratings share a halo (a respondent's general
mood), so drivers are correlated as in real surveys. About 3% of cells are missing at random.

Deterministic: numpy's PCG64 with a fixed seed. Usage:
    python make_survey.py > crates/stats/tests/data/survey.csv
"""

import sys

import numpy as np

SEED = 20261126
RESPONDENTS = 400
MISSING_SHARE = 0.03

# attribute: (mean importance, mean performance, weight on overall satisfaction)
ATTRIBUTES = {
    "tangibles": (3.6, 5.4, 0.05),
    "reliability": (6.3, 4.6, 0.40),
    "responsiveness": (5.9, 4.4, 0.25),
    "assurance": (5.2, 5.6, 0.10),
    "empathy": (4.6, 4.9, 0.15),
    "ease": (4.2, 5.2, 0.00),
}


def to_scale(values):
    return np.clip(np.rint(values), 1, 7)


def main():
    rng = np.random.default_rng(SEED)
    halo = rng.normal(0.0, 0.7, RESPONDENTS)
    columns = {"respondent_id": [f"r{i:04d}" for i in range(1, RESPONDENTS + 1)]}
    latent_overall = np.full(RESPONDENTS, 1.2)
    for name, (importance_mean, performance_mean, weight) in ATTRIBUTES.items():
        importance = to_scale(rng.normal(importance_mean, 1.0, RESPONDENTS))
        performance = to_scale(performance_mean + halo + rng.normal(0.0, 1.1, RESPONDENTS))
        latent_overall += weight * performance
        columns[f"importance_{name}"] = importance
        columns[f"performance_{name}"] = performance
    columns["overall_satisfaction"] = to_scale(latent_overall + rng.normal(0.0, 0.6, RESPONDENTS))

    numeric = [c for c in columns if c != "respondent_id"]
    for name in numeric:
        missing = rng.random(RESPONDENTS) < MISSING_SHARE
        columns[name] = [None if m else v for v, m in zip(columns[name], missing)]

    out = sys.stdout
    out.write(",".join(columns) + "\n")
    for row in range(RESPONDENTS):
        cells = []
        for name, values in columns.items():
            value = values[row]
            cells.append("" if value is None else (value if isinstance(value, str) else str(int(value))))
        out.write(",".join(cells) + "\n")


if __name__ == "__main__":
    main()
