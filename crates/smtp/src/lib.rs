//! The SMTP and LMTP listener: a thin adapter between the wire (parsed by `smtp-proto`)
//! and [`app::App::accept_mail`].
//!
//! The one promise that matters: **250 only after the raw message is durable**. A message is
//! acknowledged after `accept_mail` has committed it (raw bytes, envelope, ingest job and
//! event in one transaction); concurrent sessions share commits through the store's group
//! commit. Everything a message becomes happens later, in the `mail.ingest` job.
//!
//! Extensions: PIPELINING, 8BITMIME, SMTPUTF8, SIZE, ENHANCEDSTATUSCODES (and STARTTLS when
//! the caller provides an upgrade). Recipients are checked at RCPT against the configured
//! mailboxes (plus-addressed forms such as `support+c12-ab@…` count as the mailbox).

mod relay;

pub use relay::{Relay, RelaySecurity};

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use smtp_proto::request::receiver::{DataReceiver, DummyDataReceiver, RequestReceiver};
use smtp_proto::{Error as ProtoError, Request};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{watch, RwLock, Semaphore};

/// Reads the wall clock (milliseconds since the epoch, UTC); passed in by the binary.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// Which protocol a listener speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// SMTP (RFC 5321): one reply after DATA.
    Smtp,
    /// LMTP (RFC 2033), for an MTA in front: LHLO, and one reply per recipient after DATA.
    Lmtp,
}

/// How a listener behaves.
#[derive(Debug, Clone)]
pub struct Settings {
    pub protocol: Protocol,
    /// The name in the greeting and EHLO reply.
    pub hostname: String,
    /// Largest message accepted, in bytes (advertised as SIZE).
    pub max_message_bytes: usize,
    pub max_recipients: usize,
    /// Connections served at once; more wait in the accept queue.
    pub max_connections: usize,
    /// How long a client may stay silent.
    pub idle_timeout: Duration,
    /// The certificate and key offered by STARTTLS (not offered when absent).
    pub tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
}

impl Settings {
    pub fn new(protocol: Protocol, hostname: &str) -> Settings {
        Settings {
            protocol,
            hostname: hostname.to_string(),
            max_message_bytes: 25 * 1024 * 1024,
            max_recipients: 100,
            max_connections: 512,
            idle_timeout: Duration::from_secs(300),
            tls: None,
        }
    }
}

/// Loads the PEM certificate chain and private key that STARTTLS offers.
pub fn load_tls(
    certificate: &std::path::Path,
    key: &std::path::Path,
) -> Result<Arc<tokio_rustls::rustls::ServerConfig>, String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_file_iter(certificate)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("certificate {}: {e}", certificate.display()))?;
    if chain.is_empty() {
        return Err(format!(
            "certificate {} holds no certificate",
            certificate.display()
        ));
    }
    let key =
        PrivateKeyDer::from_pem_file(key).map_err(|e| format!("key {}: {e}", key.display()))?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| format!("certificate and key do not fit together: {e}"))?;
    Ok(Arc::new(config))
}

/// The support addresses mail is accepted for, reloaded from the store when a lookup misses
/// and the copy is older than a few seconds (so a new mailbox works without a restart).
pub struct Mailboxes {
    app: app::App,
    known: RwLock<(HashSet<String>, Instant)>,
}

impl Mailboxes {
    pub async fn load(app: app::App) -> Result<Arc<Mailboxes>, app::AppError> {
        let known = Self::read(&app).await?;
        Ok(Arc::new(Mailboxes {
            app,
            known: RwLock::new((known, Instant::now())),
        }))
    }

    async fn read(app: &app::App) -> Result<HashSet<String>, app::AppError> {
        Ok(app
            .mailboxes()
            .await?
            .into_iter()
            .map(|m| m.address)
            .collect())
    }

    /// Whether mail for `address` is accepted.
    pub async fn accepts(&self, address: &str) -> bool {
        let wanted = app::mailbox_of(address);
        {
            let known = self.known.read().await;
            if known.0.contains(&wanted) || known.1.elapsed() < Duration::from_secs(3) {
                return known.0.contains(&wanted);
            }
        }
        match Self::read(&self.app).await {
            Ok(fresh) => {
                let found = fresh.contains(&wanted);
                *self.known.write().await = (fresh, Instant::now());
                found
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot reload mailboxes");
                false
            }
        }
    }
}

/// Serves connections from `listener` until `stop` turns true; then stops accepting and
/// lets sessions in progress finish their current command.
pub async fn serve(
    listener: TcpListener,
    app: app::App,
    mailboxes: Arc<Mailboxes>,
    settings: Settings,
    clock: Clock,
    mut stop: watch::Receiver<bool>,
) {
    let settings = Arc::new(settings);
    let permits = Arc::new(Semaphore::new(settings.max_connections.max(1)));
    loop {
        let permit = tokio::select! {
            _ = stop.changed() => return,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => return,
            },
        };
        let (stream, peer) = tokio::select! {
            _ = stop.changed() => return,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let session = Session {
            app: app.clone(),
            mailboxes: mailboxes.clone(),
            settings: settings.clone(),
            clock: clock.clone(),
        };
        tokio::spawn(async move {
            let mut stream = stream;
            let outcome = match session.run(&mut stream, false).await {
                Ok(Ending::StartTls) => match session.settings.tls.clone() {
                    // RFC 3207: what the client sent before the handshake is forgotten, and the
                    // session starts again (EHLO) over TLS, without a new greeting.
                    Some(config) => {
                        match tokio_rustls::TlsAcceptor::from(config).accept(stream).await {
                            Ok(mut tls) => session.run(&mut tls, true).await.map(|_| ()),
                            Err(e) => Err(e),
                        }
                    }
                    None => Ok(()),
                },
                Ok(Ending::Closed) => Ok(()),
                Err(e) => Err(e),
            };
            if let Err(e) = outcome {
                tracing::debug!(%peer, error = %e, "SMTP session ended with an error");
            }
            drop(permit);
        });
    }
}

struct Session {
    app: app::App,
    mailboxes: Arc<Mailboxes>,
    settings: Arc<Settings>,
    clock: Clock,
}

/// The envelope of the transaction in progress.
#[derive(Default)]
struct Envelope {
    greeted: bool,
    mail_from: Option<String>,
    recipients: Vec<String>,
}

enum Mode {
    Commands,
    /// Receiving DATA into the message buffer.
    Data(DataReceiver),
    /// Receiving DATA that is already too large: read to its end, then refuse.
    Discard(DummyDataReceiver),
    /// The rest of an over-long command line, already refused.
    SkipLine,
}

/// How a session ended.
enum Ending {
    Closed,
    /// The client asked for TLS and was told to go ahead.
    StartTls,
}

impl Session {
    async fn run<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        stream: &mut S,
        tls_active: bool,
    ) -> std::io::Result<Ending> {
        let s = &self.settings;
        let mut out = Vec::with_capacity(512);
        if !tls_active {
            out.extend_from_slice(
                format!(
                    "220 {} Rapport {} ready\r\n",
                    s.hostname,
                    match s.protocol {
                        Protocol::Smtp => "ESMTP",
                        Protocol::Lmtp => "LMTP",
                    }
                )
                .as_bytes(),
            );
        }
        stream.write_all(&out).await?;
        out.clear();

        let mut envelope = Envelope::default();
        let mut receiver = RequestReceiver::default();
        let mut mode = Mode::Commands;
        let mut message: Vec<u8> = Vec::new();
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            let n = match tokio::time::timeout(s.idle_timeout, stream.read(&mut chunk)).await {
                Ok(Ok(0)) => return Ok(Ending::Closed),
                Ok(Ok(n)) => n,
                Ok(Err(e)) => return Err(e),
                Err(_) => {
                    stream
                        .write_all(b"421 4.4.2 idle for too long, closing\r\n")
                        .await?;
                    return Ok(Ending::Closed);
                }
            };
            let bytes = &chunk[..n];
            let mut iter = bytes.iter();
            loop {
                match &mut mode {
                    Mode::Data(data) => {
                        if data.ingest(&mut iter, &mut message) {
                            mode = Mode::Commands;
                            if message.len() > s.max_message_bytes {
                                message = Vec::new();
                                self.refuse_too_large(&mut envelope, &mut out);
                            } else {
                                self.end_of_data(&mut envelope, &mut message, &mut out)
                                    .await;
                            }
                        } else if message.len() > s.max_message_bytes {
                            mode = Mode::Discard(DummyDataReceiver::new_data(data));
                            message = Vec::new();
                        } else {
                            break;
                        }
                    }
                    Mode::Discard(discard) => {
                        if discard.ingest(&mut iter) {
                            mode = Mode::Commands;
                            self.refuse_too_large(&mut envelope, &mut out);
                        } else {
                            break;
                        }
                    }
                    Mode::Commands => match receiver.ingest(&mut iter) {
                        Ok(request) => {
                            let request = request.into_owned();
                            match self
                                .command(request, &mut envelope, &mut out, tls_active)
                                .await
                            {
                                Next::Continue => {}
                                Next::StartTls => {
                                    stream.write_all(&out).await?;
                                    stream.flush().await?;
                                    return Ok(Ending::StartTls);
                                }
                                Next::Data => {
                                    message.clear();
                                    mode = Mode::Data(DataReceiver::new());
                                }
                                Next::Quit => {
                                    stream.write_all(&out).await?;
                                    return Ok(Ending::Closed);
                                }
                            }
                        }
                        Err(ProtoError::NeedsMoreData { .. }) => break,
                        Err(ProtoError::ResponseTooLong) => {
                            out.extend_from_slice(
                                refusal_for(&ProtoError::ResponseTooLong).as_bytes(),
                            );
                            mode = Mode::SkipLine;
                        }
                        Err(e) => out.extend_from_slice(refusal_for(&e).as_bytes()),
                    },
                    Mode::SkipLine => {
                        if iter.any(|&b| b == b'\n') {
                            mode = Mode::Commands;
                        } else {
                            break;
                        }
                    }
                }
                if iter.len() == 0 {
                    break;
                }
            }
            // Pipelining (RFC 2920): answers are batched and sent before waiting for input.
            if !out.is_empty() {
                stream.write_all(&out).await?;
                stream.flush().await?;
                out.clear();
            }
        }
    }

    async fn command(
        &self,
        request: Request<String>,
        envelope: &mut Envelope,
        out: &mut Vec<u8>,
        tls_active: bool,
    ) -> Next {
        let s = &self.settings;
        let lmtp = s.protocol == Protocol::Lmtp;
        let reply = |out: &mut Vec<u8>, line: &str| {
            out.extend_from_slice(line.as_bytes());
            out.extend_from_slice(b"\r\n");
        };
        match request {
            Request::Ehlo { .. } if lmtp => {
                reply(out, "500 5.5.1 this is an LMTP server: say LHLO");
            }
            Request::Lhlo { .. } if !lmtp => {
                reply(out, "500 5.5.1 this is an SMTP server: say EHLO");
            }
            Request::Ehlo { host } | Request::Lhlo { host } => {
                *envelope = Envelope {
                    greeted: true,
                    ..Envelope::default()
                };
                reply(out, &format!("250-{} greets {}", s.hostname, host));
                reply(out, "250-PIPELINING");
                reply(out, "250-8BITMIME");
                reply(out, "250-SMTPUTF8");
                reply(out, "250-ENHANCEDSTATUSCODES");
                if s.tls.is_some() && !tls_active {
                    reply(out, "250-STARTTLS");
                }
                reply(out, &format!("250 SIZE {}", s.max_message_bytes));
            }
            Request::Helo { host } => {
                if lmtp {
                    reply(out, "500 5.5.1 this is an LMTP server: say LHLO");
                } else {
                    *envelope = Envelope {
                        greeted: true,
                        ..Envelope::default()
                    };
                    reply(out, &format!("250 {} greets {}", s.hostname, host));
                }
            }
            Request::Mail { from } => {
                if !envelope.greeted {
                    reply(out, "503 5.5.1 say EHLO first");
                } else if envelope.mail_from.is_some() {
                    reply(out, "503 5.5.1 a transaction is already open; RSET first");
                } else if from.size > s.max_message_bytes {
                    reply(
                        out,
                        &format!(
                            "552 5.3.4 message larger than {} bytes",
                            s.max_message_bytes
                        ),
                    );
                } else {
                    envelope.mail_from = Some(from.address);
                    envelope.recipients.clear();
                    reply(out, "250 2.1.0 sender ok");
                }
            }
            Request::Rcpt { to } => {
                if envelope.mail_from.is_none() {
                    reply(out, "503 5.5.1 MAIL FROM first");
                } else if envelope.recipients.len() >= s.max_recipients {
                    reply(out, "452 4.5.3 too many recipients");
                } else if self.mailboxes.accepts(&to.address).await {
                    envelope.recipients.push(to.address.trim().to_lowercase());
                    reply(out, "250 2.1.5 recipient ok");
                } else {
                    reply(
                        out,
                        &format!("550 5.1.1 <{}> is not a mailbox here", to.address),
                    );
                }
            }
            Request::Data => {
                if envelope.mail_from.is_none() {
                    reply(out, "503 5.5.1 MAIL FROM first");
                } else if envelope.recipients.is_empty() {
                    reply(out, "554 5.5.1 no valid recipients");
                } else {
                    reply(out, "354 send the message; end with <CRLF>.<CRLF>");
                    return Next::Data;
                }
            }
            Request::Bdat { .. } => reply(out, "502 5.5.1 CHUNKING is not offered"),
            Request::Rset => {
                envelope.mail_from = None;
                envelope.recipients.clear();
                reply(out, "250 2.0.0 reset");
            }
            Request::Noop { .. } => reply(out, "250 2.0.0 ok"),
            Request::Vrfy { .. } => reply(out, "252 2.5.2 cannot verify, but will accept"),
            Request::Quit => {
                reply(out, "221 2.0.0 bye");
                return Next::Quit;
            }
            Request::StartTls if tls_active => reply(out, "503 5.5.1 TLS is already active"),
            Request::StartTls if s.tls.is_some() => {
                reply(out, "220 2.0.0 ready to start TLS");
                return Next::StartTls;
            }
            Request::StartTls => reply(out, "502 5.5.1 STARTTLS is not configured"),
            Request::Auth { .. } => reply(out, "502 5.5.1 authentication is not offered"),
            _ => reply(out, "502 5.5.2 command not implemented"),
        }
        Next::Continue
    }

    /// The message is complete: make it durable, then (and only then) say 250.
    async fn end_of_data(&self, envelope: &mut Envelope, message: &mut Vec<u8>, out: &mut Vec<u8>) {
        let raw = std::mem::take(message);
        let mail = app::AcceptedMail {
            transport: match self.settings.protocol {
                Protocol::Smtp => app::Transport::Smtp,
                Protocol::Lmtp => app::Transport::Lmtp,
            },
            mail_from: envelope.mail_from.take().unwrap_or_default(),
            recipients: std::mem::take(&mut envelope.recipients),
            raw,
        };
        let recipients = mail.recipients.clone();
        let answer = match self.app.accept_mail(mail, (self.clock)()).await {
            Ok(id) => format!("250 2.0.0 accepted as message {id}\r\n"),
            Err(e) => {
                tracing::error!(error = %e, "cannot store an inbound message; asking the sender to retry");
                "451 4.3.0 cannot store the message now; try again later\r\n".to_string()
            }
        };
        let shown = Envelope {
            greeted: true,
            mail_from: None,
            recipients,
        };
        self.per_recipient(&shown, &answer, out);
    }

    fn refuse_too_large(&self, envelope: &mut Envelope, out: &mut Vec<u8>) {
        let refusal = format!(
            "552 5.3.4 message larger than {} bytes\r\n",
            self.settings.max_message_bytes
        );
        self.per_recipient(envelope, &refusal, out);
        envelope.mail_from = None;
        envelope.recipients.clear();
    }

    /// SMTP answers once; LMTP once per accepted recipient (RFC 2033 4.2).
    fn per_recipient(&self, envelope: &Envelope, answer: &str, out: &mut Vec<u8>) {
        let times = match self.settings.protocol {
            Protocol::Smtp => 1,
            Protocol::Lmtp => envelope.recipients.len().max(1),
        };
        for _ in 0..times {
            out.extend_from_slice(answer.as_bytes());
        }
    }
}

enum Next {
    Continue,
    Data,
    StartTls,
    Quit,
}

fn refusal_for(error: &ProtoError) -> String {
    match error {
        ProtoError::UnknownCommand => "500 5.5.2 command not recognised\r\n".into(),
        ProtoError::InvalidSenderAddress => "501 5.1.7 bad sender address\r\n".into(),
        ProtoError::InvalidRecipientAddress => "501 5.1.3 bad recipient address\r\n".into(),
        ProtoError::SyntaxError { syntax } => format!("501 5.5.4 syntax: {syntax}\r\n"),
        ProtoError::InvalidParameter { param } => format!("501 5.5.4 bad parameter {param}\r\n"),
        ProtoError::UnsupportedParameter { param } => {
            format!("504 5.5.4 parameter {param} not supported\r\n")
        }
        ProtoError::ResponseTooLong => "500 5.5.6 line too long\r\n".into(),
        _ => "500 5.5.2 cannot parse that\r\n".into(),
    }
}
