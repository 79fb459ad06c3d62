//! The IMAP poller: takes mail from existing mailboxes into the same intake as the SMTP
//! listener (`App::accept_imap_batch`).
//!
//! Per account: connect (plain, STARTTLS or TLS), LOGIN, SELECT the folder and compare its
//! UIDVALIDITY with the stored cursor (a new one starts the folder over; what was taken
//! before is recognised by its bytes). Then drain: the sizes of the messages above the
//! cursor first, then the messages in batches bounded by count and bytes (`plan.rs`), each
//! batch accepted durably with the cursor in one transaction, and only then the configured
//! action on the server (set \Seen, move, delete). A message over `max_message_bytes` is not
//! fetched: its header goes to the quarantine with the reason and the message stays where it
//! is; a message whose fetch keeps failing goes the same way (its failures are counted in the
//! store, so a restart goes on counting), so neither blocks the others.
//! Then IDLE where the server offers it (renewed well within 29 minutes), polling otherwise,
//! and reconnecting with backoff after any error. Each account runs on its own, and only the
//! poller holding a folder's lease in the store polls it (one node of several).
//! Folder names are written in modified UTF-7 on the wire (`utf7`).

mod connect;
pub mod dovecot;
mod plan;
mod poll;
pub mod utf7;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use poll::{poll_once, run, PollReport};

/// How the connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// Plain text, password included: only for a server on the same machine.
    None,
    /// Plain connection upgraded with STARTTLS before LOGIN (refused if the server cannot).
    StartTls,
    /// TLS from the first byte (IMAPS, usually port 993).
    Tls,
}

impl Security {
    pub fn parse(text: &str) -> Option<Security> {
        match text.trim().to_ascii_lowercase().as_str() {
            "none" => Some(Security::None),
            "starttls" => Some(Security::StartTls),
            "tls" => Some(Security::Tls),
            _ => None,
        }
    }

    /// The usual port: 993 for TLS, 143 otherwise.
    pub fn default_port(&self) -> u16 {
        match self {
            Security::Tls => 993,
            Security::None | Security::StartTls => 143,
        }
    }
}

/// What happens on the server to a message once it is durably taken in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterAction {
    /// Set the \Seen flag; the message stays.
    Seen,
    /// Move it to this folder (UID MOVE where offered, else COPY, \Deleted and EXPUNGE).
    Move(String),
    /// Mark it \Deleted and expunge it.
    Delete,
}

impl AfterAction {
    /// `seen`, `delete` or `move:Folder`.
    pub fn parse(text: &str) -> Option<AfterAction> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("seen") {
            return Some(AfterAction::Seen);
        }
        if text.eq_ignore_ascii_case("delete") {
            return Some(AfterAction::Delete);
        }
        let (word, folder) = text.split_once(':')?;
        let folder = folder.trim();
        (word.trim().eq_ignore_ascii_case("move")
            && !folder.is_empty()
            && !folder.contains(['\r', '\n']))
        .then(|| AfterAction::Move(folder.to_string()))
    }
}

/// Bounds that keep one message or one server from holding up the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// A larger message is not fetched; its header goes to the quarantine.
    pub max_message_bytes: u64,
    /// At most this many messages per fetch (and per transaction).
    pub batch_messages: usize,
    /// At most about this many bytes per fetch; a larger message is fetched alone.
    pub batch_bytes: u64,
    /// A message whose lone fetch failed this often is given up on (header to the quarantine).
    pub max_fetch_failures: u32,
    /// Any command but a fetch, and the fixed part of a fetch's allowance.
    pub command_timeout: Duration,
    /// The slowest transfer a fetch is allowed on top of `command_timeout`.
    pub min_fetch_bytes_per_second: u64,
    /// IDLE is ended and the folder checked again after this long (servers may drop an IDLE
    /// after 30 minutes; RFC 2177 asks clients to renew within 29).
    pub idle_renew: Duration,
    /// The longest wait between reconnection attempts.
    pub max_backoff: Duration,
    /// How long a poller's hold on a folder lasts unless renewed (it is renewed every third
    /// of it while connected): only one node polls a folder at a time, and when it dies
    /// another takes over once it has seen no renewal for this long on its own clock (so
    /// within about twice this long; the nodes' clocks need not agree).
    pub lease: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_bytes: 25 * 1024 * 1024,
            batch_messages: 200,
            batch_bytes: 8 * 1024 * 1024,
            max_fetch_failures: 3,
            command_timeout: Duration::from_secs(60),
            min_fetch_bytes_per_second: 64 * 1024,
            idle_renew: Duration::from_secs(20 * 60),
            max_backoff: Duration::from_secs(300),
            lease: Duration::from_secs(120),
        }
    }
}

/// One polled folder of one IMAP account.
#[derive(Debug, Clone)]
pub struct Account {
    /// Names the account in logs and, with `folder`, keys its cursor: keep it stable.
    pub name: String,
    pub host: String,
    pub port: u16,
    pub security: Security,
    /// Extra trusted certificates (PEM), e.g. a private CA; the public roots are trusted too.
    pub tls_ca_file: Option<PathBuf>,
    pub user: String,
    pub password: String,
    /// The folder to take mail from (e.g. `INBOX`, `Entwürfe`), as people read it: it is
    /// written in modified UTF-7 on the wire (`Entw&APw-rfe`).
    pub folder: String,
    /// The support address this mail counts as sent to (a configured mailbox).
    pub mailbox: String,
    pub after: AfterAction,
    /// How often to look when the server does not offer IDLE.
    pub poll_interval: Duration,
    pub limits: Limits,
}

/// The clock: milliseconds since the epoch (only the binary reads the real one).
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// Why polling failed; the poller logs it and tries again later.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot connect to {address}: {source}")]
    Connect {
        address: String,
        #[source]
        source: std::io::Error,
    },
    #[error("TLS with {host}: {reason}")]
    Tls { host: String, reason: String },
    #[error("the server refused the login of {user}: {reason}")]
    Login { user: String, reason: String },
    #[error("IMAP {command} failed: {source}")]
    Imap {
        command: String,
        #[source]
        source: async_imap::error::Error,
    },
    #[error("IMAP {command} got no answer within {seconds} s")]
    Timeout { command: String, seconds: u64 },
    #[error("another poller (another node) is polling folder {folder} of IMAP account {account}")]
    Leased { account: String, folder: String },
    #[error("{0}")]
    Server(String),
    /// The server refused a command that changes the folder (NO or BAD), or opened the folder
    /// read-only so that such a command would do nothing: the connection is fine, and the
    /// action was not done.
    #[error("the IMAP server refused {command}: {answer}")]
    Refused { command: String, answer: String },
    #[error("{0}")]
    Setup(String),
    #[error(transparent)]
    App(#[from] app::AppError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
