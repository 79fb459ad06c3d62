//! Net Promoter Score with the variance of a difference of multinomial proportions.

use serde::Serialize;

use crate::{distributions, Estimate, StatsError, CONFIDENCE};

/// A Net Promoter Score on the usual −100…+100 scale, with its parts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct NetPromoterScore {
    /// The score with its n and 95% interval, on the −100…+100 scale.
    pub score: Estimate,
    /// The standard error of the score, on the same scale.
    pub standard_error: f64,
    /// Share of promoters (answers 9–10), 0…1.
    pub promoter_share: f64,
    /// Share of detractors (answers 0–6), 0…1.
    pub detractor_share: f64,
}

/// The NPS of `promoters`, `passives` and `detractors` counts, with a 95% interval.
///
/// NPS = 100 · (P − D), where P and D are the promoter and detractor shares of the same
/// respondents. P and D come from one multinomial sample, so they are negatively correlated:
/// `Var(P − D) = (P + D − (P − D)²) / n`, not the sum of two binomial variances (which overstates
/// the uncertainty) and not a binomial variance of "promoter or not" (which ignores the
/// detractors). The interval is `NPS ± z · 100 · √Var`, clipped to [−100, 100].
///
/// When every respondent gives the same kind of answer the variance is 0 and the interval is a
/// single point; such a sample is small in practice and is flagged `too_few_cases` below
/// [`crate::MIN_CASES`] respondents.
pub fn net_promoter_score(
    promoters: u64,
    passives: u64,
    detractors: u64,
) -> Result<NetPromoterScore, StatsError> {
    let n = promoters + passives + detractors;
    if n == 0 {
        return Err(StatsError::TooFewRows {
            what: "a Net Promoter Score".into(),
            needed: 1,
            got: 0,
            detail: String::new(),
        });
    }
    let n_f = n as f64;
    let promoter_share = promoters as f64 / n_f;
    let detractor_share = detractors as f64 / n_f;
    let difference = promoter_share - detractor_share;
    let variance = ((promoter_share + detractor_share - difference * difference) / n_f).max(0.0);
    let standard_error = 100.0 * variance.sqrt();
    let z = distributions::normal_quantile(0.5 + CONFIDENCE / 2.0)?;
    let value = 100.0 * difference;
    let low = (value - z * standard_error).max(-100.0);
    let high = (value + z * standard_error).min(100.0);
    Ok(NetPromoterScore {
        score: Estimate::new(value, n as usize, low, high),
        standard_error,
        promoter_share,
        detractor_share,
    })
}

/// The NPS of raw 0–10 answers to "how likely are you to recommend us?".
pub fn net_promoter_score_of_answers(answers: &[u8]) -> Result<NetPromoterScore, StatsError> {
    let (mut promoters, mut passives, mut detractors) = (0, 0, 0);
    for &answer in answers {
        match answer {
            9..=10 => promoters += 1,
            7..=8 => passives += 1,
            0..=6 => detractors += 1,
            _ => {
                return Err(StatsError::InvalidInput(format!(
                    "an NPS answer is 0 to 10, got {answer}"
                )))
            }
        }
    }
    net_promoter_score(promoters, passives, detractors)
}
