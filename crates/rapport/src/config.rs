//! Configuration: defaults, then a TOML file (`--config` or `RAPPORT_CONFIG`), then
//! `RAPPORT_*` environment variables (with `RAPPORT_DATABASE_URL_FILE` for the secret), then
//! command-line flags. Every problem is reported at once.

use std::net::SocketAddr;
use std::path::PathBuf;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::{Figment, Provider};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Config {
    /// Where the SQLite database and other local state live.
    pub data: PathBuf,
    /// PostgreSQL instead of SQLite: `postgres://user@host/db`.
    pub database_url: Option<String>,
    /// Where the HTTP server listens.
    pub listen: String,
    /// Mark the session cookie `Secure` (serve behind HTTPS).
    pub secure_cookies: bool,
    /// Where people reach this server, for links sent by e-mail (default `http://LISTEN`).
    pub public_url: Option<String>,
    /// Days after which a solved conversation closes.
    pub auto_close_days: u32,
    /// Days a sign-in lasts.
    pub session_days: u32,
    /// PostgreSQL pool size per node. Small on purpose: PostgreSQL does the most work with
    /// about twice its cores in connections (see README).
    pub max_connections: u32,
    /// Log filter, e.g. `info` or `rapport=debug,sqlx=warn`.
    pub log: String,
    /// Where the SMTP listener accepts mail for the support mailboxes (off when absent).
    pub smtp_listen: Option<String>,
    /// Where the LMTP listener accepts mail from an MTA in front (off when absent).
    pub lmtp_listen: Option<String>,
    /// The host name the mail listeners greet with.
    pub mail_hostname: String,
    /// Largest inbound message accepted, in bytes.
    pub max_message_bytes: usize,
    /// PEM certificate chain offered by STARTTLS on the SMTP/LMTP listeners (with `smtp_tls_key`).
    pub smtp_tls_cert: Option<PathBuf>,
    /// PEM private key for `smtp_tls_cert`.
    pub smtp_tls_key: Option<PathBuf>,
    /// The SMTP relay outgoing mail is submitted to, HOST:PORT (unset: mail waits, deferred).
    pub smtp_relay: Option<String>,
    /// none, starttls or tls.
    pub smtp_relay_security: String,
    pub smtp_relay_user: Option<String>,
    pub smtp_relay_password: Option<String>,
    /// IMAP folders to take mail from (`[[imap]]` tables).
    pub imap: Vec<ImapConfig>,
    /// The sites that may embed the chat widget: a CSP `frame-ancestors` source list, e.g.
    /// `'self' https://shop.example.com` (default `*`, any site).
    pub chat_frame_ancestors: String,
    /// Chat sockets one client address may hold open at once (default 20).
    pub chat_max_sockets_per_address: u32,
}

/// One IMAP folder Rapport takes mail from: an `[[imap]]` table in the config file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImapConfig {
    /// Names the account in logs and, with `folder`, keys its cursor (default `USER@HOST`).
    #[serde(default)]
    pub name: Option<String>,
    pub host: String,
    /// Default 993 with `tls = "tls"`, else 143.
    #[serde(default)]
    pub port: Option<u16>,
    /// none, starttls or tls.
    #[serde(default = "default_imap_tls")]
    pub tls: String,
    /// Extra trusted certificates (PEM), besides the public roots: a private CA, or the
    /// server's self-signed certificate itself. Verification is never switched off.
    #[serde(default)]
    pub tls_ca_file: Option<PathBuf>,
    pub user: String,
    #[serde(default)]
    pub password: Option<String>,
    /// A file whose trimmed contents are the password (instead of `password`).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    #[serde(default = "default_imap_folder")]
    pub folder: String,
    /// The support address this mail is for (a mailbox from `rapport mailbox add`).
    pub mailbox: String,
    /// After a message is taken in: `seen`, `move:FOLDER` or `delete`.
    #[serde(default = "default_imap_after")]
    pub after: String,
    /// How often to look when the server does not offer IDLE.
    #[serde(default = "default_imap_poll_seconds")]
    pub poll_seconds: u64,
}

fn default_imap_tls() -> String {
    "tls".into()
}

fn default_imap_folder() -> String {
    "INBOX".into()
}

fn default_imap_after() -> String {
    "seen".into()
}

fn default_imap_poll_seconds() -> u64 {
    60
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data: PathBuf::from("data"),
            database_url: None,
            listen: "127.0.0.1:8080".into(),
            secure_cookies: false,
            public_url: None,
            auto_close_days: 4,
            session_days: 14,
            max_connections: 8,
            log: "info,sqlx=warn".into(),
            smtp_listen: None,
            lmtp_listen: None,
            mail_hostname: "localhost".into(),
            max_message_bytes: 25 * 1024 * 1024,
            smtp_tls_cert: None,
            smtp_tls_key: None,
            smtp_relay: None,
            smtp_relay_security: "starttls".into(),
            smtp_relay_user: None,
            smtp_relay_password: None,
            imap: Vec::new(),
            chat_frame_ancestors: ui::DEFAULT_CHAT_FRAME_ANCESTORS.into(),
            chat_max_sockets_per_address: ui::DEFAULT_CHAT_SOCKETS_PER_ADDRESS,
        }
    }
}

/// Values given on the command line (they win over everything else).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lmtp_listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chat_frame_ancestors: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chat_max_sockets_per_address: Option<u32>,
}

/// Every setting's name (in files; as `RAPPORT_NAME` in the environment).
const KEYS: &[&str] = &[
    "data",
    "database_url",
    "listen",
    "secure_cookies",
    "public_url",
    "auto_close_days",
    "session_days",
    "max_connections",
    "log",
    "smtp_listen",
    "lmtp_listen",
    "mail_hostname",
    "max_message_bytes",
    "smtp_tls_cert",
    "smtp_tls_key",
    "smtp_relay",
    "smtp_relay_security",
    "smtp_relay_user",
    "smtp_relay_password",
    "imap",
    "chat_frame_ancestors",
    "chat_max_sockets_per_address",
];

impl Config {
    /// Whether cookies are marked `Secure`: when asked for, and whenever people reach the
    /// server over HTTPS (`public_url` is `https://…`), where a cookie without it could
    /// leak over a plain-HTTP request.
    pub fn cookies_secure(&self) -> bool {
        self.secure_cookies
            || self
                .public_url
                .as_deref()
                .is_some_and(|url| url.starts_with("https://"))
    }

    /// Loads the configuration; on failure, the error lists every problem found.
    pub fn load(file: Option<PathBuf>, overrides: Overrides) -> anyhow::Result<Config> {
        let mut problems: Vec<String> = Vec::new();
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        let file = file.or_else(|| std::env::var_os("RAPPORT_CONFIG").map(PathBuf::from));
        if let Some(file) = &file {
            if !file.exists() {
                problems.push(format!("config file {} does not exist", file.display()));
            }
            figment = figment.merge(Toml::file(file));
        }
        figment = figment
            .merge(Env::prefixed("RAPPORT_").only(KEYS))
            .merge(Serialized::defaults(overrides.clone()));
        // Each setting is read on its own, so that one bad value does not hide the others.
        let mut config = Config::default();
        macro_rules! read {
            ($key:ident) => {
                match figment.extract_inner(stringify!($key)) {
                    Ok(value) => config.$key = value,
                    Err(errors) => problems.extend(errors.into_iter().map(|e| e.to_string())),
                }
            };
        }
        read!(data);
        read!(listen);
        read!(secure_cookies);
        read!(auto_close_days);
        read!(session_days);
        read!(max_connections);
        read!(log);
        read!(mail_hostname);
        read!(max_message_bytes);
        read!(smtp_relay_security);
        read!(chat_frame_ancestors);
        read!(chat_max_sockets_per_address);
        match ui::check_frame_ancestors(&config.chat_frame_ancestors) {
            Ok(sources) => config.chat_frame_ancestors = sources,
            Err(why) => problems.push(format!("chat_frame_ancestors: {why}")),
        }
        if config.chat_max_sockets_per_address == 0 {
            problems.push("chat_max_sockets_per_address must be at least 1".into());
        }
        for (key, slot) in [
            ("smtp_tls_cert", &mut config.smtp_tls_cert),
            ("smtp_tls_key", &mut config.smtp_tls_key),
        ] {
            if figment.contains(key) {
                match figment.extract_inner::<Option<PathBuf>>(key) {
                    Ok(value) => *slot = value,
                    Err(errors) => problems.extend(errors.into_iter().map(|e| e.to_string())),
                }
            }
        }
        if config.smtp_tls_cert.is_some() != config.smtp_tls_key.is_some() {
            problems
                .push("smtp_tls_cert and smtp_tls_key go together: give both or neither".into());
        }
        for (key, slot) in [
            ("smtp_listen", &mut config.smtp_listen),
            ("lmtp_listen", &mut config.lmtp_listen),
            ("smtp_relay", &mut config.smtp_relay),
            ("public_url", &mut config.public_url),
            ("smtp_relay_user", &mut config.smtp_relay_user),
            ("smtp_relay_password", &mut config.smtp_relay_password),
        ] {
            if figment.contains(key) {
                match figment.extract_inner::<Option<String>>(key) {
                    Ok(value) => *slot = value,
                    Err(errors) => problems.extend(errors.into_iter().map(|e| e.to_string())),
                }
            }
        }
        if figment.contains("database_url") {
            match figment.extract_inner::<Option<String>>("database_url") {
                Ok(value) => config.database_url = value,
                Err(errors) => problems.extend(errors.into_iter().map(|e| e.to_string())),
            }
        }
        if let Ok(data) = figment.data() {
            for dict in data.values() {
                for key in dict.keys().filter(|k| !KEYS.contains(&k.as_str())) {
                    problems.push(format!(
                        "unknown setting {key:?}; the settings are: {}",
                        KEYS.join(", ")
                    ));
                }
            }
        }
        if overrides.database_url.is_none() {
            if let Some(path) = std::env::var_os("RAPPORT_DATABASE_URL_FILE") {
                match std::fs::read_to_string(&path) {
                    Ok(url) => config.database_url = Some(url.trim().to_string()),
                    Err(e) => problems.push(format!(
                        "RAPPORT_DATABASE_URL_FILE {}: {e}",
                        PathBuf::from(path).display()
                    )),
                }
            }
        }
        if config.listen.parse::<SocketAddr>().is_err() {
            problems.push(format!(
                "listen address {:?} is not HOST:PORT (e.g. 127.0.0.1:8080)",
                config.listen
            ));
        }
        for (name, address) in [
            ("smtp_listen", &config.smtp_listen),
            ("lmtp_listen", &config.lmtp_listen),
        ] {
            if let Some(address) = address {
                if address.parse::<SocketAddr>().is_err() {
                    problems.push(format!(
                        "{name} address {address:?} is not HOST:PORT (e.g. 127.0.0.1:2525)"
                    ));
                }
            }
        }
        if smtp::RelaySecurity::parse(&config.smtp_relay_security).is_none() {
            problems.push(format!(
                "smtp_relay_security {:?} is not one of none, starttls, tls",
                config.smtp_relay_security
            ));
        }
        if let Some(url) = &config.database_url {
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                problems.push("database_url must start with postgres:// (leave it out to use SQLite in the data directory)".into());
            }
        }
        if let Some(url) = &config.public_url {
            let rest = url
                .strip_prefix("https://")
                .or_else(|| url.strip_prefix("http://"));
            if rest.is_none_or(|host| {
                host.trim_matches('/').is_empty() || host.contains(char::is_whitespace)
            }) {
                problems.push(format!(
                    "public_url {url:?} is not an http:// or https:// address (e.g. https://help.example.com)"
                ));
            }
        }
        if figment.contains("imap") {
            match figment.extract_inner::<Vec<ImapConfig>>("imap") {
                Ok(accounts) => config.imap = accounts,
                Err(errors) => problems.extend(errors.into_iter().map(|e| e.to_string())),
            }
        }
        check_imap(&mut config.imap, &mut problems);
        if config.max_connections == 0 {
            problems.push("max_connections must be at least 1".into());
        }
        if problems.is_empty() {
            Ok(config)
        } else {
            anyhow::bail!(
                "the configuration has {} problem(s):\n  - {}",
                problems.len(),
                problems.join("\n  - ")
            )
        }
    }

    /// The application with its outgoing-mail relay, when one is configured.
    pub fn app(&self, store: store::Store) -> anyhow::Result<app::App> {
        let app = app::App::new(store, self.settings());
        let Some(relay) = &self.smtp_relay else {
            return Ok(app);
        };
        let security = smtp::RelaySecurity::parse(&self.smtp_relay_security)
            .unwrap_or(smtp::RelaySecurity::StartTls);
        let credentials = self
            .smtp_relay_user
            .clone()
            .map(|user| (user, self.smtp_relay_password.clone().unwrap_or_default()));
        let relay = smtp::Relay::new(relay, security, credentials).map_err(anyhow::Error::msg)?;
        Ok(app.with_mail_sender(std::sync::Arc::new(relay)))
    }

    /// The configured IMAP folders, as the poller takes them (the configuration is checked).
    pub fn imap_accounts(&self) -> Vec<imap::Account> {
        self.imap
            .iter()
            .map(|c| {
                let security = imap::Security::parse(&c.tls).unwrap_or(imap::Security::Tls);
                imap::Account {
                    name: imap_account_name(c),
                    host: c.host.clone(),
                    port: c.port.unwrap_or(security.default_port()),
                    security,
                    tls_ca_file: c.tls_ca_file.clone(),
                    user: c.user.clone(),
                    password: c.password.clone().unwrap_or_default(),
                    folder: c.folder.clone(),
                    mailbox: c.mailbox.clone(),
                    after: imap::AfterAction::parse(&c.after).unwrap_or(imap::AfterAction::Seen),
                    poll_interval: std::time::Duration::from_secs(c.poll_seconds.max(1)),
                    limits: imap::Limits {
                        max_message_bytes: u64::try_from(self.max_message_bytes)
                            .unwrap_or(u64::MAX),
                        ..imap::Limits::default()
                    },
                }
            })
            .collect()
    }

    pub fn settings(&self) -> app::Settings {
        app::Settings {
            auto_close_days: self.auto_close_days,
            session_days: self.session_days,
            public_url: self
                .public_url
                .clone()
                .unwrap_or_else(|| format!("http://{}", self.listen))
                .trim_end_matches('/')
                .to_string(),
        }
    }

    /// The chat widget's settings, as the pages take them.
    pub fn chat_options(&self) -> ui::ChatOptions {
        ui::ChatOptions {
            frame_ancestors: self.chat_frame_ancestors.clone(),
            max_sockets_per_address: self.chat_max_sockets_per_address,
        }
    }

    /// Opens the configured database (migrating it).
    pub async fn open_store(&self) -> anyhow::Result<store::Store> {
        Ok(match &self.database_url {
            Some(url) => store::Store::open_postgres(url, None, self.max_connections).await?,
            None => store::Store::open_sqlite(&self.data).await?,
        })
    }
}

fn imap_account_name(c: &ImapConfig) -> String {
    c.name
        .clone()
        .unwrap_or_else(|| format!("{}@{}", c.user, c.host))
}

/// Checks the `[[imap]]` tables and reads each `password_file` into `password`.
fn check_imap(accounts: &mut [ImapConfig], problems: &mut Vec<String>) {
    let mut keys = std::collections::HashSet::new();
    for (i, c) in accounts.iter_mut().enumerate() {
        let at = format!("imap #{} ({}@{})", i + 1, c.user, c.host);
        if c.host.trim().is_empty() || c.user.trim().is_empty() {
            problems.push(format!("{at}: host and user must not be empty"));
        }
        if imap::Security::parse(&c.tls).is_none() {
            problems.push(format!(
                "{at}: tls {:?} is not one of none, starttls, tls",
                c.tls
            ));
        }
        if imap::AfterAction::parse(&c.after).is_none() {
            problems.push(format!(
                "{at}: after {:?} is not one of seen, delete, move:FOLDER",
                c.after
            ));
        }
        if c.folder.trim().is_empty() || c.folder.contains(['\r', '\n']) {
            problems.push(format!("{at}: folder {:?} is not a folder name", c.folder));
        }
        if !c.mailbox.contains('@') {
            problems.push(format!(
                "{at}: mailbox {:?} is not a support address (e.g. support@example.com)",
                c.mailbox
            ));
        }
        if c.poll_seconds == 0 {
            problems.push(format!("{at}: poll_seconds must be at least 1"));
        }
        match (&c.password, &c.password_file) {
            (Some(_), Some(_)) => {
                problems.push(format!("{at}: give password or password_file, not both"))
            }
            (None, None) => problems.push(format!("{at}: password or password_file is missing")),
            (None, Some(file)) => match std::fs::read_to_string(file) {
                Ok(text) => c.password = Some(text.trim().to_string()),
                Err(e) => problems.push(format!("{at}: password_file {}: {e}", file.display())),
            },
            (Some(_), None) => {}
        }
        if !keys.insert((imap_account_name(c), c.folder.clone())) {
            problems.push(format!(
                "{at}: folder {} of account {} is configured twice",
                c.folder,
                imap_account_name(c)
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_secure_when_asked_for_or_when_served_over_https() {
        let with = |secure_cookies, public_url: Option<&str>| Config {
            secure_cookies,
            public_url: public_url.map(str::to_string),
            ..Config::default()
        };
        assert!(!with(false, None).cookies_secure());
        assert!(!with(false, Some("http://localhost:8080")).cookies_secure());
        assert!(with(true, None).cookies_secure());
        assert!(with(false, Some("https://help.example.com")).cookies_secure());
    }
}
