//! The event log: cases made of events, stored by column so ten million events fit in a few
//! hundred megabytes.
//!
//! Every string (activity, lifecycle transition, resource, group, attribute key and value, case
//! name) is interned to a `u32`; timestamps are `i64` milliseconds since the epoch (UTC). The
//! events of a case are contiguous, and within a case they are ordered by timestamp, ties in the
//! order they were read (a stable sort). That is how pm4py orders a trace before it counts
//! directly-follows pairs, so our graphs equal pm4py's.

use std::collections::HashMap;

/// A fast, deterministic hasher: interning and grouping run once per event.
pub(crate) type FastMap<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

/// Marks "no value" in a `u32` column (an event without a lifecycle, resource, attribute...).
pub const NONE: u32 = u32::MAX;

/// Marks an event without a timestamp. It sorts after every real time, as pandas puts NaT last.
pub const NO_TIME: i64 = i64::MAX;

/// Strings to dense ids and back; ids are given in order of first appearance.
#[derive(Debug, Clone, Default)]
pub struct Interner {
    ids: FastMap<Box<[u8]>, u32>,
    strings: Vec<Box<str>>,
}

impl Interner {
    /// The id of `text`, adding it when it is new.
    pub fn intern(&mut self, text: &str) -> u32 {
        if let Some(&id) = self.ids.get(text.as_bytes()) {
            return id;
        }
        let id = u32::try_from(self.strings.len()).unwrap_or(NONE - 1);
        self.strings.push(text.into());
        self.ids.insert(text.as_bytes().into(), id);
        id
    }

    /// The id of `bytes` read from a file, adding it when it is new. Only a new string is
    /// checked for UTF-8, so reading a known value costs one hash lookup.
    pub fn intern_bytes(&mut self, bytes: &[u8]) -> Result<u32, std::str::Utf8Error> {
        if let Some(&id) = self.ids.get(bytes) {
            return Ok(id);
        }
        Ok(self.intern(std::str::from_utf8(bytes)?))
    }

    /// The id of `text`, if it was interned.
    pub fn get(&self, text: &str) -> Option<u32> {
        self.ids.get(text.as_bytes()).copied()
    }

    /// The string of `id` (empty for [`NONE`] or an unknown id).
    pub fn resolve(&self, id: u32) -> &str {
        self.strings.get(id as usize).map_or("", |text| text)
    }

    /// How many distinct strings there are.
    pub fn len(&self) -> usize {
        self.strings.len()
    }

    /// Whether nothing was interned.
    pub fn is_empty(&self) -> bool {
        self.strings.is_empty()
    }
}

/// The XES type of an attribute, kept so an export writes what was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttributeKind {
    /// `<string>`
    String,
    /// `<date>`
    Date,
    /// `<int>`
    Int,
    /// `<float>`
    Float,
    /// `<boolean>`
    Boolean,
    /// `<id>`
    Id,
}

impl AttributeKind {
    /// The XES element name.
    pub fn element_name(self) -> &'static str {
        match self {
            AttributeKind::String => "string",
            AttributeKind::Date => "date",
            AttributeKind::Int => "int",
            AttributeKind::Float => "float",
            AttributeKind::Boolean => "boolean",
            AttributeKind::Id => "id",
        }
    }

    /// The kind for an XES element name, if it is a simple attribute.
    pub fn from_element_name(name: &[u8]) -> Option<AttributeKind> {
        Some(match name {
            b"string" => AttributeKind::String,
            b"date" => AttributeKind::Date,
            b"int" => AttributeKind::Int,
            b"float" => AttributeKind::Float,
            b"boolean" => AttributeKind::Boolean,
            b"id" => AttributeKind::Id,
            _ => return None,
        })
    }
}

/// One extra attribute, as a dense column of interned values ([`NONE`] where absent).
#[derive(Debug, Clone)]
pub struct AttributeColumn {
    /// The attribute key, in [`EventLog::strings`].
    pub key: u32,
    /// The XES type of the first value read.
    pub kind: AttributeKind,
    /// One value per event (or per case, for case attributes), in [`EventLog::strings`].
    pub values: Vec<u32>,
}

/// Which event attribute names an activity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Classifier {
    /// `concept:name` alone (pm4py's default).
    #[default]
    Name,
    /// `concept:name` and `lifecycle:transition`, joined with `+` as pm4py does.
    NameAndLifecycle,
}

impl std::str::FromStr for Classifier {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "name" => Ok(Classifier::Name),
            "name+lifecycle" => Ok(Classifier::NameAndLifecycle),
            other => Err(format!(
                "unknown classifier {other:?}: use \"name\" or \"name+lifecycle\""
            )),
        }
    }
}

/// Which organisational attribute owns an event, for handovers and ping-pong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrgDimension {
    /// `org:resource`: the agent.
    Resource,
    /// `org:group`: the team.
    Group,
}

/// An event log, by column. Build one with [`LogBuilder`].
#[derive(Debug, Clone, Default)]
pub struct EventLog {
    /// Activity names (`concept:name`); ids are dense, so graphs can index arrays by them.
    pub activities: Interner,
    /// Everything else: case names, lifecycle transitions, resources, groups, keys, values.
    pub strings: Interner,
    /// The name (`concept:name`) of each case, in `strings`.
    pub case_names: Vec<u32>,
    /// Events of case `i` are `case_starts[i]..case_starts[i + 1]`; one more entry than cases.
    pub case_starts: Vec<u32>,
    /// The activity of each event, in `activities`.
    pub activity: Vec<u32>,
    /// `lifecycle:transition` of each event, in `strings`, or [`NONE`].
    pub lifecycle: Vec<u32>,
    /// `time:timestamp` of each event in ms since the epoch (UTC), or [`NO_TIME`].
    pub timestamp: Vec<i64>,
    /// `org:resource` of each event, in `strings`, or [`NONE`].
    pub resource: Vec<u32>,
    /// `org:group` of each event, in `strings`, or [`NONE`].
    pub group: Vec<u32>,
    /// Other event attributes.
    pub event_attributes: Vec<AttributeColumn>,
    /// Other case (trace) attributes.
    pub case_attributes: Vec<AttributeColumn>,
}

impl EventLog {
    /// How many cases.
    pub fn case_count(&self) -> usize {
        self.case_names.len()
    }

    /// How many events.
    pub fn event_count(&self) -> usize {
        self.activity.len()
    }

    /// The event index range of case `case`.
    pub fn case_range(&self, case: usize) -> std::ops::Range<usize> {
        self.case_starts[case] as usize..self.case_starts[case + 1] as usize
    }

    /// The owner column for a dimension.
    pub fn org_column(&self, dimension: OrgDimension) -> &[u32] {
        match dimension {
            OrgDimension::Resource => &self.resource,
            OrgDimension::Group => &self.group,
        }
    }

    /// The activity of each event under a classifier, with dense ids and their names.
    pub fn classify(&self, classifier: Classifier) -> ActivityView<'_> {
        match classifier {
            Classifier::Name => ActivityView {
                names: (0..self.activities.len())
                    .map(|id| self.activities.resolve(id as u32).to_owned())
                    .collect(),
                per_event: std::borrow::Cow::Borrowed(&self.activity),
            },
            Classifier::NameAndLifecycle => {
                let mut ids: FastMap<(u32, u32), u32> = FastMap::default();
                let mut names = Vec::new();
                let per_event: Vec<u32> = self
                    .activity
                    .iter()
                    .zip(&self.lifecycle)
                    .map(|(&activity, &lifecycle)| {
                        *ids.entry((activity, lifecycle)).or_insert_with(|| {
                            let name = self.activities.resolve(activity);
                            names.push(if lifecycle == NONE {
                                name.to_owned()
                            } else {
                                format!("{name}+{}", self.strings.resolve(lifecycle))
                            });
                            (names.len() - 1) as u32
                        })
                    })
                    .collect();
                ActivityView {
                    names,
                    per_event: std::borrow::Cow::Owned(per_event),
                }
            }
        }
    }

    /// A new log with only the cases for which `keep` is true (given the case index).
    pub fn retain_cases(&self, mut keep: impl FnMut(usize) -> bool) -> EventLog {
        let mut mask = vec![false; self.event_count()];
        for case in 0..self.case_count() {
            if keep(case) {
                mask[self.case_range(case)].fill(true);
            }
        }
        self.retain_events(&mask)
    }

    /// A new log with only the events whose `mask` entry is true; cases left empty are dropped.
    /// String tables are shared, so ids stay valid.
    pub fn retain_events(&self, mask: &[bool]) -> EventLog {
        let kept_events: Vec<usize> = (0..self.event_count()).filter(|&e| mask[e]).collect();
        let pick_u32 = |column: &[u32]| kept_events.iter().map(|&e| column[e]).collect();
        let mut case_names = Vec::new();
        let mut case_starts = vec![0u32];
        let mut kept_cases = Vec::new();
        let mut running = 0u32;
        for case in 0..self.case_count() {
            let in_case = self.case_range(case).filter(|&e| mask[e]).count() as u32;
            if in_case > 0 {
                running += in_case;
                case_names.push(self.case_names[case]);
                case_starts.push(running);
                kept_cases.push(case);
            }
        }
        EventLog {
            activities: self.activities.clone(),
            strings: self.strings.clone(),
            case_names,
            case_starts,
            activity: pick_u32(&self.activity),
            lifecycle: pick_u32(&self.lifecycle),
            timestamp: kept_events.iter().map(|&e| self.timestamp[e]).collect(),
            resource: pick_u32(&self.resource),
            group: pick_u32(&self.group),
            event_attributes: self
                .event_attributes
                .iter()
                .map(|column| AttributeColumn {
                    key: column.key,
                    kind: column.kind,
                    values: pick_u32(&column.values),
                })
                .collect(),
            case_attributes: self
                .case_attributes
                .iter()
                .map(|column| AttributeColumn {
                    key: column.key,
                    kind: column.kind,
                    values: kept_cases.iter().map(|&c| column.values[c]).collect(),
                })
                .collect(),
        }
    }

    /// Appends the cases of `other` (whose string ids are its own), re-interning its strings:
    /// parts parsed separately join into the log one parser would have built.
    pub(crate) fn append(&mut self, other: EventLog) {
        let remap = |table: &mut Interner, from: &Interner| -> Vec<u32> {
            (0..from.len() as u32)
                .map(|id| table.intern(from.resolve(id)))
                .collect()
        };
        let activity_ids = remap(&mut self.activities, &other.activities);
        let string_ids = remap(&mut self.strings, &other.strings);
        let string = |id: u32| {
            if id == NONE {
                NONE
            } else {
                string_ids[id as usize]
            }
        };
        if self.case_starts.is_empty() {
            self.case_starts.push(0);
        }
        let events_before = self.activity.len();
        let cases_before = self.case_names.len();
        self.case_names
            .extend(other.case_names.iter().map(|&id| string(id)));
        let base = events_before as u32;
        self.case_starts
            .extend(other.case_starts.iter().skip(1).map(|&start| base + start));
        self.activity
            .extend(other.activity.iter().map(|&id| activity_ids[id as usize]));
        self.lifecycle
            .extend(other.lifecycle.iter().map(|&id| string(id)));
        self.timestamp.extend_from_slice(&other.timestamp);
        self.resource
            .extend(other.resource.iter().map(|&id| string(id)));
        self.group.extend(other.group.iter().map(|&id| string(id)));
        let join = |columns: &mut Vec<AttributeColumn>,
                    incoming: Vec<AttributeColumn>,
                    before: usize,
                    after: usize| {
            for column in incoming {
                let key = string(column.key);
                let position = match columns.iter().position(|c| c.key == key) {
                    Some(position) => position,
                    None => {
                        columns.push(AttributeColumn {
                            key,
                            kind: column.kind,
                            values: Vec::new(),
                        });
                        columns.len() - 1
                    }
                };
                let target = &mut columns[position].values;
                target.resize(before, NONE);
                target.extend(column.values.iter().map(|&id| string(id)));
            }
            for column in columns.iter_mut() {
                column.values.resize(after, NONE);
            }
        };
        let events_after = self.activity.len();
        join(
            &mut self.event_attributes,
            other.event_attributes,
            events_before,
            events_after,
        );
        let cases_after = self.case_names.len();
        join(
            &mut self.case_attributes,
            other.case_attributes,
            cases_before,
            cases_after,
        );
    }

    /// The event attribute column for `key`, if any event has it.
    pub fn event_attribute(&self, key: &str) -> Option<&AttributeColumn> {
        let key = self.strings.get(key)?;
        self.event_attributes
            .iter()
            .find(|column| column.key == key)
    }
}

/// Activities under a classifier: a dense id per event and the name of each id.
#[derive(Debug, Clone)]
pub struct ActivityView<'log> {
    /// Name of each activity id.
    pub names: Vec<String>,
    /// Activity id of each event, parallel to the log's event columns (borrowed from the log
    /// when the classifier is the activity name itself).
    pub per_event: std::borrow::Cow<'log, [u32]>,
}

/// Builds an [`EventLog`] one case at a time, sorting each case by timestamp (stable) as it ends.
#[derive(Debug, Default)]
pub struct LogBuilder {
    log: EventLog,
    case_open: bool,
    case_name: u32,
    case_attribute_values: Vec<(u32, AttributeKind, u32)>,
}

impl LogBuilder {
    /// An empty builder.
    pub fn new() -> LogBuilder {
        LogBuilder::default()
    }

    /// An empty builder with room for `events` events.
    pub fn with_capacity(events: usize) -> LogBuilder {
        let mut builder = LogBuilder::default();
        builder.log.activity.reserve(events);
        builder.log.lifecycle.reserve(events);
        builder.log.timestamp.reserve(events);
        builder.log.resource.reserve(events);
        builder.log.group.reserve(events);
        builder
    }

    /// Interns a string of the general table (lifecycle, resource, group, key, value, case name).
    pub fn intern(&mut self, text: &str) -> u32 {
        self.log.strings.intern(text)
    }

    /// Interns bytes read from a file into the general table.
    pub fn intern_bytes(&mut self, bytes: &[u8]) -> Result<u32, std::str::Utf8Error> {
        self.log.strings.intern_bytes(bytes)
    }

    /// Interns activity bytes read from a file.
    pub fn intern_activity_bytes(&mut self, bytes: &[u8]) -> Result<u32, std::str::Utf8Error> {
        self.log.activities.intern_bytes(bytes)
    }

    /// Interns an activity name.
    pub fn intern_activity(&mut self, text: &str) -> u32 {
        self.log.activities.intern(text)
    }

    /// Starts a case (ending the open one, if any).
    pub fn start_case(&mut self) {
        if self.case_open {
            self.end_case();
        }
        if self.log.case_starts.is_empty() {
            self.log.case_starts.push(0);
        }
        self.case_open = true;
        self.case_name = NONE;
    }

    /// Names the open case.
    pub fn set_case_name(&mut self, name: u32) {
        self.case_name = name;
    }

    /// Sets a case attribute of the open case.
    pub fn set_case_attribute(&mut self, key: u32, kind: AttributeKind, value: u32) {
        self.case_attribute_values.push((key, kind, value));
    }

    /// Adds an event to the open case; returns its index for [`LogBuilder::set_event_attribute`].
    pub fn push_event(&mut self, event: EventFields) -> usize {
        let log = &mut self.log;
        log.activity.push(event.activity);
        log.lifecycle.push(event.lifecycle);
        log.timestamp.push(event.timestamp);
        log.resource.push(event.resource);
        log.group.push(event.group);
        log.activity.len() - 1
    }

    /// Sets an extra attribute on event `event` (an index from [`LogBuilder::push_event`]).
    pub fn set_event_attribute(&mut self, event: usize, key: u32, kind: AttributeKind, value: u32) {
        let column = match self
            .log
            .event_attributes
            .iter()
            .position(|column| column.key == key)
        {
            Some(position) => &mut self.log.event_attributes[position],
            None => {
                self.log.event_attributes.push(AttributeColumn {
                    key,
                    kind,
                    values: Vec::new(),
                });
                let last = self.log.event_attributes.len() - 1;
                &mut self.log.event_attributes[last]
            }
        };
        if column.values.len() <= event {
            column.values.resize(event + 1, NONE);
        }
        column.values[event] = value;
    }

    /// Ends the open case: drops it if it has no event, else sorts it by time and records it.
    pub fn end_case(&mut self) {
        if !self.case_open {
            return;
        }
        self.case_open = false;
        let log = &mut self.log;
        let start = *log.case_starts.last().unwrap_or(&0) as usize;
        let end = log.activity.len();
        let case_attributes = std::mem::take(&mut self.case_attribute_values);
        if end == start {
            return;
        }
        sort_case_by_time(log, start, end);
        let case_index = log.case_names.len();
        log.case_names.push(self.case_name);
        log.case_starts.push(end as u32);
        for (key, kind, value) in case_attributes {
            let column = match log.case_attributes.iter().position(|c| c.key == key) {
                Some(position) => &mut log.case_attributes[position],
                None => {
                    log.case_attributes.push(AttributeColumn {
                        key,
                        kind,
                        values: Vec::new(),
                    });
                    let last = log.case_attributes.len() - 1;
                    &mut log.case_attributes[last]
                }
            };
            column.values.resize(case_index, NONE);
            column.values.push(value);
        }
    }

    /// The finished log.
    pub fn finish(mut self) -> EventLog {
        self.end_case();
        let mut log = self.log;
        if log.case_starts.is_empty() {
            log.case_starts.push(0);
        }
        // Events pushed after the last case ended (no open case) are not part of any case.
        let events = *log.case_starts.last().unwrap_or(&0) as usize;
        log.activity.truncate(events);
        log.lifecycle.truncate(events);
        log.timestamp.truncate(events);
        log.resource.truncate(events);
        log.group.truncate(events);
        for column in &mut log.event_attributes {
            column.values.resize(events, NONE);
        }
        let cases = log.case_names.len();
        for column in &mut log.case_attributes {
            column.values.resize(cases, NONE);
        }
        log
    }
}

/// The fixed fields of an event, as ids.
#[derive(Debug, Clone, Copy)]
pub struct EventFields {
    /// Activity id (from [`LogBuilder::intern_activity`]).
    pub activity: u32,
    /// Lifecycle transition id or [`NONE`].
    pub lifecycle: u32,
    /// Milliseconds since the epoch, or [`NO_TIME`].
    pub timestamp: i64,
    /// Resource id or [`NONE`].
    pub resource: u32,
    /// Group id or [`NONE`].
    pub group: u32,
}

/// Sorts events `start..end` by timestamp, keeping the read order of equal times. Almost every
/// real trace is already in order, so the check comes first and the sort is rare.
fn sort_case_by_time(log: &mut EventLog, start: usize, end: usize) {
    let times = &log.timestamp[start..end];
    if times.windows(2).all(|pair| pair[0] <= pair[1]) {
        return;
    }
    let mut order: Vec<usize> = (start..end).collect();
    order.sort_by_key(|&e| log.timestamp[e]);
    fn permute<T: Copy>(column: &mut [T], start: usize, order: &[usize]) {
        let sorted: Vec<T> = order.iter().map(|&e| column[e]).collect();
        column[start..start + order.len()].copy_from_slice(&sorted);
    }
    permute(&mut log.activity, start, &order);
    permute(&mut log.lifecycle, start, &order);
    permute(&mut log.timestamp, start, &order);
    permute(&mut log.resource, start, &order);
    permute(&mut log.group, start, &order);
    for column in &mut log.event_attributes {
        if column.values.len() < end {
            column.values.resize(end, NONE);
        }
        permute(&mut column.values, start, &order);
    }
}
