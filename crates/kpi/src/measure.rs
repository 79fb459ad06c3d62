//! What the roll-ups count: measures (raw observations, one per fact in the log) and the
//! dimensions they are sliced by. KPIs (the catalogue) are computed from measures.

use std::fmt;

use crate::hist::Binning;

macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored text form.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Parses the stored text form.
            pub fn parse(text: &str) -> Option<$name> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_enum! {
    /// One kind of observation. Each observation has a value (and a bin for the distribution);
    /// the roll-ups keep the count, the sum, the sum of squares and the histogram per bucket.
    Measure {
        /// A conversation began (value 1), bucketed on its creation day.
        Created = "created",
        /// Seconds from creation to the first public agent reply.
        FirstReply = "first_reply",
        /// The same, counting only the business calendar's open hours.
        FirstReplyBusiness = "first_reply_business",
        /// Seconds from creation to the first time the conversation was solved.
        Resolution = "resolution",
        /// The same in business time.
        ResolutionBusiness = "resolution_business",
        /// A conversation was solved for the first time; value 1 when it was solved with exactly
        /// one public agent reply (first-contact resolution), else 0.
        Solved = "solved",
        /// A solved or closed conversation was reopened (value 1, at most once per conversation).
        Reopened = "reopened",
        /// Public agent replies a conversation had when it was first solved.
        Replies = "replies",
        /// An SLA first-reply cycle ended: value 1 met, 0 breached.
        SlaFirstReply = "sla_first_reply",
        /// An SLA next-reply cycle ended.
        SlaNextReply = "sla_next_reply",
        /// An SLA periodic-update cycle ended.
        SlaPeriodicUpdate = "sla_periodic_update",
        /// An SLA resolution cycle ended.
        SlaResolution = "sla_resolution",
        /// A CSAT answer: value 1 when satisfied (the top two points of the scale), bin = score.
        Csat = "csat",
        /// A customer-effort answer: value and bin = score.
        Ces = "ces",
        /// A recommend (NPS) answer 0–10: value and bin = score.
        Nps = "nps",
    }
}

impl Measure {
    /// How this measure's values are binned.
    pub fn binning(self) -> Binning {
        match self {
            Measure::FirstReply
            | Measure::FirstReplyBusiness
            | Measure::Resolution
            | Measure::ResolutionBusiness => Binning::Log,
            _ => Binning::Whole,
        }
    }

    /// The SLA measure of an SLA metric.
    pub fn of_sla(metric: domain::SlaMetric) -> Measure {
        match metric {
            domain::SlaMetric::FirstReply => Measure::SlaFirstReply,
            domain::SlaMetric::NextReply => Measure::SlaNextReply,
            domain::SlaMetric::PeriodicUpdate => Measure::SlaPeriodicUpdate,
            domain::SlaMetric::Resolution => Measure::SlaResolution,
        }
    }
}

text_enum! {
    /// How a roll-up is sliced. `All` is the whole team; the others carry a value.
    DimKind {
        All = "all",
        Group = "group",
        Agent = "agent",
        Channel = "channel",
        Priority = "priority",
        Tag = "tag",
    }
}

/// A slice: a dimension and its value (`""` for [`DimKind::All`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Slice {
    /// The dimension.
    pub kind: DimKind,
    /// The group or agent id, channel, priority or tag; empty for the whole team.
    pub value: String,
}

impl Slice {
    /// The whole team.
    pub fn all() -> Slice {
        Slice {
            kind: DimKind::All,
            value: String::new(),
        }
    }

    /// A slice of one dimension.
    pub fn of(kind: DimKind, value: impl Into<String>) -> Slice {
        Slice {
            kind,
            value: value.into(),
        }
    }
}
