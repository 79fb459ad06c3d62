//! The way out: queued mail is handed to an SMTP relay (submission) with lettre.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

/// How to talk to the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelaySecurity {
    /// Plain SMTP (a relay on the same host or a trusted network).
    None,
    /// STARTTLS required (submission on port 587).
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
}

impl RelaySecurity {
    pub fn parse(text: &str) -> Option<RelaySecurity> {
        match text {
            "none" => Some(RelaySecurity::None),
            "starttls" => Some(RelaySecurity::StartTls),
            "tls" => Some(RelaySecurity::Tls),
            _ => None,
        }
    }
}

/// An SMTP relay that queued mail is submitted to.
pub struct Relay {
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl Relay {
    /// `address` is HOST:PORT.
    pub fn new(
        address: &str,
        security: RelaySecurity,
        credentials: Option<(String, String)>,
    ) -> Result<Relay, String> {
        let (host, port) = address
            .rsplit_once(':')
            .and_then(|(h, p)| p.parse::<u16>().ok().map(|p| (h.to_string(), p)))
            .ok_or_else(|| format!("smtp_relay {address:?} is not HOST:PORT"))?;
        let tls = match security {
            RelaySecurity::None => Tls::None,
            RelaySecurity::StartTls | RelaySecurity::Tls => {
                let parameters =
                    TlsParameters::new(host.clone()).map_err(|e| format!("TLS for {host}: {e}"))?;
                if security == RelaySecurity::Tls {
                    Tls::Wrapper(parameters)
                } else {
                    Tls::Required(parameters)
                }
            }
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .tls(tls)
            .timeout(Some(Duration::from_secs(60)));
        if let Some((user, password)) = credentials {
            builder = builder.credentials(Credentials::new(user, password));
        }
        Ok(Relay {
            transport: builder.build(),
        })
    }
}

impl app::MailSender for Relay {
    fn send<'a>(
        &'a self,
        from: &'a str,
        to: &'a [String],
        raw: &'a [u8],
    ) -> Pin<Box<dyn Future<Output = app::SendOutcome> + Send + 'a>> {
        Box::pin(async move {
            let sender = match from.parse() {
                Ok(a) => Some(a),
                Err(e) => {
                    return app::SendOutcome::Permanent(format!("sender {from:?}: {e}"));
                }
            };
            let mut recipients = Vec::new();
            for address in to {
                match address.parse() {
                    Ok(a) => recipients.push(a),
                    Err(e) => {
                        return app::SendOutcome::Permanent(format!("recipient {address:?}: {e}"))
                    }
                }
            }
            let envelope = match Envelope::new(sender, recipients) {
                Ok(e) => e,
                Err(e) => return app::SendOutcome::Permanent(format!("envelope: {e}")),
            };
            match self.transport.send_raw(&envelope, raw).await {
                Ok(response) => app::SendOutcome::Sent(format!(
                    "{} {}",
                    response.code(),
                    response.message().collect::<Vec<_>>().join(" ")
                )),
                Err(e) if e.is_permanent() => app::SendOutcome::Permanent(e.to_string()),
                Err(e) => app::SendOutcome::Transient(e.to_string()),
            }
        })
    }
}
