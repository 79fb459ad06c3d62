//! The stored SLA clock's text, version "s4": what [`SlaClock::encode`] writes and
//! [`SlaClock::decode`] reads first.
//!
//! A clock is a sequence of numbers written back to back, each in base 32 with its own
//! end: every five-bit group but the last is one of [`MORE`] (most significant first), the
//! last one of [`LAST`], so no separator is needed and small numbers take one character. An
//! absent value is [`NONE`]. Signed numbers are zigzagged (0, -1, 1, -2 … as 0, 1, 2, 3 …).
//! Instants but `last_at` are written as their distance back from `last_at`; distances and
//! durations carry their unit in their two lowest bits (milliseconds, or whole seconds,
//! minutes or hours: the largest that divides them), so a four-hour target is 35 (4
//! zigzagged is 8; 8 × 4 + 3) and takes two characters, `B3`. Enums are small codes
//! ([`status_code`] …). A tag is its length in bytes, then its bytes as they are.
//!
//! The text is canonical: a clock has one text, and a text that is not the one its clock
//! would be written as (a leading zero digit, a unit that is not the largest) is refused,
//! so a recompute tells an unchanged clock by comparing texts. It is about half the length
//! of "s3", which wrote the same fields as decimal numbers between commas (129 against 243
//! bytes on average over the 1M-conversation bench): `sla_states`, which a recompute reads
//! and rewrites whole, is that much smaller (44,565 pages against 76,453).

use domain::{Channel, Priority, SlaBasis, Status};

use crate::clock::{MetricClock, Phase, SlaClock};
use crate::policy::{Facts, Target};
use crate::stored::ClockTextError;
use crate::Millis;

/// The text's first two characters.
pub(crate) const VERSION: &str = "s4";

/// The digits of a number's last (least significant) five bits.
const LAST: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";
/// The digits of its other five-bit groups.
const MORE: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZwxyz+/";
/// An absent value.
const NONE: u8 = b'-';

/// What each byte is as a digit: `0..32` for [`LAST`], `32..64` for [`MORE`] (32 more than
/// its value), and -1 for any other byte.
const DIGITS: [i8; 256] = {
    let mut digits = [-1i8; 256];
    let mut i = 0;
    while i < 32 {
        digits[LAST[i] as usize] = i as i8;
        digits[MORE[i] as usize] = 32 + i as i8;
        i += 1;
    }
    digits
};

/// The units a time may be written in, by their codes: milliseconds, seconds, minutes,
/// hours (milliseconds in each).
const UNIT_SIZES: [i64; 4] = [1, 1_000, 60_000, 3_600_000];

/// The statuses by their codes (a code is a position here, fixed once written).
const STATUSES: [Status; 6] = [
    Status::New,
    Status::Open,
    Status::Pending,
    Status::OnHold,
    Status::Solved,
    Status::Closed,
];
const PRIORITIES: [Priority; 4] = [
    Priority::Low,
    Priority::Normal,
    Priority::High,
    Priority::Urgent,
];
const CHANNELS: [Channel; 7] = [
    Channel::Email,
    Channel::Web,
    Channel::Chat,
    Channel::Api,
    Channel::Phone,
    Channel::Sms,
    Channel::Social,
];
const PHASES: [Phase; 4] = [Phase::Idle, Phase::Running, Phase::Paused, Phase::Fulfilled];
const BASES: [SlaBasis; 2] = [SlaBasis::Business, SlaBasis::Calendar];

pub(crate) fn status_code(status: Status) -> u64 {
    match status {
        Status::New => 0,
        Status::Open => 1,
        Status::Pending => 2,
        Status::OnHold => 3,
        Status::Solved => 4,
        Status::Closed => 5,
    }
}

pub(crate) fn priority_code(priority: Priority) -> u64 {
    match priority {
        Priority::Low => 0,
        Priority::Normal => 1,
        Priority::High => 2,
        Priority::Urgent => 3,
    }
}

pub(crate) fn channel_code(channel: Channel) -> u64 {
    match channel {
        Channel::Email => 0,
        Channel::Web => 1,
        Channel::Chat => 2,
        Channel::Api => 3,
        Channel::Phone => 4,
        Channel::Sms => 5,
        Channel::Social => 6,
    }
}

pub(crate) fn phase_code(phase: Phase) -> u64 {
    match phase {
        Phase::Idle => 0,
        Phase::Running => 1,
        Phase::Paused => 2,
        Phase::Fulfilled => 3,
    }
}

pub(crate) fn basis_code(basis: SlaBasis) -> u64 {
    match basis {
        SlaBasis::Business => 0,
        SlaBasis::Calendar => 1,
    }
}

fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

/// A time as written: the number of its unit and the unit's code.
fn in_unit(value: i64) -> (i64, u64) {
    // Most distances to instants are not whole seconds: one remainder tells.
    if value == 0 || value % 1_000 != 0 {
        return (value, 0);
    }
    let seconds = value / 1_000;
    if seconds % 60 != 0 {
        return (seconds, 1);
    }
    let minutes = seconds / 60;
    if minutes % 60 != 0 {
        return (minutes, 2);
    }
    (minutes / 60, 3)
}

/// Writes a clock's fields.
struct Writer<'a> {
    out: &'a mut Vec<u8>,
    /// The instant the others are written relative to (`last_at`).
    base: Millis,
}

impl Writer<'_> {
    fn number(&mut self, value: u64) {
        let bits = 64 - value.leading_zeros();
        let mut shift = bits.saturating_sub(1) / 5 * 5;
        while shift > 0 {
            self.out.push(MORE[((value >> shift) & 31) as usize]);
            shift -= 5;
        }
        self.out.push(LAST[(value & 31) as usize]);
    }

    /// A number wider than 64 bits (a time in milliseconds near the ends of `i64`): the loop
    /// of [`Writer::number`] over `u128`. Writing every number through this one made the
    /// encode a third slower (561 against 419 ns a clock, `cargo bench -p sla --bench
    /// recompute`), so the common case keeps its own.
    fn wide_number(&mut self, value: u128) {
        let bits = 128 - value.leading_zeros();
        let mut shift = bits.saturating_sub(1) / 5 * 5;
        while shift > 0 {
            self.out.push(MORE[((value >> shift) & 31) as usize]);
            shift -= 5;
        }
        self.out.push(LAST[(value & 31) as usize]);
    }

    fn int(&mut self, value: i64) {
        self.number(zigzag(value));
    }

    fn opt_int(&mut self, value: Option<i64>) {
        match value {
            None => self.out.push(NONE),
            Some(value) => self.int(value),
        }
    }

    fn opt_number(&mut self, value: Option<u64>) {
        match value {
            None => self.out.push(NONE),
            Some(value) => self.number(value),
        }
    }

    /// A time in milliseconds, with its unit in the two lowest bits.
    fn millis(&mut self, value: i64) {
        let (count, unit) = in_unit(value);
        let count = zigzag(count);
        if count < 1 << 62 {
            self.number(count << 2 | unit);
        } else {
            self.wide_number(u128::from(count) << 2 | u128::from(unit));
        }
    }

    fn opt_millis(&mut self, value: Option<i64>) {
        match value {
            None => self.out.push(NONE),
            Some(value) => self.millis(value),
        }
    }

    /// An instant, as its distance back from the base (wrapping: exact for any two).
    fn instant(&mut self, at: Millis) {
        self.millis(self.base.wrapping_sub(at));
    }

    fn opt_instant(&mut self, at: Option<Millis>) {
        self.opt_millis(at.map(|at| self.base.wrapping_sub(at)));
    }

    fn text(&mut self, text: &str) {
        self.number(text.len() as u64);
        self.out.extend_from_slice(text.as_bytes());
    }
}

/// Writes `clock` as "s4" into `out` (cleared first).
pub(crate) fn encode_into(clock: &SlaClock, out: &mut String) {
    let mut bytes = std::mem::take(out).into_bytes();
    bytes.clear();
    bytes.reserve(256);
    bytes.extend_from_slice(VERSION.as_bytes());
    let mut w = Writer {
        out: &mut bytes,
        base: clock.last_at,
    };
    w.opt_int(clock.organisation);
    w.opt_number(clock.policy.map(|p| p as u64));
    w.int(clock.last_at);
    w.number(u64::from(clock.public_message_seen) | u64::from(clock.facts.is_some()) << 1);
    if let Some(facts) = &clock.facts {
        w.number(status_code(facts.status));
        w.number(priority_code(facts.priority));
        w.number(channel_code(facts.channel));
        w.opt_int(facts.group);
        w.opt_int(facts.organisation);
        w.number(facts.tags.len() as u64);
        for tag in &facts.tags {
            w.text(tag);
        }
    }
    for m in &clock.metrics {
        w.number(u64::from(m.cycle) << 2 | phase_code(m.phase));
        w.instant(m.started_at);
        w.opt_instant(m.running_since);
        w.millis(m.elapsed_closed);
        w.opt_instant(m.due_at);
        w.opt_instant(m.warn_at);
        w.opt_instant(m.warned_at);
        w.opt_instant(m.breached_at);
        w.opt_instant(m.fulfilled_at);
        match &m.target {
            None => w.out.push(NONE),
            Some(t) => {
                w.int(t.policy_id);
                w.millis(t.duration);
                w.number(basis_code(t.basis));
                w.opt_number(t.calendar.map(u64::from));
                w.opt_millis(t.warn_after);
            }
        }
        w.number(m.periods.len() as u64);
        for (start, end) in &m.periods {
            w.instant(*start);
            w.instant(*end);
        }
    }
    *out = match String::from_utf8(bytes) {
        Ok(text) => text,
        // Only tags are not ASCII, and they are texts: this does not happen.
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    };
}

/// Reads the fields back, in the order they were written.
struct Reader<'a> {
    text: &'a str,
    at: usize,
    /// The instant the others were written relative to.
    base: Millis,
}

fn error(what: String) -> ClockTextError {
    ClockTextError(what)
}

impl<'a> Reader<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    /// Whether the next value is absent (and if so, skips it).
    fn none(&mut self) -> bool {
        let none = self.peek() == Some(NONE);
        if none {
            self.at += 1;
        }
        none
    }

    fn wide_number(&mut self) -> Result<u128, ClockTextError> {
        let start = self.at;
        let mut value: u128 = 0;
        loop {
            let Some(byte) = self.peek() else {
                return Err(error("the text ends too early".into()));
            };
            let digit = DIGITS[usize::from(byte)];
            if digit < 0 {
                return Err(error(format!(
                    "{:?} at {} is not a digit",
                    char::from(byte),
                    self.at
                )));
            }
            if self.at == start && digit == 32 {
                return Err(error(format!("a number at {start} starts with a zero")));
            }
            if value >> 100 != 0 {
                return Err(error(format!("the number at {start} is too large")));
            }
            self.at += 1;
            value = value << 5 | (digit & 31) as u128;
            if digit < 32 {
                return Ok(value);
            }
        }
    }

    fn number(&mut self) -> Result<u64, ClockTextError> {
        let start = self.at;
        let value = self.wide_number()?;
        u64::try_from(value).map_err(|_| error(format!("the number at {start} is too large")))
    }

    fn small(&mut self, below: u64, what: &str) -> Result<usize, ClockTextError> {
        let start = self.at;
        match self.number()? {
            value if value < below => Ok(value as usize),
            value => Err(error(format!("{value} at {start} is not a {what}"))),
        }
    }

    fn int(&mut self) -> Result<i64, ClockTextError> {
        self.number().map(unzigzag)
    }

    fn opt_int(&mut self) -> Result<Option<i64>, ClockTextError> {
        if self.none() {
            return Ok(None);
        }
        self.int().map(Some)
    }

    fn millis(&mut self) -> Result<i64, ClockTextError> {
        let start = self.at;
        let value = self.wide_number()?;
        let unit = (value & 3) as u64;
        let invalid = || {
            error(format!(
                "the time at {start} is out of range or not canonical"
            ))
        };
        let count = u64::try_from(value >> 2).map_err(|_| invalid())?;
        let count = unzigzag(count);
        let millis = count
            .checked_mul(UNIT_SIZES[unit as usize])
            .ok_or_else(invalid)?;
        if in_unit(millis) != (count, unit) {
            return Err(invalid());
        }
        Ok(millis)
    }

    fn opt_millis(&mut self) -> Result<Option<i64>, ClockTextError> {
        if self.none() {
            return Ok(None);
        }
        self.millis().map(Some)
    }

    fn instant(&mut self) -> Result<Millis, ClockTextError> {
        Ok(self.base.wrapping_sub(self.millis()?))
    }

    fn opt_instant(&mut self) -> Result<Option<Millis>, ClockTextError> {
        Ok(self.opt_millis()?.map(|d| self.base.wrapping_sub(d)))
    }

    fn text(&mut self) -> Result<&'a str, ClockTextError> {
        let start = self.at;
        let length = usize::try_from(self.number()?)
            .map_err(|_| error(format!("the text at {start} is too long")))?;
        let end = self
            .at
            .checked_add(length)
            .ok_or_else(|| error(format!("the text at {start} is too long")))?;
        let text = self
            .text
            .get(self.at..end)
            .ok_or_else(|| error(format!("the text at {start} is cut")))?;
        self.at = end;
        Ok(text)
    }
}

/// Reads a clock written by [`encode_into`]: `text` starts with [`VERSION`].
pub(crate) fn decode(text: &str) -> Result<SlaClock, ClockTextError> {
    let Some(fields) = text.strip_prefix(VERSION) else {
        return Err(error(format!("the text does not start with {VERSION:?}")));
    };
    let mut r = Reader {
        text: fields,
        at: 0,
        base: 0,
    };
    let organisation = r.opt_int()?;
    let policy = if r.none() {
        None
    } else {
        let p = r.number()?;
        Some(usize::try_from(p).map_err(|_| error(format!("policy {p}")))?)
    };
    let last_at = r.int()?;
    r.base = last_at;
    let flags = r.small(4, "set of flags")?;
    let public_message_seen = flags & 1 != 0;
    let facts = if flags & 2 != 0 {
        let status = STATUSES[r.small(STATUSES.len() as u64, "status")?];
        let priority = PRIORITIES[r.small(PRIORITIES.len() as u64, "priority")?];
        let channel = CHANNELS[r.small(CHANNELS.len() as u64, "channel")?];
        let group = r.opt_int()?;
        let organisation = r.opt_int()?;
        let count = r.number()?;
        let mut tags = Vec::with_capacity(count.min(64) as usize);
        for _ in 0..count {
            tags.push(r.text()?.to_string());
        }
        Some(Facts {
            status,
            priority,
            channel,
            group,
            organisation,
            tags,
        })
    } else {
        None
    };
    let mut metrics = [
        MetricClock::idle(),
        MetricClock::idle(),
        MetricClock::idle(),
        MetricClock::idle(),
    ];
    for m in &mut metrics {
        let cycle = r.number()?;
        m.phase = PHASES[(cycle & 3) as usize];
        m.cycle = u32::try_from(cycle >> 2).map_err(|_| error(format!("cycle {}", cycle >> 2)))?;
        m.started_at = r.instant()?;
        m.running_since = r.opt_instant()?;
        m.elapsed_closed = r.millis()?;
        m.due_at = r.opt_instant()?;
        m.warn_at = r.opt_instant()?;
        m.warned_at = r.opt_instant()?;
        m.breached_at = r.opt_instant()?;
        m.fulfilled_at = r.opt_instant()?;
        m.target = if r.none() {
            None
        } else {
            let policy_id = r.int()?;
            let duration = r.millis()?;
            let basis = BASES[r.small(BASES.len() as u64, "time basis")?];
            let calendar = if r.none() {
                None
            } else {
                let c = r.number()?;
                Some(u32::try_from(c).map_err(|_| error(format!("calendar {c}")))?)
            };
            let warn_after = r.opt_millis()?;
            Some(Target {
                policy_id,
                duration,
                basis,
                calendar,
                warn_after,
            })
        };
        let count = r.number()?;
        m.periods = Vec::with_capacity(count.min(64) as usize);
        for _ in 0..count {
            let start = r.instant()?;
            let end = r.instant()?;
            m.periods.push((start, end));
        }
    }
    if r.at != fields.len() {
        return Err(error("the text goes on after the clock".into()));
    }
    Ok(SlaClock {
        organisation,
        facts,
        policy,
        last_at,
        public_message_seen,
        metrics,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_reads_back_as_its_value() {
        for (code, status) in STATUSES.iter().enumerate() {
            assert_eq!(status_code(*status), code as u64);
        }
        for status in Status::ALL {
            assert_eq!(STATUSES[status_code(*status) as usize], *status);
        }
        for (code, priority) in PRIORITIES.iter().enumerate() {
            assert_eq!(priority_code(*priority), code as u64);
        }
        for priority in Priority::ALL {
            assert_eq!(PRIORITIES[priority_code(*priority) as usize], *priority);
        }
        for (code, channel) in CHANNELS.iter().enumerate() {
            assert_eq!(channel_code(*channel), code as u64);
        }
        for channel in Channel::ALL {
            assert_eq!(CHANNELS[channel_code(*channel) as usize], *channel);
        }
        for (code, phase) in PHASES.iter().enumerate() {
            assert_eq!(phase_code(*phase), code as u64);
        }
        for (code, basis) in BASES.iter().enumerate() {
            assert_eq!(basis_code(*basis), code as u64);
        }
    }

    #[test]
    fn numbers_are_base_32_with_their_own_end() {
        let write = |value: u64| {
            let mut out = Vec::new();
            Writer {
                out: &mut out,
                base: 0,
            }
            .number(value);
            String::from_utf8(out).unwrap_or_default()
        };
        assert_eq!(write(0), "0");
        assert_eq!(write(31), "v");
        assert_eq!(write(32), "B0");
        assert_eq!(write(35), "B3");
        assert_eq!(write(1 << 10), "BA0");
        assert_eq!(write(u64::MAX), "PZZZZZZZZZZZv".replace('Z', "/"));
        for value in [0, 1, 31, 32, 1 << 40, u64::MAX] {
            let text = write(value);
            let mut r = Reader {
                text: &text,
                at: 0,
                base: 0,
            };
            assert_eq!(r.number(), Ok(value));
            assert_eq!(r.at, text.len());
        }
        // A leading zero, a number without its end, a number past 64 bits.
        for bad in ["A0", "B", "", "/////////////v", "-"] {
            let mut r = Reader {
                text: bad,
                at: 0,
                base: 0,
            };
            assert!(r.number().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn times_carry_the_largest_unit_that_divides_them() {
        let write = |value: i64| {
            let mut out = Vec::new();
            Writer {
                out: &mut out,
                base: 0,
            }
            .millis(value);
            String::from_utf8(out).unwrap_or_default()
        };
        // 4 h: 4 zigzagged is 8, then the unit 3 (hours): 35.
        assert_eq!(write(4 * 3_600_000), "B3");
        assert_eq!(write(0), "0");
        assert_eq!(write(-1), "4");
        assert_eq!(write(90 * 60_000), "Wi");
        for value in [i64::MIN, i64::MAX, i64::MIN / 1_000 * 1_000, -3_600_000, 1] {
            let text = write(value);
            let mut r = Reader {
                text: &text,
                at: 0,
                base: 0,
            };
            assert_eq!(r.millis(), Ok(value), "{text}");
            assert_eq!(r.at, text.len());
        }
        // 60 seconds is one minute: written in seconds, it is refused.
        let mut out = Vec::new();
        Writer {
            out: &mut out,
            base: 0,
        }
        .number(zigzag(60) << 2 | 1);
        let text = String::from_utf8(out).unwrap_or_default();
        let mut r = Reader {
            text: &text,
            at: 0,
            base: 0,
        };
        assert!(r.millis().is_err(), "{text}");
    }
}
