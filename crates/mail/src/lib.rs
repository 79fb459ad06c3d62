//! E-mail, pure: how Rapport reads a message and how it writes one.
//!
//! No I/O, no clock, no randomness: the SMTP/LMTP listener and the IMAP poller hand raw bytes to
//! [`read_message`], which either returns an [`InboundMessage`] (bodies, sanitised HTML,
//! attachments, threading keys, an automatic-mail verdict, a bounce or complaint report) or a
//! [`Quarantine`] with a reason a person understands. It never panics on bad input.
//!
//! Around it:
//! - [`thread::decide_thread`] matches a message to a conversation, given lookups passed in;
//! - [`noise`] says whether a message was written by a machine, and whether Rapport may answer it
//!   automatically;
//! - [`compose::compose_reply`] turns a reply into MIME bytes with the threading headers and the
//!   conversation token;
//! - [`tnef`] unpacks Outlook's `winmail.dat`.
//!
//! ```
//! let raw = b"From: Ann <ann@example.test>\r\nSubject: Hello\r\nMessage-ID: <1@example.test>\r\n\r\nHi!\r\n";
//! let message = mail::read_message(raw, &mail::ReadOptions::default()).unwrap();
//! assert_eq!(message.subject, "Hello");
//! assert_eq!(message.message_id.as_deref(), Some("1@example.test"));
//! assert!(message.verdict.is_person());
//! ```

#![warn(missing_docs)]

pub mod bounce;
pub mod compose;
pub mod html;
pub mod noise;
mod parse;
pub mod quote;
pub mod thread;
pub mod tnef;

pub use bounce::{BounceRecipient, BounceReport, Complaint, ReadReceipt, Report};
pub use noise::{NoiseReason, Verdict};
pub use parse::{
    describe, read_message, Attachment, Disposition, InboundMessage, Limits, Mailbox,
    MessageSummary, PartInfo, Quarantine, QuarantineKind, ReadOptions,
};
pub use quote::{Segment, SegmentKind};
pub use thread::{decide_thread, Rule, ThreadDecision, ThreadKey, ThreadLookup};
