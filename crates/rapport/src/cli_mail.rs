//! `rapport mail …`: e-mail tools. All logic lives in the `mail` crate; this file only reads the
//! file and prints.

use std::io::Read;
use std::path::PathBuf;

use anyhow::Context;

/// E-mail tools.
#[derive(clap::Subcommand)]
pub enum MailCommand {
    /// Shows how Rapport reads a message: parts, bodies, attachments, threading keys, the
    /// automatic-mail verdict and any bounce or complaint report, as JSON. A message Rapport
    /// would quarantine prints `"disposition": "quarantine"` with the reason.
    Parse {
        /// The raw message (.eml); `-` reads standard input.
        file: PathBuf,
        /// One of Rapport's own addresses (repeatable): mail from them is reported as a loop.
        #[arg(long = "own-address")]
        own_addresses: Vec<String>,
    },
    /// Imports mail: an .eml file, an mbox file, a Maildir, or a folder of .eml files. Each
    /// message goes through the same intake as SMTP (stored raw, then processed); prints how
    /// many became messages, bounces, automatic mail or quarantine entries.
    Import {
        #[command(flatten)]
        db: crate::DbArgs,
        /// The file or folder.
        path: PathBuf,
        /// The support address the mail counts as sent to (default: the first mailbox).
        #[arg(long)]
        mailbox: Option<String>,
    },
    /// Takes new mail from the configured IMAP folders once (`[[imap]]` in the config), as
    /// `rapport serve` does all the time, processes it, and prints a JSON line per folder.
    Poll {
        #[command(flatten)]
        db: crate::DbArgs,
        /// Only the account with this name (default: every configured folder).
        #[arg(long)]
        account: Option<String>,
    },
    /// The quarantine: messages Rapport could not take in, with the reason.
    Quarantine {
        #[command(subcommand)]
        command: QuarantineCommand,
    },
    /// Reads a stored inbound message again from its raw bytes and prints how Rapport reads it now.
    Reparse {
        #[command(flatten)]
        db: crate::DbArgs,
        /// The inbound message id (as in `accepted as message N`).
        id: i64,
    },
}

#[derive(clap::Subcommand)]
pub enum QuarantineCommand {
    /// Lists quarantined messages, one per line: id, received at, bytes, sender, reason.
    List {
        #[command(flatten)]
        db: crate::DbArgs,
    },
    /// Releases a message: it is processed again with the limits lifted; if it still cannot be
    /// read it becomes a conversation carrying the original.
    Release {
        #[command(flatten)]
        db: crate::DbArgs,
        id: i64,
    },
}

/// Runs a `rapport mail` subcommand and prints its answer on standard output.
pub async fn run(config: Option<PathBuf>, command: MailCommand) -> anyhow::Result<()> {
    match command {
        MailCommand::Import { db, path, mailbox } => {
            let config = crate::load(config, db, None)?;
            let store = config.open_store().await?;
            let app = app::App::new(store.clone(), config.settings());
            let recipient = match mailbox {
                Some(m) => m,
                None => app
                    .mailboxes()
                    .await?
                    .first()
                    .map(|m| m.address.clone())
                    .context("no mailbox is configured; add one with `rapport mailbox add`")?,
            };
            let messages = read_messages(&path)?;
            let mut ids = Vec::new();
            for raw in messages {
                let mail = app::AcceptedMail {
                    transport: app::Transport::Import,
                    mail_from: String::new(),
                    recipients: vec![recipient.clone()],
                    raw,
                };
                ids.push(app.accept_mail(mail, crate::now_millis()).await?);
            }
            let mut counts = std::collections::BTreeMap::<String, u64>::new();
            for id in &ids {
                let outcome = app.ingest_mail(*id, crate::now_millis()).await?;
                *counts.entry(outcome).or_default() += 1;
            }
            store.close().await;
            println!(
                "{}",
                serde_json::json!({"imported": ids.len(), "outcomes": counts})
            );
            Ok(())
        }
        MailCommand::Poll { db, account } => {
            let config = crate::load(config, db, None)?;
            let mut accounts = config.imap_accounts();
            if let Some(name) = &account {
                accounts.retain(|a| &a.name == name);
            }
            if accounts.is_empty() {
                anyhow::bail!(match account {
                    Some(name) => format!("no IMAP account is named {name:?} in the configuration"),
                    None => "no IMAP account is configured; add an [[imap]] table to the config file (see README.md)".into(),
                });
            }
            let store = config.open_store().await?;
            let app = app::App::new(store.clone(), config.settings());
            let clock: imap::Clock = std::sync::Arc::new(crate::now_millis);
            let mut failed = 0;
            for account in &accounts {
                match imap::poll_once(&app, account, &clock).await {
                    Ok(report) => {
                        let mut outcomes = std::collections::BTreeMap::<String, u64>::new();
                        for id in &report.accepted {
                            let outcome = app.ingest_mail(*id, crate::now_millis()).await?;
                            *outcomes.entry(outcome).or_default() += 1;
                        }
                        println!(
                            "{}",
                            serde_json::json!({
                                "account": report.account,
                                "folder": report.folder,
                                "uid_validity": report.uid_validity,
                                "last_uid": report.last_uid,
                                "started_over": report.started_over,
                                "accepted": report.accepted.len(),
                                "outcomes": outcomes,
                                "quarantined": report.quarantined,
                                "duplicates": report.duplicates,
                                "acted_on": report.acted_on,
                                "actions_refused": report.actions_refused,
                                "vanished": report.vanished,
                            })
                        );
                    }
                    Err(e) => {
                        failed += 1;
                        println!(
                            "{}",
                            serde_json::json!({
                                "account": account.name,
                                "folder": account.folder,
                                "error": e.to_string(),
                            })
                        );
                    }
                }
            }
            store.close().await;
            if failed > 0 {
                anyhow::bail!(
                    "{failed} of {} IMAP folder(s) could not be polled",
                    accounts.len()
                );
            }
            Ok(())
        }
        MailCommand::Quarantine {
            command: QuarantineCommand::List { db },
        } => {
            let config = crate::load(config, db, None)?;
            let store = config.open_store().await?;
            let app = app::App::new(store.clone(), config.settings());
            let mut after = 0;
            loop {
                let page = app
                    .quarantine(&domain::Principal::System, after, 500)
                    .await?;
                let Some(last) = page.last() else { break };
                after = last.id;
                for m in &page {
                    let at = jiff::Timestamp::from_millisecond(m.received_at)
                        .map(|t| t.to_string())
                        .unwrap_or_default();
                    println!(
                        "{}\t{}\t{}\t{}\t{}",
                        m.id,
                        at,
                        m.size,
                        m.mail_from,
                        m.reason.as_deref().unwrap_or("")
                    );
                }
            }
            store.close().await;
            Ok(())
        }
        MailCommand::Quarantine {
            command: QuarantineCommand::Release { db, id },
        } => {
            let config = crate::load(config, db, None)?;
            let store = config.open_store().await?;
            let app = app::App::new(store.clone(), config.settings());
            app.release_quarantined(&domain::Principal::System, id, crate::now_millis())
                .await?;
            let outcome = app.ingest_mail(id, crate::now_millis()).await?;
            store.close().await;
            println!("{outcome}");
            Ok(())
        }
        MailCommand::Reparse { db, id } => {
            let config = crate::load(config, db, None)?;
            let store = config.open_store().await?;
            let row = store
                .inbound_mail(id)
                .await?
                .with_context(|| format!("there is no inbound message {id}"))?;
            let raw = store
                .blob(&row.raw_sha256)
                .await?
                .with_context(|| format!("the raw bytes of inbound message {id} are missing"))?;
            let own = store
                .mailboxes()
                .await?
                .into_iter()
                .map(|m| m.address)
                .collect();
            store.close().await;
            let options = mail::ReadOptions {
                own_addresses: own,
                ..mail::ReadOptions::default()
            };
            println!(
                "{}",
                serde_json::to_string_pretty(&mail::describe(&raw, &options))?
            );
            Ok(())
        }
        MailCommand::Parse {
            file,
            own_addresses,
        } => {
            let raw = if file.as_os_str() == "-" {
                let mut raw = Vec::new();
                std::io::stdin()
                    .read_to_end(&mut raw)
                    .context("could not read the message from standard input")?;
                raw
            } else {
                std::fs::read(&file).with_context(|| {
                    format!("could not read the message file {}", file.display())
                })?
            };
            let options = mail::ReadOptions {
                own_addresses,
                ..mail::ReadOptions::default()
            };
            let answer = mail::describe(&raw, &options);
            println!("{}", serde_json::to_string_pretty(&answer)?);
            Ok(())
        }
    }
}

/// The messages in an .eml file, an mbox file, a Maildir (`cur/`, `new/`) or a folder of files.
fn read_messages(path: &std::path::Path) -> anyhow::Result<Vec<Vec<u8>>> {
    if path.is_dir() {
        let mut files = Vec::new();
        let maildir = path.join("cur").is_dir() || path.join("new").is_dir();
        let folders: Vec<PathBuf> = if maildir {
            vec![path.join("cur"), path.join("new")]
        } else {
            vec![path.to_path_buf()]
        };
        for folder in folders.iter().filter(|f| f.is_dir()) {
            for entry in std::fs::read_dir(folder)
                .with_context(|| format!("cannot read {}", folder.display()))?
            {
                let entry = entry?;
                if entry.file_type()?.is_file() {
                    files.push(entry.path());
                }
            }
        }
        files.sort();
        let mut messages = Vec::new();
        for file in files {
            messages.extend(read_messages(&file)?);
        }
        return Ok(messages);
    }
    let raw = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if raw.starts_with(b"From ") {
        // mbox: messages start at lines beginning with "From "; ">From " lines are unquoted.
        let mut messages = Vec::new();
        let mut current: Vec<u8> = Vec::new();
        for line in raw.split_inclusive(|&b| b == b'\n') {
            if line.starts_with(b"From ") {
                if !current.is_empty() {
                    messages.push(std::mem::take(&mut current));
                }
                continue;
            }
            let unquoted = line.strip_prefix(b">").filter(|rest| {
                let stripped = rest
                    .iter()
                    .skip_while(|&&b| b == b'>')
                    .copied()
                    .collect::<Vec<u8>>();
                stripped.starts_with(b"From ")
            });
            current.extend_from_slice(unquoted.unwrap_or(line));
        }
        if !current.is_empty() {
            messages.push(current);
        }
        Ok(messages)
    } else {
        Ok(vec![raw])
    }
}
