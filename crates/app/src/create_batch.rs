//! Opening conversations together: the group commit of conversation creates on PostgreSQL.
//!
//! On PostgreSQL what a create costs is mostly per statement (a round trip, a plan to start
//! and end), not per row: opening 16 conversations with one statement per table took a sixth
//! of the database's time of opening them one by one. So creates that arrive while others
//! are being written queue up, and a runner opens everything queued in one transaction:
//! every address looked up in one statement, each customer found or created as
//! [`App::create_alone`] does, then every conversation with
//! its tags and first message in one statement ([`store::Tx::insert_conversation_bundles`]),
//! then the events, sent with the COMMIT. Nobody waits for a batch to fill: a runner takes what
//! is queued when it is free, so one lone create is a batch of one.
//!
//! Each caller is answered after the COMMIT, so an answer still means "durable". If anything
//! fails before the COMMIT, the transaction is rolled back and every member is opened again,
//! alone, so one bad member costs the others only time. If the COMMIT itself fails, its
//! outcome is unknown, and each member hears so (as a lone create would).
//!
//! SQLite already shares one transaction among concurrent use cases (`store`'s group commit)
//! and its statements cost no round trip, so there creates run alone.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use domain::{EventPayload, IdentityKind, Principal};
use store::{Dialect, NewConversationBundle, NewMessage, StoreError};
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};

use crate::conversations::{
    created_event, customer_identities, customer_of, message_author_channel, new_conversation,
    new_row, NewConversationInput,
};
use crate::views::{for_viewer, view_of};
use crate::{record, App, AppError, ConversationView, Result};

/// Most conversations opened in one transaction.
const MAX_BATCH: usize = 32;
/// Batches written at once, each on a connection of its own. Half the default pool of 8, so
/// that reads always find one.
const RUNNERS: usize = 4;

/// Creates waiting for a runner.
pub(crate) struct CreateQueue {
    jobs: Mutex<VecDeque<Job>>,
    runners: Arc<Semaphore>,
}

impl Default for CreateQueue {
    fn default() -> Self {
        CreateQueue {
            jobs: Mutex::default(),
            runners: Arc::new(Semaphore::new(RUNNERS)),
        }
    }
}

impl CreateQueue {
    fn push(&self, job: Job) {
        self.jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back(job);
    }

    fn take(&self, most: usize) -> Vec<Job> {
        let mut jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        let n = jobs.len().min(most);
        jobs.drain(..n).collect()
    }

    fn is_empty(&self) -> bool {
        self.jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
    }
}

/// A create, checked, with where its answer goes.
struct Job {
    by: Principal,
    input: NewConversationInput,
    subject: String,
    tags: Vec<String>,
    now: i64,
    reply: oneshot::Sender<Result<ConversationView>>,
}

/// Why a batch did not commit.
enum Failure {
    /// Nothing was written: open each member alone. Why (for one of them, at least).
    RolledBack(AppError),
    /// The COMMIT failed: nobody knows whether it was written.
    Commit(StoreError),
}

impl App {
    /// Whether creates are opened together ([`crate::create_batch`]).
    pub(crate) fn opens_together(&self) -> bool {
        self.store.dialect() == Dialect::Postgres
    }

    /// Queues a checked create and waits until the runner that took it has committed it.
    pub(crate) async fn create_queued(
        &self,
        by: &Principal,
        input: NewConversationInput,
        subject: String,
        tags: Vec<String>,
        now: i64,
    ) -> Result<ConversationView> {
        let (reply, answer) = oneshot::channel();
        self.create_queue.push(Job {
            by: by.clone(),
            input,
            subject,
            tags,
            now,
            reply,
        });
        if let Ok(permit) = self.create_queue.runners.clone().try_acquire_owned() {
            // A task of its own: a caller that goes away (a client hanging up) must not
            // cancel a batch that holds other callers' creates.
            let app = self.clone();
            tokio::spawn(async move { app.run_create_batches(permit).await });
        }
        answer.await.unwrap_or_else(|_| {
            Err(AppError::Store(StoreError::Unknown(
                "the batch that held this conversation stopped before answering".into(),
            )))
        })
    }

    /// Writes queued creates, a batch at a time, until none is left.
    async fn run_create_batches(&self, mut permit: OwnedSemaphorePermit) {
        loop {
            let jobs = self.create_queue.take(MAX_BATCH);
            if jobs.is_empty() {
                drop(permit);
                // A create queued while every runner was busy started none: if one is
                // still waiting, this runner goes on (unless another took over meanwhile).
                if self.create_queue.is_empty() {
                    return;
                }
                match self.create_queue.runners.clone().try_acquire_owned() {
                    Ok(again) => permit = again,
                    Err(_) => return,
                }
                continue;
            }
            self.run_create_batch(jobs).await;
        }
    }

    async fn run_create_batch(&self, jobs: Vec<Job>) {
        if jobs.len() > 1 {
            let members: Vec<Member<'_>> = jobs
                .iter()
                .map(|j| Member {
                    by: &j.by,
                    input: &j.input,
                    subject: &j.subject,
                    tags: &j.tags,
                    now: j.now,
                })
                .collect();
            match self.create_together(&members).await {
                Ok(views) => {
                    for (job, view) in jobs.into_iter().zip(views) {
                        let _ = job.reply.send(Ok(for_viewer(view, &job.by)));
                    }
                    return;
                }
                Err(Failure::Commit(err)) => {
                    let reason = err.to_string();
                    let mut first = Some(err);
                    for job in jobs {
                        let err = first
                            .take()
                            .unwrap_or_else(|| StoreError::Unknown(reason.clone()));
                        let _ = job.reply.send(Err(AppError::Store(err)));
                    }
                    return;
                }
                Err(Failure::RolledBack(_)) => {}
            }
        }
        for job in jobs {
            let result = self
                .create_alone(&job.by, &job.input, &job.subject, &job.tags, None, job.now)
                .await;
            let _ = job.reply.send(result);
        }
    }

    /// Opens several conversations in one transaction: all of them, or none.
    async fn create_together(
        &self,
        members: &[Member<'_>],
    ) -> std::result::Result<Vec<ConversationView>, Failure> {
        let mut tx = self
            .store
            .begin()
            .await
            .map_err(|e| Failure::RolledBack(e.into()))?;
        let written: Result<Vec<ConversationView>> = async {
            // Every address named, looked up at once; then each member's customer found or
            // created in turn, as alone, with what earlier members added.
            let mut named = Vec::with_capacity(members.len());
            for m in members {
                named.push(match m.by {
                    Principal::Customer { .. } => Vec::new(),
                    _ => customer_identities(&m.input.customer)?,
                });
            }
            let wanted: Vec<(&str, &str)> = named
                .iter()
                .flatten()
                .map(|(kind, value)| (kind.as_str(), value.as_str()))
                .collect();
            let mut owner: HashMap<(String, String), i64> = tx
                .customers_by_identities(&wanted)
                .await?
                .into_iter()
                .map(|(kind, value, id)| ((kind, value), id))
                .collect();
            let mut rows = Vec::with_capacity(members.len());
            for (m, identities) in members.iter().zip(&named) {
                let customer_id = match m.by {
                    Principal::Customer { id } => *id,
                    _ => {
                        let key = |(kind, value): &(IdentityKind, String)| {
                            (kind.as_str().to_string(), value.clone())
                        };
                        let owners: Vec<Option<i64>> = identities
                            .iter()
                            .map(|i| owner.get(&key(i)).copied())
                            .collect();
                        let id =
                            customer_of(&mut tx, &m.input.customer, identities, &owners, m.now)
                                .await?;
                        // The addresses nobody owned are now this customer's; an address
                        // another customer owns stays theirs.
                        for (i, had) in identities.iter().zip(&owners) {
                            if had.is_none() {
                                owner.insert(key(i), id);
                            }
                        }
                        id
                    }
                };
                let mut row = new_row(m.input, m.subject, customer_id, m.now);
                // Inserted with its first message counted.
                row.message_count = 1;
                let (author, channel) =
                    message_author_channel(m.by, m.input.message.kind, &row, None);
                let html = domain::conversation::text_to_html(&m.input.message.text);
                rows.push((row, author, channel, html));
            }
            let bundles: Vec<NewConversationBundle<'_>> = members
                .iter()
                .zip(&rows)
                .map(|(m, (row, author, channel, html))| NewConversationBundle {
                    conversation: new_conversation(row),
                    tags: m.tags,
                    message: NewMessage {
                        conversation: 0,
                        kind: m.input.message.kind.as_str(),
                        channel: channel.as_str(),
                        author_kind: author.kind(),
                        author_id: author.id(),
                        body_text: &m.input.message.text,
                        body_html: html,
                        now: m.now,
                    },
                })
                .collect();
            let written = tx.insert_conversation_bundles(&bundles).await?;
            drop(bundles);
            let mut views = Vec::with_capacity(members.len());
            for ((m, (mut row, _, channel, _)), (mut detail, message_id)) in
                members.iter().zip(rows).zip(written)
            {
                row.number = detail.number;
                let actor = m.by.actor();
                let number = Some(row.number);
                record(&mut tx, number, actor, m.now, &created_event(m.input, &row)).await?;
                for tag in m.tags {
                    let added = EventPayload::TagAdded { tag: tag.clone() };
                    record(&mut tx, number, actor, m.now, &added).await?;
                }
                let message = EventPayload::MessageAdded {
                    message_id,
                    message_kind: m.input.message.kind,
                    channel,
                };
                record(&mut tx, number, actor, m.now, &message).await?;
                detail.tags = (!m.tags.is_empty()).then(|| m.tags.join(" "));
                views.push(view_of(row, &detail)?);
            }
            Ok(views)
        }
        .await;
        match written {
            Ok(views) => match tx.commit().await {
                Ok(()) => Ok(views),
                Err(err) => Err(Failure::Commit(err)),
            },
            Err(err) => {
                tracing::debug!(%err, members = members.len(), "a batch of creates is opened again one by one");
                let _ = tx.rollback().await;
                Err(Failure::RolledBack(err))
            }
        }
    }

    /// Opens several conversations in one transaction, all or none, each checked as
    /// [`App::create_conversation`] checks it; the views in the order given. For imports,
    /// and what concurrent creates share on PostgreSQL.
    pub async fn create_conversations(
        &self,
        by: &Principal,
        inputs: Vec<NewConversationInput>,
        now: i64,
    ) -> Result<Vec<ConversationView>> {
        let mut checked = Vec::with_capacity(inputs.len());
        for input in inputs {
            let (subject, tags) = self.check_new_conversation(by, &input).await?;
            checked.push((input, subject, tags));
        }
        let members: Vec<Member<'_>> = checked
            .iter()
            .map(|(input, subject, tags)| Member {
                by,
                input,
                subject,
                tags,
                now,
            })
            .collect();
        match self.create_together(&members).await {
            Ok(views) => Ok(views.into_iter().map(|v| for_viewer(v, by)).collect()),
            Err(Failure::Commit(err)) => Err(AppError::Store(err)),
            Err(Failure::RolledBack(err)) => Err(err),
        }
    }
}

/// One create of a batch.
struct Member<'a> {
    by: &'a Principal,
    input: &'a NewConversationInput,
    subject: &'a str,
    tags: &'a [String],
    now: i64,
}
