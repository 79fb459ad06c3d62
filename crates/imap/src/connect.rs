//! Connecting and signing in: TCP, TLS from the start or after STARTTLS (never falling back
//! to plain text), the greeting, LOGIN.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_imap::{Client, Session};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls;

use crate::{Account, Error, Result, Security};

/// The connection under the IMAP session: plain or TLS.
#[derive(Debug)]
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

pub(crate) type ImapSession = Session<Stream>;

/// Runs `future` with a time limit, naming the command when it runs out.
pub(crate) async fn within<T>(
    limit: Duration,
    command: &str,
    future: impl Future<Output = Result<T>>,
) -> Result<T> {
    match tokio::time::timeout(limit, future).await {
        Ok(result) => result,
        Err(_) => Err(Error::Timeout {
            command: command.to_string(),
            seconds: limit.as_secs(),
        }),
    }
}

pub(crate) fn imap_error(command: &str) -> impl FnOnce(async_imap::error::Error) -> Error + '_ {
    move |source| Error::Imap {
        command: command.to_string(),
        source,
    }
}

/// Connects and signs in.
pub(crate) async fn open(account: &Account) -> Result<ImapSession> {
    let limit = account.limits.command_timeout;
    let address = format!("{}:{}", account.host, account.port);
    let tcp = within(limit, "connect", async {
        TcpStream::connect((account.host.as_str(), account.port))
            .await
            .map_err(|source| Error::Connect {
                address: address.clone(),
                source,
            })
    })
    .await?;
    let _ = tcp.set_nodelay(true);
    let client = match account.security {
        Security::None => {
            let mut client = Client::new(Stream::Plain(tcp));
            within(limit, "greeting", greeting(&mut client)).await?;
            client
        }
        Security::Tls => {
            let tls = within(limit, "TLS handshake", handshake(account, tcp)).await?;
            let mut client = Client::new(Stream::Tls(Box::new(tls)));
            within(limit, "greeting", greeting(&mut client)).await?;
            client
        }
        Security::StartTls => {
            let mut client = Client::new(Stream::Plain(tcp));
            within(limit, "greeting", greeting(&mut client)).await?;
            within(limit, "STARTTLS", async {
                client
                    .run_command_and_check_ok("STARTTLS", None)
                    .await
                    .map_err(imap_error("STARTTLS"))
            })
            .await?;
            let Stream::Plain(tcp) = client.into_inner() else {
                return Err(Error::Setup("STARTTLS on a TLS connection".into()));
            };
            let tls = within(limit, "TLS handshake", handshake(account, tcp)).await?;
            Client::new(Stream::Tls(Box::new(tls)))
        }
    };
    within(limit, "LOGIN", async {
        client
            .login(&account.user, &account.password)
            .await
            .map_err(|(e, _)| Error::Login {
                user: account.user.clone(),
                reason: e.to_string(),
            })
    })
    .await
}

/// Reads the server's greeting: `* OK` (or `* PREAUTH`) to go on, `* BYE` to stop.
async fn greeting(client: &mut Client<Stream>) -> Result<()> {
    use async_imap::imap_proto::{Response, Status};
    let response = client
        .read_response()
        .await
        .map_err(|e| Error::Server(format!("reading the greeting: {e}")))?
        .ok_or_else(|| Error::Server("the server closed the connection before greeting".into()))?;
    match response.parsed() {
        Response::Data { status, outcome } => match status {
            Status::Ok | Status::PreAuth => Ok(()),
            other => Err(Error::Server(format!(
                "the server greeted with {other:?}: {}",
                outcome.information.as_deref().unwrap_or("")
            ))),
        },
        other => Err(Error::Server(format!(
            "the server's greeting is not an IMAP greeting: {other:?}"
        ))),
    }
}

async fn handshake(account: &Account, tcp: TcpStream) -> Result<TlsStream<TcpStream>> {
    let tls_error = |reason: String| Error::Tls {
        host: account.host.clone(),
        reason,
    };
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(file) = &account.tls_ca_file {
        use rustls_pki_types::pem::PemObject;
        let certs = rustls_pki_types::CertificateDer::pem_file_iter(file)
            .map_err(|e| tls_error(format!("cannot read tls_ca_file {}: {e}", file.display())))?;
        for cert in certs {
            let cert = cert.map_err(|e| {
                tls_error(format!(
                    "tls_ca_file {} is not PEM certificates: {e}",
                    file.display()
                ))
            })?;
            roots
                .add(cert)
                .map_err(|e| tls_error(format!("a certificate in {}: {e}", file.display())))?;
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| tls_error(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = rustls_pki_types::ServerName::try_from(account.host.clone())
        .map_err(|e| tls_error(format!("{} is not a server name: {e}", account.host)))?;
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| tls_error(e.to_string()))
}
