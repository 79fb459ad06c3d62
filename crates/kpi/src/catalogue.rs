//! The KPI catalogue: every KPI documented like a KPI record (name, definition, formula, unit,
//! polarity, frequency, target, red/amber/green thresholds, data source, owner). Targets,
//! thresholds and owners are defaults that administrators override (stored as settings).

use serde::Serialize;

use crate::measure::Measure;

/// Whether a higher or a lower value is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Polarity {
    HigherIsBetter,
    LowerIsBetter,
}

/// The unit a KPI's value is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    Seconds,
    Percent,
    Count,
    /// Points on the survey's scale (CES) or the −100…+100 NPS scale.
    Score,
    /// Replies per conversation.
    Replies,
}

impl Unit {
    /// The stable text form.
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Seconds => "seconds",
            Unit::Percent => "percent",
            Unit::Count => "count",
            Unit::Score => "score",
            Unit::Replies => "replies",
        }
    }
}

/// How a KPI's figure is computed from the roll-ups (or, for the backlog, from the live
/// conversations).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum Computation {
    /// A percentile of a duration measure's distribution.
    Percentile {
        #[serde(serialize_with = "measure_name")]
        measure: Measure,
        q: f64,
    },
    /// The share of observations with value 1 (sum / count), in percent, Wilson interval.
    Proportion {
        #[serde(serialize_with = "measure_name")]
        measure: Measure,
    },
    /// Observations of one measure per observation of another, in percent, Wilson interval.
    Rate {
        #[serde(serialize_with = "measure_name")]
        numerator: Measure,
        #[serde(serialize_with = "measure_name")]
        denominator: Measure,
    },
    /// The mean value, Student t interval.
    Mean {
        #[serde(serialize_with = "measure_name")]
        measure: Measure,
    },
    /// The number of observations; a count of what happened is exact (no interval).
    Count {
        #[serde(serialize_with = "measure_name")]
        measure: Measure,
    },
    /// The Net Promoter Score of 0–10 answers.
    NetPromoterScore,
    /// Conversations open now (new, open, pending, on hold): a live count.
    Backlog,
    /// A percentile of the age of the conversations open now.
    BacklogAge { q: f64 },
}

impl Computation {
    /// The roll-up measures this computation reads (none for the live backlog, which is
    /// counted from the open conversations), so that one figure loads only what it needs.
    pub fn measures(self) -> Vec<Measure> {
        match self {
            Computation::Percentile { measure, .. }
            | Computation::Proportion { measure }
            | Computation::Mean { measure }
            | Computation::Count { measure } => vec![measure],
            Computation::Rate {
                numerator,
                denominator,
            } => vec![numerator, denominator],
            Computation::NetPromoterScore => vec![Measure::Nps],
            Computation::Backlog | Computation::BacklogAge { .. } => Vec::new(),
        }
    }

    /// Whether the figure is live (the open conversations now) rather than a roll-up.
    pub fn is_live(self) -> bool {
        matches!(self, Computation::Backlog | Computation::BacklogAge { .. })
    }
}

fn measure_name<S: serde::Serializer>(measure: &Measure, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(measure.as_str())
}

/// One KPI record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KpiDefinition {
    pub key: &'static str,
    pub name: &'static str,
    pub definition: &'static str,
    pub formula: &'static str,
    pub unit: Unit,
    pub polarity: Polarity,
    /// How often the figure is refreshed and reviewed.
    pub frequency: &'static str,
    pub data_source: &'static str,
    pub computation: Computation,
    pub defaults: KpiSettings,
}

/// What administrators may change on a KPI.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct KpiSettings {
    pub target: Option<f64>,
    /// Past this value (in the bad direction) the KPI is amber.
    pub amber: Option<f64>,
    /// Past this value (in the bad direction) the KPI is red.
    pub red: Option<f64>,
    pub owner: String,
}

/// Red, amber or green against the thresholds; `unknown` when there is no figure or no threshold,
/// `too_few_cases` when the figure rests on too few cases to judge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Green,
    Amber,
    Red,
    TooFewCases,
    Unknown,
}

impl Status {
    /// The stable text form.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Green => "green",
            Status::Amber => "amber",
            Status::Red => "red",
            Status::TooFewCases => "too_few_cases",
            Status::Unknown => "unknown",
        }
    }
}

impl KpiDefinition {
    /// The status of `value` under `settings`.
    pub fn status(
        &self,
        value: Option<f64>,
        too_few_cases: bool,
        settings: &KpiSettings,
    ) -> Status {
        let Some(value) = value else {
            return Status::Unknown;
        };
        if too_few_cases {
            return Status::TooFewCases;
        }
        let worse = |threshold: f64| match self.polarity {
            Polarity::HigherIsBetter => value < threshold,
            Polarity::LowerIsBetter => value > threshold,
        };
        match (settings.red, settings.amber) {
            (Some(red), _) if worse(red) => Status::Red,
            (_, Some(amber)) if worse(amber) => Status::Amber,
            (None, None) => Status::Unknown,
            _ => Status::Green,
        }
    }
}

const HOUR: f64 = 3600.0;

fn settings(target: f64, amber: f64, red: f64) -> KpiSettings {
    KpiSettings {
        target: Some(target),
        amber: Some(amber),
        red: Some(red),
        owner: "service manager".to_string(),
    }
}

const ROLLUPS: &str = "roll-ups of the event log (daily UTC buckets)";
const SURVEYS: &str = "survey answers in the event log, rolled up daily";

fn duration(
    key: &'static str,
    name: &'static str,
    definition: &'static str,
    measure: Measure,
    q: f64,
    defaults: KpiSettings,
) -> KpiDefinition {
    KpiDefinition {
        key,
        name,
        definition,
        formula: if q == 0.5 {
            "median of the durations in the period (±2.5% binning); 95% interval: distribution-free order statistics"
        } else {
            "90th percentile of the durations in the period (±2.5% binning); 95% interval: distribution-free order statistics"
        },
        unit: Unit::Seconds,
        polarity: Polarity::LowerIsBetter,
        frequency: "daily",
        data_source: ROLLUPS,
        computation: Computation::Percentile { measure, q },
        defaults,
    }
}

fn sla(
    key: &'static str,
    name: &'static str,
    definition: &'static str,
    measure: Measure,
) -> KpiDefinition {
    KpiDefinition {
        key,
        name,
        definition,
        formula: "met cycles / ended cycles × 100; 95% interval: Wilson",
        unit: Unit::Percent,
        polarity: Polarity::HigherIsBetter,
        frequency: "daily",
        data_source: "SLA transitions (fulfilled, breached) in the event log, rolled up daily",
        computation: Computation::Proportion { measure },
        defaults: settings(95.0, 90.0, 80.0),
    }
}

/// Every built-in KPI, in the order dashboards show them.
pub fn catalogue() -> Vec<KpiDefinition> {
    const FIRST_REPLY: &str = "Time from the creation of a conversation to the first public reply by an agent. When an agent opened the conversation with a public message, the next public agent reply counts. Counted on the day of the reply.";
    const FIRST_REPLY_BUSINESS: &str = "First reply time counting only the business calendar's open hours (the first calendar configured; UTC round the clock when none is).";
    const RESOLUTION: &str = "Time from the creation of a conversation to the first time it was solved. Counted on the day it was solved.";
    const RESOLUTION_BUSINESS: &str =
        "Resolution time counting only the business calendar's open hours.";
    vec![
        duration("first_reply_median", "First reply time (median)", FIRST_REPLY, Measure::FirstReply, 0.5, settings(4.0 * HOUR, 8.0 * HOUR, 24.0 * HOUR)),
        duration("first_reply_p90", "First reply time (90th percentile)", FIRST_REPLY, Measure::FirstReply, 0.9, settings(24.0 * HOUR, 36.0 * HOUR, 72.0 * HOUR)),
        duration("first_reply_business_median", "First reply time in business hours (median)", FIRST_REPLY_BUSINESS, Measure::FirstReplyBusiness, 0.5, settings(2.0 * HOUR, 4.0 * HOUR, 8.0 * HOUR)),
        duration("first_reply_business_p90", "First reply time in business hours (90th percentile)", FIRST_REPLY_BUSINESS, Measure::FirstReplyBusiness, 0.9, settings(8.0 * HOUR, 12.0 * HOUR, 24.0 * HOUR)),
        duration("resolution_median", "Resolution time (median)", RESOLUTION, Measure::Resolution, 0.5, settings(24.0 * HOUR, 48.0 * HOUR, 96.0 * HOUR)),
        duration("resolution_p90", "Resolution time (90th percentile)", RESOLUTION, Measure::Resolution, 0.9, settings(120.0 * HOUR, 168.0 * HOUR, 336.0 * HOUR)),
        duration("resolution_business_median", "Resolution time in business hours (median)", RESOLUTION_BUSINESS, Measure::ResolutionBusiness, 0.5, settings(8.0 * HOUR, 16.0 * HOUR, 40.0 * HOUR)),
        duration("resolution_business_p90", "Resolution time in business hours (90th percentile)", RESOLUTION_BUSINESS, Measure::ResolutionBusiness, 0.9, settings(40.0 * HOUR, 56.0 * HOUR, 112.0 * HOUR)),
        sla("sla_first_reply", "SLA attainment: first reply", "Share of first-reply SLA cycles that ended in the period and were met (fulfilled before the target elapsed). A cycle is counted once, on the day it was fulfilled or breached.", Measure::SlaFirstReply),
        sla("sla_next_reply", "SLA attainment: next reply", "Share of next-reply SLA cycles (a customer message after an agent reply, to the next public agent reply) that were met.", Measure::SlaNextReply),
        sla("sla_periodic_update", "SLA attainment: periodic update", "Share of periodic-update SLA cycles that were met.", Measure::SlaPeriodicUpdate),
        sla("sla_resolution", "SLA attainment: resolution", "Share of resolution SLA cycles that were met.", Measure::SlaResolution),
        KpiDefinition {
            key: "backlog",
            name: "Backlog",
            definition: "Conversations that are new, open, pending or on hold right now.",
            formula: "count of conversations in those statuses (live, not a period figure)",
            unit: Unit::Count,
            polarity: Polarity::LowerIsBetter,
            frequency: "live",
            data_source: "the conversations table (live state)",
            computation: Computation::Backlog,
            defaults: KpiSettings { target: None, amber: None, red: None, owner: "team lead".to_string() },
        },
        KpiDefinition {
            key: "backlog_age_median",
            name: "Backlog age (median)",
            definition: "Age of the conversations in the backlog right now, from their creation.",
            formula: "median age of the open conversations; 95% interval: distribution-free order statistics",
            unit: Unit::Seconds,
            polarity: Polarity::LowerIsBetter,
            frequency: "live",
            data_source: "the conversations table (live state)",
            computation: Computation::BacklogAge { q: 0.5 },
            defaults: settings(48.0 * HOUR, 96.0 * HOUR, 168.0 * HOUR),
        },
        KpiDefinition {
            key: "backlog_age_p90",
            name: "Backlog age (90th percentile)",
            definition: "Age of the oldest tenth of the backlog.",
            formula: "90th percentile of the ages of the open conversations",
            unit: Unit::Seconds,
            polarity: Polarity::LowerIsBetter,
            frequency: "live",
            data_source: "the conversations table (live state)",
            computation: Computation::BacklogAge { q: 0.9 },
            defaults: settings(168.0 * HOUR, 336.0 * HOUR, 720.0 * HOUR),
        },
        KpiDefinition {
            key: "reopen_rate",
            name: "Reopen rate",
            definition: "Conversations reopened in the period (a solved or closed conversation became active again; once per conversation) per conversation first solved in the period.",
            formula: "reopened / first solved × 100; 95% interval: Wilson (capped at 100%)",
            unit: Unit::Percent,
            polarity: Polarity::LowerIsBetter,
            frequency: "daily",
            data_source: ROLLUPS,
            computation: Computation::Rate { numerator: Measure::Reopened, denominator: Measure::Solved },
            defaults: settings(5.0, 10.0, 15.0),
        },
        KpiDefinition {
            key: "first_contact_resolution",
            name: "First-contact resolution",
            definition: "Share of conversations first solved in the period that were solved with exactly one public agent reply.",
            formula: "solved with one public reply / first solved × 100; 95% interval: Wilson",
            unit: Unit::Percent,
            polarity: Polarity::HigherIsBetter,
            frequency: "daily",
            data_source: ROLLUPS,
            computation: Computation::Proportion { measure: Measure::Solved },
            defaults: settings(70.0, 60.0, 50.0),
        },
        KpiDefinition {
            key: "replies_per_conversation",
            name: "Replies per conversation",
            definition: "Public agent replies a conversation had when it was first solved, averaged over the conversations first solved in the period.",
            formula: "mean replies; 95% interval: Student t",
            unit: Unit::Replies,
            polarity: Polarity::LowerIsBetter,
            frequency: "daily",
            data_source: ROLLUPS,
            computation: Computation::Mean { measure: Measure::Replies },
            defaults: settings(2.0, 3.0, 4.0),
        },
        KpiDefinition {
            key: "volume",
            name: "Volume",
            definition: "Conversations created in the period; sliced by channel, group, priority or tag (the contact reason), a conversation counts in every tag it was ever given.",
            formula: "count of conversations created",
            unit: Unit::Count,
            polarity: Polarity::LowerIsBetter,
            frequency: "daily",
            data_source: ROLLUPS,
            computation: Computation::Count { measure: Measure::Created },
            defaults: KpiSettings { target: None, amber: None, red: None, owner: "service manager".to_string() },
        },
        KpiDefinition {
            key: "csat",
            name: "Customer satisfaction (CSAT)",
            definition: "Share of CSAT answers in the period that were satisfied: the top two points of a scale of five points or more.",
            formula: "satisfied answers / answers × 100; 95% interval: Wilson",
            unit: Unit::Percent,
            polarity: Polarity::HigherIsBetter,
            frequency: "daily",
            data_source: SURVEYS,
            computation: Computation::Proportion { measure: Measure::Csat },
            defaults: settings(85.0, 80.0, 70.0),
        },
        KpiDefinition {
            key: "ces",
            name: "Customer effort (CES)",
            definition: "Mean answer to \"the team made it easy to handle my request\" on a 1–7 scale (7: strongly agree).",
            formula: "mean score; 95% interval: Student t",
            unit: Unit::Score,
            polarity: Polarity::HigherIsBetter,
            frequency: "daily",
            data_source: SURVEYS,
            computation: Computation::Mean { measure: Measure::Ces },
            defaults: settings(5.5, 5.0, 4.5),
        },
        KpiDefinition {
            key: "nps",
            name: "Net Promoter Score",
            definition: "Promoters (9–10) minus detractors (0–6), as a share of everyone who answered the 0–10 recommend question in the period.",
            formula: "100 × (promoters − detractors) / answers; 95% interval: normal, with the multinomial variance of a difference of shares",
            unit: Unit::Score,
            polarity: Polarity::HigherIsBetter,
            frequency: "daily",
            data_source: SURVEYS,
            computation: Computation::NetPromoterScore,
            defaults: settings(30.0, 10.0, 0.0),
        },
    ]
}

/// The KPI with this key.
pub fn find(key: &str) -> Option<KpiDefinition> {
    catalogue().into_iter().find(|k| k.key == key)
}
