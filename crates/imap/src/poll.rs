//! Draining a folder, and staying on it: IDLE where offered, polling otherwise, reconnecting
//! with backoff after any error.

use std::collections::{HashMap, HashSet};

use app::{App, ImapFolder, ImapMessage};
use async_imap::types::UnsolicitedResponse;
use futures_util::TryStreamExt;
use tokio::sync::watch;

use crate::connect::{imap_error, open, within, ImapSession};
use crate::plan::{self, Step};
use crate::utf7;
use crate::{Account, AfterAction, Clock, Error, Result};

/// What one drain of a folder did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PollReport {
    pub account: String,
    pub folder: String,
    pub uid_validity: i64,
    /// The cursor afterwards: every message up to this UID is taken.
    pub last_uid: i64,
    /// The folder had no cursor yet or a new UIDVALIDITY, and was read from the start.
    pub started_over: bool,
    /// Inbound ids of the messages taken in (each is processed by a `mail.ingest` job).
    pub accepted: Vec<i64>,
    /// Inbound ids of quarantine entries (too large to fetch, or fetching kept failing).
    pub quarantined: Vec<i64>,
    /// Messages taken before, seen again and not accepted twice.
    pub duplicates: usize,
    /// Messages the action (seen, move, delete) was applied to.
    pub acted_on: usize,
    /// Messages taken in whose action the server refused (or could not do: the folder was
    /// opened read-only). Their action stays pending and is tried again at the next drain.
    pub actions_refused: usize,
    /// Messages that vanished from the folder between listing and fetching.
    pub vanished: usize,
}

impl PollReport {
    fn is_empty(&self) -> bool {
        self.accepted.is_empty()
            && self.quarantined.is_empty()
            && self.duplicates == 0
            && self.acted_on == 0
            && self.actions_refused == 0
            && self.vanished == 0
    }
}

/// Connects once, drains the folder, applies the actions and signs out (`rapport mail poll`).
/// Refused with [`Error::Leased`] while another poller (another node) holds the folder.
pub async fn poll_once(app: &App, account: &Account, clock: &Clock) -> Result<PollReport> {
    let mut poller = Poller::new(app, account, clock);
    poller.keep_lease().await?;
    let result = async {
        let mut connection = poller.connect().await?;
        let (report, _) = poller.drain(&mut connection).await?;
        connection.logout(account).await;
        Ok(report)
    }
    .await;
    poller.release_lease().await;
    result
}

/// Polls one account until `stop` turns true: take the folder's lease, connect, drain, then
/// IDLE (or sleep) and drain again, renewing the lease meanwhile; after an error, reconnect
/// with backoff. While another node holds the lease, stand by and try to take it every half
/// lease. Never returns an error: a failing account is logged and retried, and does not
/// touch the others.
pub async fn run(app: App, account: Account, clock: Clock, mut stop: watch::Receiver<bool>) {
    let mut poller = Poller::new(&app, &account, &clock);
    let mut failures = 0u32;
    let mut standing_by = false;
    loop {
        if *stop.borrow() {
            poller.release_lease().await;
            return;
        }
        let outcome = match poller.keep_lease().await {
            Ok(()) => {
                standing_by = false;
                poller.stay(&mut stop, &mut failures).await
            }
            Err(error) => Err(error),
        };
        match outcome {
            Ok(()) => {
                poller.release_lease().await;
                return;
            }
            Err(Error::Leased { .. }) => {
                if !standing_by {
                    standing_by = true;
                    tracing::info!(
                        account = %account.name,
                        folder = %account.folder,
                        "another poller holds this IMAP folder; standing by"
                    );
                }
                failures = 0;
                tokio::select! {
                    _ = stop.changed() => return,
                    _ = tokio::time::sleep((account.limits.lease / 2).max(std::time::Duration::from_millis(100))) => {}
                }
            }
            Err(error) => {
                // Another node may fare better meanwhile.
                poller.release_lease().await;
                let wait = plan::backoff(failures, &account.limits);
                failures = failures.saturating_add(1);
                tracing::warn!(
                    account = %account.name,
                    folder = %account.folder,
                    %error,
                    retry_in_seconds = wait.as_secs(),
                    "IMAP polling failed; will reconnect"
                );
                tokio::select! {
                    _ = stop.changed() => return,
                    _ = tokio::time::sleep(wait) => {}
                }
            }
        }
    }
}

/// What the server offers that changes how we work.
#[derive(Debug, Clone, Copy)]
struct Offers {
    idle: bool,
    mv: bool,
    uidplus: bool,
}

struct Connection {
    session: ImapSession,
    offers: Offers,
    /// Untagged responses outside any command: an EXISTS among them means new mail.
    news: async_channel::Receiver<UnsolicitedResponse>,
    /// New mail announced during one of our own fetches (`uid_fetch_checked`).
    announced: bool,
}

impl Connection {
    async fn logout(mut self, account: &Account) {
        let _ = within(account.limits.command_timeout, "LOGOUT", async {
            self.session.logout().await.map_err(imap_error("LOGOUT"))
        })
        .await;
    }

    /// Empties the queue of untagged responses; whether new mail was among them.
    fn take_news(&mut self) -> bool {
        let mut new_mail = std::mem::take(&mut self.announced);
        while let Ok(response) = self.news.try_recv() {
            if matches!(
                response,
                UnsolicitedResponse::Exists(_) | UnsolicitedResponse::Recent(_)
            ) {
                new_mail = true;
            }
        }
        new_mail
    }
}

/// State that outlives a connection.
struct Poller<'a> {
    app: &'a App,
    account: &'a Account,
    clock: &'a Clock,
    /// Names this poller in the folder's lease.
    holder: String,
    /// What this poller, standing by, has seen of another's lease (see `App::hold_imap_lease`).
    lease_watch: tokio::sync::Mutex<app::LeaseWatch>,
    /// UID → failed lone fetches, read from the store at each drain: their batch failed, so
    /// they are fetched alone, and given up on after `max_fetch_failures`.
    suspects: HashMap<u32, u32>,
    /// UID → the last error fetching it (for the quarantine's reason).
    last_errors: HashMap<u32, String>,
    warned_expunge: bool,
    /// Why the selected folder cannot take the action (read-only, or the flag it needs is
    /// not kept): set at each SELECT.
    cannot_act: Option<String>,
}

impl<'a> Poller<'a> {
    fn new(app: &'a App, account: &'a Account, clock: &'a Clock) -> Poller<'a> {
        Poller {
            app,
            account,
            clock,
            holder: app::new_lease_holder(),
            lease_watch: tokio::sync::Mutex::new(app::LeaseWatch::default()),
            suspects: HashMap::new(),
            last_errors: HashMap::new(),
            warned_expunge: false,
            cannot_act: None,
        }
    }

    /// Takes or renews the folder's lease; [`Error::Leased`] while another poller holds it.
    async fn keep_lease(&self) -> Result<()> {
        let millis = i64::try_from(self.account.limits.lease.as_millis())
            .unwrap_or(i64::MAX)
            .max(1);
        let mut watch = self.lease_watch.lock().await;
        let held = self
            .app
            .hold_imap_lease(
                &self.account.name,
                &self.account.folder,
                &self.holder,
                &mut watch,
                self.now(),
                millis,
            )
            .await?;
        if held {
            Ok(())
        } else {
            Err(Error::Leased {
                account: self.account.name.clone(),
                folder: self.account.folder.clone(),
            })
        }
    }

    /// Ticks every third of the lease, first after one third: when to renew it while waiting.
    fn lease_renewal(&self) -> tokio::time::Interval {
        let mut keep = tokio::time::interval(
            (self.account.limits.lease / 3).max(std::time::Duration::from_millis(100)),
        );
        keep.reset();
        keep
    }

    /// Gives the lease up so another node can take over at once (a failure only delays that
    /// until the lease runs out).
    async fn release_lease(&self) {
        if let Err(error) = self
            .app
            .release_imap_lease(&self.account.name, &self.account.folder, &self.holder)
            .await
        {
            tracing::warn!(account = %self.account.name, folder = %self.account.folder, %error, "could not give up the IMAP lease; it runs out by itself");
        }
    }

    /// Remembers a failed fetch in the store, so that a restart or another node goes on
    /// counting (a failure to remember is logged: the fetch's own error is what matters).
    async fn record_fetch_failure(
        &mut self,
        folder: &ImapFolder,
        uids: &[u32],
        counted: bool,
        error: &Error,
    ) {
        let ids: Vec<i64> = uids.iter().map(|&uid| i64::from(uid)).collect();
        let text = error.to_string();
        for uid in uids {
            let failures = self.suspects.entry(*uid).or_insert(0);
            if counted {
                *failures = failures.saturating_add(1);
            }
            self.last_errors.insert(*uid, text.clone());
        }
        if let Err(e) = self
            .app
            .record_imap_fetch_failure(folder, &ids, counted, &text, self.now())
            .await
        {
            tracing::warn!(account = %folder.account, folder = %folder.folder, error = %e, "could not record a failed IMAP fetch");
        }
    }

    fn now(&self) -> i64 {
        (self.clock)()
    }

    fn limit(&self) -> std::time::Duration {
        self.account.limits.command_timeout
    }

    /// Connects until stopped (Ok) or an error (to reconnect after).
    async fn stay(&mut self, stop: &mut watch::Receiver<bool>, failures: &mut u32) -> Result<()> {
        let mut connection = self.connect().await?;
        tracing::info!(
            account = %self.account.name,
            folder = %self.account.folder,
            idle = connection.offers.idle,
            "IMAP connected"
        );
        loop {
            let (report, more) = self.drain(&mut connection).await?;
            *failures = 0;
            if !report.is_empty() {
                tracing::info!(
                    account = %report.account,
                    folder = %report.folder,
                    accepted = report.accepted.len(),
                    quarantined = report.quarantined.len(),
                    duplicates = report.duplicates,
                    vanished = report.vanished,
                    last_uid = report.last_uid,
                    "IMAP mail taken in"
                );
            }
            if more {
                continue;
            }
            if !connection.offers.idle {
                // Wait for the next poll, renewing the lease meanwhile.
                let next_poll = tokio::time::sleep(self.account.poll_interval);
                tokio::pin!(next_poll);
                let mut keep = self.lease_renewal();
                loop {
                    tokio::select! {
                        _ = stop.changed() => {
                            connection.logout(self.account).await;
                            return Ok(());
                        }
                        _ = &mut next_poll => break,
                        _ = keep.tick() => {
                            if let Err(error) = self.keep_lease().await {
                                connection.logout(self.account).await;
                                return Err(error);
                            }
                        }
                    }
                }
                continue;
            }
            let Connection {
                session,
                offers,
                news,
                announced: _,
            } = connection;
            let mut idle = session.idle();
            within(self.limit(), "IDLE", async {
                idle.init().await.map_err(imap_error("IDLE"))
            })
            .await?;
            let mut stopped = false;
            // New mail announced just before IDLE began needs no waiting.
            let announced = {
                let mut any = false;
                while let Ok(response) = news.try_recv() {
                    any |= matches!(
                        response,
                        UnsolicitedResponse::Exists(_) | UnsolicitedResponse::Recent(_)
                    );
                }
                any
            };
            let mut lost_lease = None;
            if !announced {
                // The library's own timeout restarts on every keep-alive, so ours bounds it.
                let (wait, _interrupt) = idle.wait_with_timeout(self.account.limits.idle_renew);
                tokio::pin!(wait);
                let renew = tokio::time::sleep(self.account.limits.idle_renew);
                tokio::pin!(renew);
                let mut keep = self.lease_renewal();
                loop {
                    tokio::select! {
                        woke = &mut wait => {
                            woke.map_err(imap_error("IDLE"))?;
                            break;
                        }
                        _ = &mut renew => break,
                        _ = stop.changed() => {
                            stopped = true;
                            break;
                        }
                        _ = keep.tick() => {
                            if let Err(error) = self.keep_lease().await {
                                lost_lease = Some(error);
                                break;
                            }
                        }
                    }
                }
            }
            let session = within(self.limit(), "DONE", async {
                idle.done().await.map_err(imap_error("DONE"))
            })
            .await?;
            connection = Connection {
                session,
                offers,
                news,
                announced: false,
            };
            if stopped {
                connection.logout(self.account).await;
                return Ok(());
            }
            if let Some(error) = lost_lease {
                connection.logout(self.account).await;
                return Err(error);
            }
        }
    }

    /// Connects, signs in, learns what the server offers, and checks the setup: the support
    /// address is configured, and the folder to move to exists (it is created if not).
    async fn connect(&mut self) -> Result<Connection> {
        let mailboxes = self.app.mailboxes().await?;
        let wanted = app::mailbox_of(&self.account.mailbox);
        if !mailboxes.iter().any(|m| m.address == wanted) {
            return Err(Error::Setup(format!(
                "mailbox {wanted} (IMAP account {}) is not configured; add it with `rapport mailbox add --address {wanted}`",
                self.account.name
            )));
        }
        let mut session = open(self.account).await?;
        let capabilities = within(self.limit(), "CAPABILITY", async {
            session
                .capabilities()
                .await
                .map_err(imap_error("CAPABILITY"))
        })
        .await?;
        let offers = Offers {
            idle: capabilities.has_str("IDLE"),
            mv: capabilities.has_str("MOVE"),
            uidplus: capabilities.has_str("UIDPLUS"),
        };
        if let AfterAction::Move(target) = &self.account.after {
            let wire = utf7::encode(target);
            let pattern = quoted(&wire);
            let exists = within(self.limit(), "LIST", async {
                let names: Vec<_> = session
                    .list(Some(""), Some(&pattern))
                    .await
                    .map_err(imap_error("LIST"))?
                    .try_collect()
                    .await
                    .map_err(imap_error("LIST"))?;
                Ok(names.iter().any(|n| {
                    n.name() == wire || utf7::decode(n.name()).is_ok_and(|name| name == *target)
                }))
            })
            .await?;
            if !exists {
                tracing::info!(account = %self.account.name, folder = %target, "creating the IMAP folder processed mail moves to");
                within(self.limit(), "CREATE", async {
                    session.create(&wire).await.map_err(imap_error("CREATE"))
                })
                .await?;
            }
        }
        let news = session.unsolicited_responses.clone();
        Ok(Connection {
            session,
            offers,
            news,
            announced: false,
        })
    }

    /// Selects the folder and takes everything new: first the actions a stop left pending,
    /// then the new messages, batch by batch, each durable before its action. Returns what it
    /// did, and whether new mail was announced meanwhile (drain again at once).
    async fn drain(&mut self, connection: &mut Connection) -> Result<(PollReport, bool)> {
        let account = self.account;
        let folder_name = account.folder.as_str();
        let wire_name = utf7::encode(folder_name);
        self.keep_lease().await?;
        let mailbox = within(self.limit(), "SELECT", async {
            select_checked(connection, &wire_name).await
        })
        .await?;
        connection.take_news();
        self.cannot_act = mailbox.cannot_act(&account.after, connection.offers);
        let uid_validity = i64::from(mailbox.uid_validity.ok_or_else(|| {
            Error::Server(format!(
                "the server did not report the UIDVALIDITY of {folder_name}"
            ))
        })?);
        let folder = ImapFolder {
            account: account.name.clone(),
            folder: account.folder.clone(),
            uid_validity,
        };
        let mut report = PollReport {
            account: account.name.clone(),
            folder: account.folder.clone(),
            uid_validity,
            ..PollReport::default()
        };
        let last_uid = match self.app.imap_cursor(&account.name, folder_name).await? {
            Some((known, last)) if known == uid_validity => last,
            previous => {
                if let Some((old, _)) = previous {
                    tracing::warn!(
                        account = %account.name,
                        folder = %folder_name,
                        old_uid_validity = old,
                        uid_validity,
                        "the folder's UIDVALIDITY changed: reading it again (messages taken before are recognised and not taken twice)"
                    );
                }
                self.app.reset_imap_cursor(&folder, self.now()).await?;
                report.started_over = true;
                0
            }
        };
        report.last_uid = last_uid;
        self.suspects.clear();
        self.last_errors.clear();
        for (uid, (failures, error)) in self.app.imap_fetch_failures(&folder).await? {
            if let Ok(uid) = u32::try_from(uid) {
                self.suspects
                    .insert(uid, u32::try_from(failures).unwrap_or(u32::MAX));
                self.last_errors.insert(uid, error);
            }
        }

        // Actions that a stop between commit and action left undone.
        loop {
            let pending = self.app.imap_pending_actions(&folder, 500).await?;
            let uids: Vec<u32> = pending
                .iter()
                .filter_map(|&uid| u32::try_from(uid).ok())
                .collect();
            let (Some(&first), Some(&last)) = (pending.first(), pending.last()) else {
                break;
            };
            match self.act(connection, &uids).await {
                Ok(()) => {}
                Err(error @ Error::Refused { .. }) => {
                    // Left pending; the new mail is still taken in (and its actions tried).
                    self.warn_refused(&error, uids.len());
                    report.actions_refused += uids.len();
                    break;
                }
                Err(error) => return Err(error),
            }
            self.app.imap_actions_done(&folder, first, last).await?;
            report.acted_on += uids.len();
            if pending.len() < 500 {
                break;
            }
        }

        let has_new = match mailbox.uid_next {
            Some(next) => i64::from(next) > last_uid + 1,
            None => mailbox.exists > 0,
        };
        let mut more = false;
        if has_new && last_uid < i64::from(u32::MAX) {
            let sizes = self.sizes(connection, last_uid).await?;
            let size_of: HashMap<u32, u64> = sizes.iter().copied().collect();
            for step in plan::plan(&sizes, &account.limits, &self.suspects) {
                self.take(connection, &folder, &step, &size_of, &mut report)
                    .await?;
                more |= connection.take_news();
            }
        }
        more |= connection.take_news();
        Ok((report, more))
    }

    /// The UIDs and sizes of the messages above the cursor.
    async fn sizes(&self, connection: &mut Connection, last_uid: i64) -> Result<Vec<(u32, u64)>> {
        let from = last_uid + 1;
        within(self.limit(), "UID FETCH (RFC822.SIZE)", async {
            let fetches =
                uid_fetch_checked(connection, &format!("{from}:*"), "(UID RFC822.SIZE)").await?;
            Ok(fetches
                .iter()
                .map(|f| (f.uid, u64::from(f.size.unwrap_or(0))))
                .filter(|&(uid, _)| i64::from(uid) > last_uid)
                .collect())
        })
        .await
    }

    /// One step: fetch, accept durably with the cursor, then act on the server.
    async fn take(
        &mut self,
        connection: &mut Connection,
        folder: &ImapFolder,
        step: &Step,
        size_of: &HashMap<u32, u64>,
        report: &mut PollReport,
    ) -> Result<()> {
        let uids = step.uids();
        let Some(&last) = uids.iter().max() else {
            return Ok(());
        };
        self.keep_lease().await?;
        let messages = match step {
            Step::Fetch(uids) => {
                let bytes: u64 = uids.iter().filter_map(|u| size_of.get(u)).sum();
                match self.fetch_whole(connection, uids, bytes).await {
                    Ok(messages) => messages,
                    Err(error) => {
                        // Fetch the batch's messages alone from now on, and count the
                        // failures of a lone one, so that one bad message cannot stall the rest.
                        self.record_fetch_failure(folder, uids, uids.len() == 1, &error)
                            .await;
                        return Err(error);
                    }
                }
            }
            Step::TooLarge { uid, size } => {
                let reason = format!(
                    "the message is {size} bytes, over the limit of {} (max_message_bytes); it was not fetched and stays in folder {} of IMAP account {} (UIDVALIDITY {}, UID {uid}); only its header is kept here",
                    self.account.limits.max_message_bytes,
                    folder.folder,
                    folder.account,
                    folder.uid_validity
                );
                self.fetch_header_for_quarantine(connection, folder, *uid, reason)
                    .await?
            }
            Step::GaveUp { uid, failures } => {
                let last_error = self
                    .last_errors
                    .get(uid)
                    .map(|e| format!(" (the last time: {e})"))
                    .unwrap_or_default();
                let reason = format!(
                    "fetching the message failed {failures} times{last_error}; it stays in folder {} of IMAP account {} (UIDVALIDITY {}, UID {uid}); only its header is kept here",
                    folder.folder, folder.account, folder.uid_validity
                );
                self.fetch_header_for_quarantine(connection, folder, *uid, reason)
                    .await?
            }
        };
        let fetched: HashSet<u32> = messages
            .iter()
            .filter_map(|m| u32::try_from(m.uid).ok())
            .collect();
        let vanished = uids.iter().filter(|u| !fetched.contains(u)).count();
        if vanished > 0 {
            tracing::info!(account = %folder.account, folder = %folder.folder, vanished, "messages left the folder before they could be fetched");
        }
        let to_act: Vec<u32> = messages
            .iter()
            .filter(|m| m.quarantine.is_none())
            .filter_map(|m| u32::try_from(m.uid).ok())
            .collect();
        let outcome = self
            .app
            .accept_imap_batch(
                folder,
                &self.account.mailbox,
                messages,
                i64::from(last),
                self.now(),
            )
            .await?;
        for uid in &uids {
            self.suspects.remove(uid);
        }
        report.last_uid = i64::from(last);
        report.vanished += vanished;
        report.duplicates += outcome.duplicates;
        report.accepted.extend(outcome.accepted);
        report.quarantined.extend(outcome.quarantined);
        if let (Some(&first), Some(&last)) = (to_act.iter().min(), to_act.iter().max()) {
            match self.act(connection, &to_act).await {
                Ok(()) => {
                    self.app
                        .imap_actions_done(folder, i64::from(first), i64::from(last))
                        .await?;
                    report.acted_on += to_act.len();
                }
                // Taken in, but not done on the server: the action stays pending (tried
                // again at the next drain), and the next batches still come in.
                Err(error @ Error::Refused { .. }) => {
                    self.warn_refused(&error, to_act.len());
                    report.actions_refused += to_act.len();
                }
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }

    /// Fetches whole messages without setting \Seen (the action does that, once durable).
    async fn fetch_whole(
        &self,
        connection: &mut Connection,
        uids: &[u32],
        bytes: u64,
    ) -> Result<Vec<ImapMessage>> {
        let wanted: HashSet<u32> = uids.iter().copied().collect();
        let set = plan::uid_set(uids);
        within(
            plan::fetch_timeout(bytes, &self.account.limits),
            "UID FETCH (BODY.PEEK[])",
            async {
                let fetches = uid_fetch_checked(connection, &set, "(UID BODY.PEEK[])").await?;
                let mut messages: Vec<ImapMessage> = fetches
                    .into_iter()
                    .filter_map(|f| {
                        let uid = Some(f.uid).filter(|u| wanted.contains(u))?;
                        let raw = f.section?;
                        Some(ImapMessage {
                            uid: i64::from(uid),
                            mail_from: plan::return_path(&raw),
                            raw,
                            quarantine: None,
                        })
                    })
                    .collect();
                messages.sort_by_key(|m| m.uid);
                messages.dedup_by_key(|m| m.uid);
                Ok(messages)
            },
        )
        .await
    }

    /// The quarantine entry of a message that is not fetched whole: its header (at most
    /// 256 KiB of it), or, when even that cannot be had, a note naming where it is.
    async fn fetch_header_for_quarantine(
        &mut self,
        connection: &mut Connection,
        folder: &ImapFolder,
        uid: u32,
        reason: String,
    ) -> Result<Vec<ImapMessage>> {
        const HEADER_BYTES: u64 = 256 * 1024;
        let header_failures = self.suspects.get(&uid).copied().unwrap_or(0);
        let hopeless = header_failures >= 2 * self.account.limits.max_fetch_failures.max(1);
        let header = if hopeless {
            None
        } else {
            let fetched = within(
                plan::fetch_timeout(HEADER_BYTES, &self.account.limits),
                "UID FETCH (BODY.PEEK[HEADER])",
                async {
                    let fetches = uid_fetch_checked(
                        connection,
                        &uid.to_string(),
                        &format!("(UID BODY.PEEK[HEADER]<0.{HEADER_BYTES}>)"),
                    )
                    .await?;
                    Ok(fetches
                        .into_iter()
                        .find(|f| f.uid == uid)
                        .map(|f| f.section.unwrap_or_default()))
                },
            )
            .await;
            match fetched {
                Ok(None) => return Ok(Vec::new()), // gone from the folder
                Ok(Some(header)) => Some(header),
                Err(error) => {
                    self.record_fetch_failure(folder, &[uid], true, &error)
                        .await;
                    return Err(error);
                }
            }
        };
        let (raw, reason) = match header {
            Some(header) => (header, reason),
            None => (
                format!(
                    "X-Rapport-Imap-Account: {}\r\nX-Rapport-Imap-Folder: {}\r\nX-Rapport-Imap-Uid: {} {uid}\r\n\r\n",
                    folder.account, folder.folder, folder.uid_validity
                )
                .into_bytes(),
                format!("{reason} (not even the header could be fetched; this entry only names the message)"),
            ),
        };
        Ok(vec![ImapMessage {
            uid: i64::from(uid),
            mail_from: plan::return_path(&raw),
            raw,
            quarantine: Some(reason),
        }])
    }

    fn warn_refused(&self, error: &Error, messages: usize) {
        tracing::warn!(
            account = %self.account.name,
            folder = %self.account.folder,
            messages,
            %error,
            "the IMAP server did not take the action on mail already taken in; it stays pending and is tried again at the next poll"
        );
    }

    /// Applies the configured action to messages that are durably taken in. Every command
    /// is checked to its tagged answer: a NO or BAD (or a folder opened read-only, where a
    /// server may answer OK and do nothing) is [`Error::Refused`], and the action stays
    /// pending.
    async fn act(&mut self, connection: &mut Connection, uids: &[u32]) -> Result<()> {
        if uids.is_empty() {
            return Ok(());
        }
        if let Some(reason) = &self.cannot_act {
            return Err(Error::Refused {
                command: "the action".into(),
                answer: reason.clone(),
            });
        }
        let set = plan::uid_set(uids);
        let offers = connection.offers;
        match &self.account.after {
            AfterAction::Seen => self.store_flag(connection, &set, "\\Seen").await,
            AfterAction::Delete => {
                self.store_flag(connection, &set, "\\Deleted").await?;
                self.expunge(connection, &set, offers).await
            }
            AfterAction::Move(target) if offers.mv => {
                within(self.limit(), "UID MOVE", async {
                    connection
                        .session
                        .uid_mv(&set, utf7::encode(target))
                        .await
                        .map_err(refused_or_failed("UID MOVE"))
                })
                .await
            }
            AfterAction::Move(target) => {
                within(self.limit(), "UID COPY", async {
                    connection
                        .session
                        .uid_copy(&set, utf7::encode(target))
                        .await
                        .map_err(refused_or_failed("UID COPY"))
                })
                .await?;
                self.store_flag(connection, &set, "\\Deleted").await?;
                self.expunge(connection, &set, offers).await
            }
        }
    }

    async fn store_flag(&self, connection: &mut Connection, set: &str, flag: &str) -> Result<()> {
        let command = format!("UID STORE {set} +FLAGS.SILENT ({flag})");
        within(self.limit(), "UID STORE", async {
            command_checked(connection, &command, "UID STORE").await
        })
        .await
    }

    /// Removes the \Deleted messages of `set`: exactly those with UIDPLUS; without it, plain
    /// EXPUNGE also removes whatever else in the folder is marked \Deleted.
    async fn expunge(
        &mut self,
        connection: &mut Connection,
        set: &str,
        offers: Offers,
    ) -> Result<()> {
        if offers.uidplus {
            let command = format!("UID EXPUNGE {set}");
            return within(self.limit(), "UID EXPUNGE", async {
                command_checked(connection, &command, "UID EXPUNGE").await
            })
            .await;
        }
        if !self.warned_expunge {
            self.warned_expunge = true;
            tracing::warn!(account = %self.account.name, "the server lacks UIDPLUS: EXPUNGE removes every message marked \\Deleted in the folder");
        }
        within(self.limit(), "EXPUNGE", async {
            command_checked(connection, "EXPUNGE", "EXPUNGE").await
        })
        .await
    }
}

/// A folder name as an IMAP quoted string.
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A NO or BAD from the server is a refusal ([`Error::Refused`]); anything else a failure.
fn refused_or_failed(command: &str) -> impl FnOnce(async_imap::error::Error) -> Error + '_ {
    move |source| match source {
        async_imap::error::Error::No(answer) | async_imap::error::Error::Bad(answer) => {
            Error::Refused {
                command: command.to_string(),
                answer,
            }
        }
        source => imap_error(command)(source),
    }
}

/// Runs a command that changes the folder (UID STORE, UID EXPUNGE, EXPUNGE) and reads to its
/// tagged answer, which must be OK: a NO or BAD is [`Error::Refused`]. (async-imap's streams
/// for these commands end at the tagged answer whatever it says, so a refused \Seen, \Deleted
/// or expunge would look done.) An untagged EXISTS or RECENT on the way is remembered as news.
async fn command_checked(connection: &mut Connection, command: &str, name: &str) -> Result<()> {
    run_to_end(connection, command, name, true, |_| {})
        .await?
        .map(|_| ())
        .map_err(|answer| Error::Refused {
            command: command.to_string(),
            answer,
        })
}

/// Sends `command` and reads to its tagged answer, handing every other response to `each`.
/// Answers `Ok(read_only)` when the server said OK (`read_only`: its code was
/// `[READ-ONLY]`), `Err(the server's words)` for a NO or BAD. With `announce`, an untagged
/// EXISTS or RECENT on the way is remembered as news. (async-imap's own streams end at the
/// tagged answer whatever it says, so a refusal would look like success.)
async fn run_to_end(
    connection: &mut Connection,
    command: &str,
    name: &str,
    announce: bool,
    mut each: impl FnMut(&async_imap::imap_proto::Response<'_>),
) -> Result<std::result::Result<bool, String>> {
    use async_imap::imap_proto::{MailboxDatum, Response, ResponseCode, Status};
    let tag = connection
        .session
        .run_command(command)
        .await
        .map_err(imap_error(name))?;
    loop {
        let response = connection
            .session
            .read_response()
            .await
            .map_err(|e| imap_error(name)(e.into()))?
            .ok_or_else(|| {
                Error::Server(format!("the server closed the connection during {command}"))
            })?;
        match response.parsed() {
            Response::Done {
                tag: done,
                status,
                outcome,
            } if *done == tag => {
                return Ok(match status {
                    Status::Ok => Ok(matches!(outcome.code, Some(ResponseCode::ReadOnly))),
                    other => Err(format!(
                        "{other:?} {}",
                        outcome.information.as_deref().unwrap_or("")
                    )
                    .trim()
                    .to_string()),
                });
            }
            Response::MailboxData(MailboxDatum::Exists(_) | MailboxDatum::Recent(_))
                if announce =>
            {
                connection.announced = true;
                each(response.parsed());
            }
            parsed => each(parsed),
        }
    }
}

/// What a SELECT told about the folder.
#[derive(Debug, Default)]
struct Selected {
    exists: u32,
    uid_validity: Option<u32>,
    uid_next: Option<u32>,
    /// `None`: the server named none (then every flag of FLAGS is kept, RFC 3501).
    permanent_flags: Option<Vec<String>>,
    /// The tagged OK said `[READ-ONLY]`.
    read_only: bool,
}

impl Selected {
    /// Why the configured action cannot be done in this folder, if it cannot: a read-only
    /// folder (a server may answer OK to STORE or EXPUNGE there and do nothing, as Dovecot
    /// does), or a flag the action needs that the folder does not keep.
    fn cannot_act(&self, after: &AfterAction, offers: Offers) -> Option<String> {
        if self.read_only {
            return Some("the server opened the folder read-only ([READ-ONLY])".into());
        }
        let needed = match after {
            AfterAction::Seen => "\\Seen",
            AfterAction::Delete => "\\Deleted",
            AfterAction::Move(_) if offers.mv => return None,
            AfterAction::Move(_) => "\\Deleted",
        };
        let flags = self.permanent_flags.as_ref()?;
        let kept = flags
            .iter()
            .any(|f| f == "\\*" || f.eq_ignore_ascii_case(needed));
        (!kept).then(|| {
            format!(
                "the folder does not keep the {needed} flag (PERMANENTFLAGS ({}))",
                flags.join(" ")
            )
        })
    }
}

/// `SELECT folder`, read to its tagged answer (async-imap's own select drops `[READ-ONLY]`
/// and cannot tell an empty PERMANENTFLAGS from none). A NO or BAD is an error.
async fn select_checked(connection: &mut Connection, wire_name: &str) -> Result<Selected> {
    use async_imap::imap_proto::{MailboxDatum, Response, ResponseCode};
    let command = format!("SELECT {}", quoted(wire_name));
    let mut selected = Selected::default();
    let ended = run_to_end(
        connection,
        &command,
        "SELECT",
        false,
        |parsed| match parsed {
            Response::MailboxData(MailboxDatum::Exists(n)) => selected.exists = *n,
            Response::Data { outcome, .. } => match &outcome.code {
                Some(ResponseCode::UidValidity(v)) => selected.uid_validity = Some(*v),
                Some(ResponseCode::UidNext(n)) => selected.uid_next = Some(*n),
                Some(ResponseCode::PermanentFlags(flags)) => {
                    selected.permanent_flags = Some(flags.iter().map(|f| f.to_string()).collect());
                }
                _ => {}
            },
            _ => {}
        },
    )
    .await?;
    match ended {
        Ok(read_only) => {
            selected.read_only = read_only;
            Ok(selected)
        }
        Err(answer) => Err(Error::Server(format!(
            "{command} failed: the server answered {answer}"
        ))),
    }
}

/// One message's answer to a UID FETCH.
struct Fetched {
    uid: u32,
    size: Option<u32>,
    /// The first body section's bytes (`BODY[]`, `BODY[HEADER]<0.N>`), if asked for.
    section: Option<Vec<u8>>,
}

/// `UID FETCH set items`, read to its tagged answer, which must be OK. (async-imap's own fetch
/// stream ends at the tagged answer whatever it says, so a FETCH the server failed, with NO
/// or BAD, would look like messages that vanished, and the cursor would pass them.) An
/// untagged EXISTS or RECENT on the way is remembered as news.
async fn uid_fetch_checked(
    connection: &mut Connection,
    set: &str,
    items: &str,
) -> Result<Vec<Fetched>> {
    use async_imap::imap_proto::{AttributeValue, Response};
    let command = format!("UID FETCH {set} {items}");
    let mut fetched = Vec::new();
    let ended = run_to_end(connection, &command, "UID FETCH", true, |parsed| {
        if let Response::Fetch(_, attributes) = parsed {
            let mut uid = None;
            let mut size = None;
            let mut section = None;
            for attribute in attributes {
                match attribute {
                    AttributeValue::Uid(u) => uid = Some(*u),
                    AttributeValue::Rfc822Size(n) => size = Some(*n),
                    AttributeValue::BodySection { data, .. } if section.is_none() => {
                        section = Some(data.as_deref().unwrap_or_default().to_vec());
                    }
                    _ => {}
                }
            }
            // A FETCH without UID is a flag change someone else made: not ours.
            if let Some(uid) = uid {
                fetched.push(Fetched { uid, size, section });
            }
        }
    })
    .await?;
    match ended {
        Ok(_) => Ok(fetched),
        Err(answer) => Err(Error::Server(format!(
            "UID FETCH {set} {items} failed: the server answered {answer}"
        ))),
    }
}
