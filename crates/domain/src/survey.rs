//! Surveys: what is asked after a conversation is solved (CSAT, CES, NPS), the rules that
//! decide whether a solved conversation is surveyed, and the attributes of priorities
//! research (the SERVQUAL dimensions and the team's own).
//!
//! "Will this conversation be surveyed?" → [`decide_survey`]: a pure function of the facts
//! the send job gathers, so a rerun of the job (after a crash, or on another node) decides
//! the same. Sampling uses a hash of the conversation number ([`sampled`]), not a random
//! draw, and the once-per-N-days rule counts every invitation to the customer on either
//! side of the moment the survey fell due, so a late rerun cannot slip in between.

use serde::{Deserialize, Serialize};

use crate::permission::{Principal, Role, Scope};
use crate::{Millis, Status, DAY_MILLIS};

/// The question asked after a solved conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SurveyKind {
    /// Customer satisfaction: "How satisfied are you…?" on a configurable scale (1–5 by default).
    Csat,
    /// Customer effort: "How easy was it…?" on 1–7.
    Ces,
    /// Net Promoter: "How likely are you to recommend us…?" on 0–10.
    Nps,
}

impl SurveyKind {
    pub const ALL: [SurveyKind; 3] = [SurveyKind::Csat, SurveyKind::Ces, SurveyKind::Nps];

    /// The stable text form (`csat`, `ces`, `nps`), as in the events and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            SurveyKind::Csat => "csat",
            SurveyKind::Ces => "ces",
            SurveyKind::Nps => "nps",
        }
    }

    pub fn parse(text: &str) -> Option<SurveyKind> {
        SurveyKind::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// The short name people read: CSAT, CES, NPS.
    pub fn label(self) -> &'static str {
        match self {
            SurveyKind::Csat => "CSAT",
            SurveyKind::Ces => "CES",
            SurveyKind::Nps => "NPS",
        }
    }

    /// The scale of this kind: CES and NPS have fixed scales; CSAT uses `csat` (checked by
    /// [`Scale::for_csat`]).
    pub fn scale(self, csat: Scale) -> Scale {
        match self {
            SurveyKind::Csat => csat,
            SurveyKind::Ces => Scale { min: 1, max: 7 },
            SurveyKind::Nps => Scale { min: 0, max: 10 },
        }
    }

    /// The question asked when the administrator wrote none.
    pub fn default_question(self) -> &'static str {
        match self {
            SurveyKind::Csat => "How satisfied are you with the help you received?",
            SurveyKind::Ces => "How easy was it to get your request handled?",
            SurveyKind::Nps => "How likely are you to recommend us to a friend or colleague?",
        }
    }

    /// What the two ends of the scale mean, for the page.
    pub fn scale_labels(self) -> (&'static str, &'static str) {
        match self {
            SurveyKind::Csat => ("Very dissatisfied", "Very satisfied"),
            SurveyKind::Ces => ("Very difficult", "Very easy"),
            SurveyKind::Nps => ("Not at all likely", "Extremely likely"),
        }
    }
}

/// A rating scale, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scale {
    pub min: i64,
    pub max: i64,
}

/// A survey setting or answer that breaks a rule, in words a person understands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SurveyRuleError(pub String);

impl Scale {
    /// The default CSAT scale, 1 to 5.
    pub const CSAT_DEFAULT: Scale = Scale { min: 1, max: 5 };

    /// A CSAT scale: starting at 0 or 1, with 3 to 11 points (1–3, 1–5, 1–7, 1–10, 0–10, …).
    pub fn for_csat(min: i64, max: i64) -> Result<Scale, SurveyRuleError> {
        if !(0..=1).contains(&min) {
            return Err(SurveyRuleError(format!(
                "a CSAT scale starts at 0 or 1, not {min}"
            )));
        }
        if max < min + 2 || max > 10 {
            return Err(SurveyRuleError(format!(
                "a CSAT scale from {min} ends between {} and 10, not at {max}",
                min + 2
            )));
        }
        Ok(Scale { min, max })
    }

    pub fn contains(self, score: i64) -> bool {
        (self.min..=self.max).contains(&score)
    }

    /// Every point of the scale, lowest first.
    pub fn points(self) -> Vec<i64> {
        (self.min..=self.max).collect()
    }

    /// Checks an answer's score.
    pub fn check(self, score: i64) -> Result<i64, SurveyRuleError> {
        if self.contains(score) {
            Ok(score)
        } else {
            Err(SurveyRuleError(format!(
                "choose a score from {} to {}",
                self.min, self.max
            )))
        }
    }
}

/// How the invitation reaches the customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SurveyChannel {
    /// An automatic e-mail with a link; the survey also shows in the portal.
    Email,
    /// Only in the customer portal, for customers who sign in.
    Portal,
}

impl SurveyChannel {
    pub fn as_str(self) -> &'static str {
        match self {
            SurveyChannel::Email => "email",
            SurveyChannel::Portal => "portal",
        }
    }

    pub fn parse(text: &str) -> Option<SurveyChannel> {
        match text {
            "email" => Some(SurveyChannel::Email),
            "portal" => Some(SurveyChannel::Portal),
            _ => None,
        }
    }
}

/// Whether conversation `number` falls in a sample of `rate` (0 to 1), decided by a hash of
/// the number alone: the same conversation always gets the same answer, and over many
/// conversations the share sampled approaches `rate`.
///
/// ```
/// use domain::survey::sampled;
/// assert!(sampled(42, 1.0));
/// assert!(!sampled(42, 0.0));
/// assert_eq!(sampled(42, 0.3), sampled(42, 0.3));
/// ```
pub fn sampled(number: i64, rate: f64) -> bool {
    if rate.is_nan() || rate <= 0.0 {
        return false;
    }
    if rate >= 1.0 {
        return true;
    }
    // splitmix64: a fixed, well-mixed bijection of the number; its top 53 bits give a
    // fraction uniform in [0, 1).
    let mut z = (number as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    let fraction = (z >> 11) as f64 / (1u64 << 53) as f64;
    fraction < rate
}

/// What the e-mail address of the customer allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reachability {
    /// An address that has not bounced.
    Deliverable,
    /// The customer has no e-mail address.
    NoAddress,
    /// The address bounced hard or complained: no more mail to it.
    Undeliverable,
    /// The portal needs no address.
    NotNeeded,
}

/// The facts the send job gathers about a solved conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct SurveyFacts {
    pub number: i64,
    /// Whether surveys are switched on now.
    pub enabled: bool,
    pub status: Status,
    /// When the conversation was last solved (absent after a reopen).
    pub solved_at: Option<Millis>,
    /// The solve the job was queued for.
    pub job_solved_at: Millis,
    /// When the survey fell due (solved + delay).
    pub due_at: Millis,
    pub merged: bool,
    /// This conversation already has an invitation.
    pub already_surveyed: bool,
    /// The invitation to the same customer sent closest to `due_at` (before or after).
    pub nearest_invitation_to_customer: Option<Millis>,
    pub min_days_between: i64,
    pub sampling_rate: f64,
    pub reachability: Reachability,
    pub now: Millis,
}

/// Why a solved conversation is not surveyed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    Disabled,
    /// Reopened (not solved or closed any more), or solved again since (a newer job decides).
    NoLongerSolved,
    Merged,
    AlreadySurveyed,
    NotSampled,
    /// The customer had (or will have) another survey within the minimum number of days.
    SurveyedRecently,
    NoAddress,
    Undeliverable,
    /// By e-mail, but no support mailbox is configured to send from.
    NoMailbox,
    /// The job ran more than [`LATE_LIMIT_MILLIS`] after the survey fell due: too late to ask.
    TooLate,
}

/// A survey job that runs later than this after its due time sends nothing (a server that was
/// down for weeks does not ask about old conversations).
pub const LATE_LIMIT_MILLIS: Millis = 7 * DAY_MILLIS;

/// Decides whether to survey, in a fixed order of rules (the first that says no wins).
pub fn decide_survey(f: &SurveyFacts) -> Result<(), SkipReason> {
    if !f.enabled {
        return Err(SkipReason::Disabled);
    }
    let still_solved =
        matches!(f.status, Status::Solved | Status::Closed) && f.solved_at == Some(f.job_solved_at);
    if !still_solved {
        return Err(SkipReason::NoLongerSolved);
    }
    if f.merged {
        return Err(SkipReason::Merged);
    }
    if f.already_surveyed {
        return Err(SkipReason::AlreadySurveyed);
    }
    if f.now - f.due_at > LATE_LIMIT_MILLIS {
        return Err(SkipReason::TooLate);
    }
    if !sampled(f.number, f.sampling_rate) {
        return Err(SkipReason::NotSampled);
    }
    if let Some(at) = f.nearest_invitation_to_customer {
        if (at - f.due_at).abs() < f.min_days_between * DAY_MILLIS {
            return Err(SkipReason::SurveyedRecently);
        }
    }
    match f.reachability {
        Reachability::NoAddress => Err(SkipReason::NoAddress),
        Reachability::Undeliverable => Err(SkipReason::Undeliverable),
        Reachability::Deliverable | Reachability::NotNeeded => Ok(()),
    }
}

/// A service attribute built into priorities research: the SERVQUAL dimensions
/// (Parasuraman, Zeithaml and Berry, 1988). (key, label, what customers rate)
pub const SERVQUAL: [(&str, &str, &str); 5] = [
    (
        "reliability",
        "Reliability",
        "Doing what was promised, dependably and accurately",
    ),
    (
        "responsiveness",
        "Responsiveness",
        "Willingness to help and prompt service",
    ),
    (
        "assurance",
        "Assurance",
        "Knowledge and courtesy of the team, and the trust they inspire",
    ),
    (
        "empathy",
        "Empathy",
        "Caring, individual attention to each customer",
    ),
    (
        "tangibles",
        "Tangibles",
        "The look of our tools, messages and materials",
    ),
];

/// The scale of priorities research: importance, performance and overall satisfaction, 1 to 7.
pub const RESEARCH_SCALE: Scale = Scale { min: 1, max: 7 };

/// Checks the key of a team's own attribute: it names CSV columns (`importance_<key>`), so
/// lowercase letters, digits and underscores, starting with a letter, at most 40 characters.
pub fn check_attribute_key(key: &str) -> Result<&str, SurveyRuleError> {
    let ok = !key.is_empty()
        && key.len() <= 40
        && key.starts_with(|c: char| c.is_ascii_lowercase())
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(key)
    } else {
        Err(SurveyRuleError(format!(
            "attribute key {key:?} must be lowercase letters, digits and underscores, starting with a letter (at most 40), e.g. first_reply_speed"
        )))
    }
}

impl Principal {
    /// Whether this principal may read survey answers, kudos and priorities research, and
    /// invite customers to research: managers and administrators, admin tokens, Rapport.
    pub fn can_read_survey_results(&self) -> bool {
        match self {
            Principal::Agent { role, .. } => *role >= Role::Manager,
            Principal::System => true,
            Principal::Customer { .. } => false,
            Principal::Token { scopes, .. } => scopes.contains(&Scope::Admin),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> SurveyFacts {
        SurveyFacts {
            number: 7,
            enabled: true,
            status: Status::Solved,
            solved_at: Some(1_000),
            job_solved_at: 1_000,
            due_at: 2_000,
            merged: false,
            already_surveyed: false,
            nearest_invitation_to_customer: None,
            min_days_between: 30,
            sampling_rate: 1.0,
            reachability: Reachability::Deliverable,
            now: 2_000,
        }
    }

    #[test]
    fn each_rule_says_no_on_its_own() {
        let base = facts();
        assert_eq!(decide_survey(&base), Ok(()));
        let cases: Vec<(SurveyFacts, SkipReason)> = vec![
            (
                SurveyFacts {
                    enabled: false,
                    ..base.clone()
                },
                SkipReason::Disabled,
            ),
            (
                SurveyFacts {
                    status: Status::Open,
                    solved_at: None,
                    ..base.clone()
                },
                SkipReason::NoLongerSolved,
            ),
            (
                SurveyFacts {
                    solved_at: Some(5_000),
                    ..base.clone()
                },
                SkipReason::NoLongerSolved,
            ),
            (
                SurveyFacts {
                    merged: true,
                    ..base.clone()
                },
                SkipReason::Merged,
            ),
            (
                SurveyFacts {
                    already_surveyed: true,
                    ..base.clone()
                },
                SkipReason::AlreadySurveyed,
            ),
            (
                SurveyFacts {
                    sampling_rate: 0.0,
                    ..base.clone()
                },
                SkipReason::NotSampled,
            ),
            (
                SurveyFacts {
                    nearest_invitation_to_customer: Some(2_000 - 29 * DAY_MILLIS),
                    ..base.clone()
                },
                SkipReason::SurveyedRecently,
            ),
            (
                SurveyFacts {
                    nearest_invitation_to_customer: Some(2_000 + DAY_MILLIS),
                    ..base.clone()
                },
                SkipReason::SurveyedRecently,
            ),
            (
                SurveyFacts {
                    reachability: Reachability::NoAddress,
                    ..base.clone()
                },
                SkipReason::NoAddress,
            ),
            (
                SurveyFacts {
                    reachability: Reachability::Undeliverable,
                    ..base.clone()
                },
                SkipReason::Undeliverable,
            ),
            (
                SurveyFacts {
                    now: 2_000 + LATE_LIMIT_MILLIS + 1,
                    ..base.clone()
                },
                SkipReason::TooLate,
            ),
        ];
        for (f, reason) in cases {
            assert_eq!(decide_survey(&f), Err(reason), "{f:?}");
        }
        // A closed conversation was solved first: it is surveyed; an old invitation is no bar.
        let closed = SurveyFacts {
            status: Status::Closed,
            nearest_invitation_to_customer: Some(2_000 - 30 * DAY_MILLIS),
            ..base
        };
        assert_eq!(decide_survey(&closed), Ok(()));
    }

    #[test]
    fn sampling_is_stable_and_close_to_the_rate() {
        for rate in [0.1, 0.25, 0.5, 0.9] {
            let hits = (1..=20_000).filter(|n| sampled(*n, rate)).count();
            let share = hits as f64 / 20_000.0;
            assert!((share - rate).abs() < 0.02, "rate {rate}: {share}");
            assert!((1..=500).all(|n| sampled(n, rate) == sampled(n, rate)));
        }
        // A larger rate keeps everyone a smaller one sampled.
        assert!((1..=2_000).all(|n| !sampled(n, 0.2) || sampled(n, 0.6)));
        assert!(!sampled(1, f64::NAN));
    }

    #[test]
    fn scales_follow_their_kind() {
        assert_eq!(
            SurveyKind::Nps.scale(Scale::CSAT_DEFAULT),
            Scale { min: 0, max: 10 }
        );
        assert_eq!(
            SurveyKind::Ces.scale(Scale::CSAT_DEFAULT),
            Scale { min: 1, max: 7 }
        );
        assert!(Scale::for_csat(1, 5).is_ok());
        assert!(Scale::for_csat(0, 10).is_ok());
        assert!(Scale::for_csat(1, 2).is_err());
        assert!(Scale::for_csat(2, 5).is_err());
        assert!(Scale::for_csat(1, 11).is_err());
        assert!(Scale::CSAT_DEFAULT.check(6).is_err());
        assert_eq!(Scale::CSAT_DEFAULT.points(), vec![1, 2, 3, 4, 5]);
    }

    #[test]
    fn attribute_keys_make_safe_column_names() {
        assert!(check_attribute_key("first_reply_speed").is_ok());
        for bad in ["", "First", "1st", "a-b", "a b", &"x".repeat(41)] {
            assert!(check_attribute_key(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_managers_admins_and_admin_tokens_read_results() {
        let agent = |role| Principal::Agent {
            id: 1,
            role,
            groups: vec![],
        };
        assert!(!agent(Role::Agent).can_read_survey_results());
        assert!(!agent(Role::Lead).can_read_survey_results());
        assert!(agent(Role::Manager).can_read_survey_results());
        assert!(agent(Role::Admin).can_read_survey_results());
        assert!(!Principal::Customer { id: 1 }.can_read_survey_results());
        assert!(Principal::Token {
            id: 1,
            scopes: vec![Scope::Admin]
        }
        .can_read_survey_results());
        assert!(!Principal::Token {
            id: 1,
            scopes: vec![Scope::ConversationsRead, Scope::CustomersRead]
        }
        .can_read_survey_results());
    }
}
