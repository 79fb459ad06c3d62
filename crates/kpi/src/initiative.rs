//! Did an improvement initiative work? A KPI's figure in the period after the initiative
//! started, against the period of the same length before, judged by the significance test of
//! [`crate::figure::compare`] in the direction of the KPI's polarity.

use serde::Serialize;
use stats::significance::TestResult;

use crate::catalogue::{KpiDefinition, Polarity};
use crate::figure::Figure;

/// The length of each period, before and after the start, unless the initiative says otherwise.
pub const DEFAULT_PERIOD_DAYS: i64 = 28;

/// What happened to the KPI after the initiative started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A significant change in the good direction.
    Improved,
    /// A significant change in the bad direction.
    Worsened,
    /// Enough cases on both sides, but no change a test can tell from chance.
    NoClearChange,
    /// One side rests on too few cases (or none yet) to judge.
    TooFewCases,
    /// The KPI's roll-ups are being computed again from the whole log: no figures to judge yet.
    Recomputing,
}

impl Outcome {
    /// The stable text form.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Improved => "improved",
            Outcome::Worsened => "worsened",
            Outcome::NoClearChange => "no_clear_change",
            Outcome::TooFewCases => "too_few_cases",
            Outcome::Recomputing => "recomputing",
        }
    }

    /// How a person reads it.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Improved => "Significant improvement",
            Outcome::Worsened => "Significant worsening",
            Outcome::NoClearChange => "No clear change",
            Outcome::TooFewCases => "Too few cases",
            Outcome::Recomputing => "Being recomputed",
        }
    }
}

/// Judges the change from `before` to `after` (the same KPI over two periods of equal length),
/// given the test that compared them (`None` when no test could run).
///
/// Too few cases on either side wins over everything: a test on thin data is not a verdict. A
/// significant test is an improvement when the statistic (positive: `after` is higher) points
/// the way the KPI's polarity calls better.
///
/// ```
/// use kpi::initiative::{judge, Outcome};
/// let definition = kpi::find("first_reply_median").unwrap(); // lower is better
/// let figure = |value, n| kpi::Figure { key: "first_reply_median".into(), value: Some(value),
///     unit: "seconds", n, ci_low: None, ci_high: None, target: None, status: "unknown",
///     too_few_cases: n < 30 };
/// let faster = stats::significance::two_proportion_z_test((80, 100), (20, 100)).unwrap();
/// assert_eq!(judge(&definition, &figure(7200.0, 100), &figure(1800.0, 100), Some(&faster)), Outcome::Improved);
/// assert_eq!(judge(&definition, &figure(7200.0, 10), &figure(1800.0, 100), Some(&faster)), Outcome::TooFewCases);
/// ```
pub fn judge(
    definition: &KpiDefinition,
    before: &Figure,
    after: &Figure,
    change: Option<&TestResult>,
) -> Outcome {
    let thin = |figure: &Figure| figure.value.is_none() || figure.too_few_cases;
    let Some(test) = change else {
        return Outcome::TooFewCases;
    };
    if thin(before) || thin(after) {
        return Outcome::TooFewCases;
    }
    if !test.significant || test.statistic == 0.0 {
        return Outcome::NoClearChange;
    }
    let after_is_higher = test.statistic > 0.0;
    let better = match definition.polarity {
        Polarity::HigherIsBetter => after_is_higher,
        Polarity::LowerIsBetter => !after_is_higher,
    };
    if better {
        Outcome::Improved
    } else {
        Outcome::Worsened
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use stats::significance::two_proportion_z_test;

    fn figure(key: &str, value: Option<f64>, n: u64) -> Figure {
        Figure {
            key: key.into(),
            value,
            unit: "percent",
            n,
            ci_low: None,
            ci_high: None,
            target: None,
            status: "unknown",
            too_few_cases: n < 30,
        }
    }

    #[test]
    fn the_verdict_follows_the_test_in_the_direction_of_the_polarity() {
        let rose = two_proportion_z_test((40, 200), (120, 200)).unwrap();
        let fell = two_proportion_z_test((120, 200), (40, 200)).unwrap();
        let flat = two_proportion_z_test((100, 200), (104, 200)).unwrap();
        let higher_is_better = crate::find("first_contact_resolution").unwrap();
        let lower_is_better = crate::find("reopen_rate").unwrap();
        assert_eq!(higher_is_better.polarity, Polarity::HigherIsBetter);
        assert_eq!(lower_is_better.polarity, Polarity::LowerIsBetter);
        let (before, after) = (figure("x", Some(20.0), 200), figure("x", Some(60.0), 200));
        let cases = [
            (&higher_is_better, &rose, Outcome::Improved),
            (&higher_is_better, &fell, Outcome::Worsened),
            (&lower_is_better, &rose, Outcome::Worsened),
            (&lower_is_better, &fell, Outcome::Improved),
            (&higher_is_better, &flat, Outcome::NoClearChange),
            (&lower_is_better, &flat, Outcome::NoClearChange),
        ];
        for (definition, test, expected) in cases {
            assert_eq!(
                judge(definition, &before, &after, Some(test)),
                expected,
                "{} with statistic {}",
                definition.key,
                test.statistic
            );
        }
    }

    #[test]
    fn thin_data_or_no_test_is_too_few_cases_whatever_the_test_says() {
        let rose = two_proportion_z_test((40, 200), (120, 200)).unwrap();
        let definition = crate::find("first_contact_resolution").unwrap();
        let enough = figure("x", Some(50.0), 200);
        let cases = [
            (figure("x", Some(50.0), 12), enough.clone(), Some(&rose)),
            (enough.clone(), figure("x", Some(50.0), 29), Some(&rose)),
            (enough.clone(), figure("x", None, 0), Some(&rose)),
            (enough.clone(), enough.clone(), None),
        ];
        for (before, after, test) in cases {
            assert_eq!(
                judge(&definition, &before, &after, test),
                Outcome::TooFewCases,
                "before n={} after n={}",
                before.n,
                after.n
            );
        }
    }
}
