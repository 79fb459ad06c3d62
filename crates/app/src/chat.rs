//! Live chat: a customer writes from the embeddable widget, an agent answers in the
//! workspace. A chat is a conversation like any other (channel `chat`): its first message
//! opens the conversation through the same code as every other channel, and each later one
//! is a customer message on it. The customer is recognised by a chat handle the widget keeps
//! (a random visitor id the server made). An e-mail address typed into the widget proves
//! nothing, so it is only kept on the chat until the customer types the code sent to it
//! ([`App::verify_chat_email`]); only then is the chat linked to the customer who owns that
//! address (or the address added to the chat's customer), so one customer spans e-mail, form
//! and chat without anyone reaching another person's record by typing their address.
//!
//! The widget holds the chat's token, which names exactly one conversation; only its
//! SHA-256 is stored. What the customer may see of that conversation is decided here: the
//! customer's messages and the team's public replies, never notes, events or other
//! conversations. A chat ends when the customer ends it, or when the team solves, closes or
//! merges its conversation; the customer can then have the transcript sent by e-mail,
//! through the outbound mail queue (to an address not confirmed, it says so at its top).
//!
//! Open sockets are counted in the store ([`App::open_chat_socket`]), so the cap per client
//! address holds across every node.

use domain::conversation::{check_message_text, clean_subject};
use domain::{
    normalize_identity, Actor, Channel, EventPayload, IdentityKind, MessageKind, Principal, Status,
};
use store::ChatRow;

use crate::auth::{secret, secret_hash};
use crate::conversations::{find_or_create_customer, not_found, reach};
use crate::outbound::Queued;
use crate::views::status_of;
use crate::{record, App, AppError, CustomerInput, MessageInput, NewConversationInput, Result};

/// The longest chat message, in characters (a chat is not the place for essays; the web
/// form and e-mail take long texts).
pub const MAX_CHAT_MESSAGE_CHARS: usize = 4_000;
/// How many transcripts one chat may send (each goes to an address the customer typed).
pub const MAX_TRANSCRIPTS_PER_CHAT: i64 = 3;
/// The prefix of the chat handles the widget keeps: `visitor-` and 32 hex digits.
const VISITOR_PREFIX: &str = "visitor-";
/// How long a code sent to confirm a chat's address is good.
pub const CHAT_CODE_TTL_MILLIS: i64 = 15 * 60_000;
/// How many codes one chat may have sent (each goes to the address the customer typed).
pub const MAX_CHAT_CODES: i64 = 3;
/// How many wrong codes may be typed for one code sent, before a new one must be asked for.
pub const MAX_CHAT_CODE_ATTEMPTS: i64 = 5;
/// How long an open socket's row counts without being renewed (the socket renews it on
/// each keepalive, every 20 seconds; a node that died stops renewing).
pub const CHAT_SOCKET_TTL_MILLIS: i64 = 60_000;

/// Who starts a chat, as typed in the widget.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChatVisitor {
    pub name: String,
    /// Optional: "" when they gave none.
    pub email: String,
    /// The chat handle the widget kept from an earlier chat, if any (one the server made).
    pub visitor: Option<String>,
}

/// An open chat, as the widget's connection holds it: which chat and which conversation.
/// Made only by [`App::start_chat`] and [`App::resume_chat`], so holding one proves the
/// token was presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatHandle {
    id: i64,
    conversation: i64,
}

impl ChatHandle {
    /// The conversation this chat is.
    pub fn conversation(&self) -> i64 {
        self.conversation
    }
}

/// Who wrote a line of the chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatAuthor {
    Customer,
    Agent,
}

impl ChatAuthor {
    pub fn as_str(self) -> &'static str {
        match self {
            ChatAuthor::Customer => "customer",
            ChatAuthor::Agent => "agent",
        }
    }
}

/// A line of the chat as the customer sees it: their own messages and public replies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatLine {
    /// The message's id (the widget uses it to show each line once).
    pub id: i64,
    pub author: ChatAuthor,
    /// The customer's name, or the agent's.
    pub name: String,
    pub text: String,
    pub at: i64,
}

/// What the customer sees of their chat now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatView {
    pub conversation: i64,
    pub visitor_name: String,
    /// Where a transcript goes unless they give another address.
    pub email: Option<String>,
    /// The customer typed the code sent to `email`.
    pub email_verified: bool,
    pub lines: Vec<ChatLine>,
    /// Ended by the customer, or solved, closed or merged by the team.
    pub ended: bool,
}

/// A chat just started: the token for the widget (shown once), the chat and its first line.
#[derive(Debug, Clone)]
pub struct StartedChat {
    pub token: String,
    /// The chat handle to keep for the next chat (`visitor-…`).
    pub visitor: String,
    pub chat: ChatHandle,
    pub line: ChatLine,
    /// The address given is confirmed: the chat handle's customer already owns it.
    pub email_verified: bool,
    /// A code to confirm the address given was queued for it.
    pub email_code_sent: bool,
}

/// One open chat socket, counted in the store across nodes (see [`App::open_chat_socket`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatSocket {
    id: String,
    node: String,
    client: String,
}

/// Who asks for a chat code: the customer from the widget, or a member of the team (the
/// event's actor) from the workspace or the API.
#[derive(Debug, Clone, Copy)]
enum CodeAsker {
    Customer,
    Team(Actor),
}

fn gone() -> AppError {
    AppError::NotFound("chat (it may have been removed; start a new one)".into())
}

fn ended_error() -> AppError {
    AppError::Invalid("This chat has ended. Start a new chat to write to us again.".into())
}

/// A chat handle made by this server, or nothing (anything else is not trusted, so nobody
/// can name another visitor's handle by guessing a pattern).
fn valid_visitor(handle: &str) -> Option<String> {
    let hex = handle.trim().strip_prefix(VISITOR_PREFIX)?;
    (hex.len() == 32 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        .then(|| format!("{VISITOR_PREFIX}{hex}"))
}

/// Checks a chat message's text: not empty, not too long.
fn check_chat_text(text: &str) -> Result<()> {
    if text.trim().is_empty() {
        return Err(AppError::Invalid("Write a message first.".into()));
    }
    let length = text.chars().count();
    if length > MAX_CHAT_MESSAGE_CHARS {
        return Err(AppError::Invalid(format!(
            "The message is {length} characters long; a chat message may have up to {MAX_CHAT_MESSAGE_CHARS}. Split it, or use the contact form."
        )));
    }
    check_message_text(text)?;
    Ok(())
}

/// The conversation's subject: the start of the first message, on one line.
fn chat_subject(name: &str, text: &str) -> String {
    let first: String = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(80)
        .collect();
    let subject = format!("Chat with {name}: {first}");
    clean_subject(&subject).unwrap_or_else(|_| format!("Chat with {name}"))
}

/// What is stored for a code sent to confirm a chat's address: bound to its chat, so a code
/// of one chat is worth nothing in another.
fn chat_code_hash(chat_id: i64, code: &str) -> String {
    secret_hash(&format!("chat-code:{chat_id}:{code}"))
}

/// `HH:MM` UTC of an instant, for the transcript.
fn clock_time(millis: i64) -> String {
    jiff::Timestamp::from_millisecond(millis)
        .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

impl App {
    /// Checks who starts a chat before anything is written, so the widget can say what is
    /// wrong at once. Returns the visitor as it will be used (trimmed, the e-mail address
    /// normalised, an untrusted handle dropped).
    pub fn check_chat_visitor(&self, visitor: &ChatVisitor) -> Result<ChatVisitor> {
        let mut problems = Vec::new();
        let name = visitor.name.trim();
        if name.is_empty() {
            problems.push("Enter your name, so that we know whom we are talking to.".to_string());
        } else if name.chars().count() > 100 || name.chars().any(char::is_control) {
            problems.push("Your name must be at most 100 characters, on one line.".into());
        }
        let email = visitor.email.trim();
        let email = if email.is_empty() {
            String::new()
        } else {
            match normalize_identity(IdentityKind::Email, email) {
                Ok(email) => email,
                Err(_) => {
                    problems.push(format!(
                        "“{email}” does not look like an e-mail address (like name@example.com); leave it empty if you prefer."
                    ));
                    String::new()
                }
            }
        };
        if !problems.is_empty() {
            return Err(AppError::Invalid(problems.join(" ")));
        }
        Ok(ChatVisitor {
            name: name.to_string(),
            email,
            visitor: visitor.visitor.as_deref().and_then(valid_visitor),
        })
    }

    /// The first message of a chat: opens the conversation (channel `chat`, in the chat's
    /// group) for the customer with that chat handle (found, or created), with the chat bound
    /// to it, in one transaction. The message is durable when this returns.
    ///
    /// An e-mail address given is kept on the chat, not trusted: the chat is not linked to
    /// whoever owns that address, and the address is not added to the chat's customer, until
    /// the code sent to it (queued here, when a mailbox can send it) comes back through
    /// [`App::verify_chat_email`]. Only when the chat handle's customer already owns the
    /// address is it confirmed at once.
    pub async fn start_chat(
        &self,
        visitor: &ChatVisitor,
        text: &str,
        now: i64,
    ) -> Result<StartedChat> {
        let visitor = self.check_chat_visitor(visitor)?;
        check_chat_text(text)?;
        let handle = visitor.visitor.clone().unwrap_or_else(|| {
            format!(
                "{VISITOR_PREFIX}{}",
                hex::encode(rand::random::<[u8; 16]>())
            )
        });
        let email = Some(visitor.email.clone()).filter(|e| !e.is_empty());
        // Chats go to the chat's group (`channel_routing`), like e-mail to its mailbox's.
        let group_id = self.channel_routing().await?.chat_group_id;
        let mailbox = match &email {
            Some(_) => self.store.mailboxes().await?.into_iter().next(),
            None => None,
        };
        let input = NewConversationInput {
            subject: chat_subject(&visitor.name, text),
            // Known by the chat handle only: a typed address proves nothing yet.
            customer: CustomerInput {
                email: None,
                phone: None,
                chat: Some(handle.clone()),
                name: Some(visitor.name.clone()),
            },
            message: MessageInput {
                kind: MessageKind::Customer,
                text: text.to_string(),
                attachments: Vec::new(),
            },
            channel: Channel::Chat,
            priority: None,
            group_id,
            assignee_id: None,
            tags: Vec::new(),
            custom_fields: serde_json::Map::new(),
        };
        let subject = clean_subject(&input.subject)?;
        let token = secret();
        // Two first contacts from one new address at once race to create the customer; the
        // loser sees a uniqueness conflict and tries again (as every channel does).
        let mut attempt = 0;
        let (chat_id, row, email_verified, email_code_sent) = loop {
            attempt += 1;
            let mut tx = self.store.begin().await?;
            let outcome = async {
                let customer_id = find_or_create_customer(&mut tx, &input.customer, now).await?;
                let by = Principal::Customer { id: customer_id };
                let (row, _) = self
                    .create_in_tx(
                        &mut tx,
                        &by,
                        &input,
                        &subject,
                        &[],
                        None,
                        Some(Channel::Chat),
                        now,
                    )
                    .await?;
                let chat_id = tx
                    .insert_chat(
                        &secret_hash(&token),
                        row.number,
                        &visitor.name,
                        email.as_deref(),
                        now,
                    )
                    .await?;
                let email_verified = match &email {
                    Some(email) => {
                        tx.customer_by_identity(IdentityKind::Email.as_str(), email)
                            .await?
                            == Some(customer_id)
                    }
                    None => false,
                };
                if email_verified {
                    tx.confirm_chat_email(chat_id, now).await?;
                }
                record(
                    &mut tx,
                    Some(row.number),
                    Actor::Customer(customer_id),
                    now,
                    &EventPayload::ChatStarted {
                        chat_id,
                        identity: if email_verified { "email" } else { "chat" }.into(),
                    },
                )
                .await?;
                let email_code_sent = match (&email, &mailbox) {
                    (Some(email), Some(mailbox)) if !email_verified => {
                        self.queue_chat_code(
                            &mut tx,
                            (chat_id, row.number),
                            email,
                            mailbox,
                            Actor::Customer(customer_id),
                            now,
                        )
                        .await?
                    }
                    _ => false,
                };
                Ok::<_, AppError>((chat_id, row, email_verified, email_code_sent))
            }
            .await;
            match outcome {
                Ok(done) => {
                    tx.commit().await?;
                    break done;
                }
                Err(AppError::Conflict(_)) if attempt < 3 => {
                    tx.rollback().await?;
                    continue;
                }
                Err(e) => {
                    tx.rollback().await?;
                    return Err(e);
                }
            }
        };
        let chat = ChatHandle {
            id: chat_id,
            conversation: row.number,
        };
        let line = self
            .chat_view(&chat)
            .await?
            .lines
            .into_iter()
            .next()
            .ok_or_else(gone)?;
        Ok(StartedChat {
            token,
            visitor: handle,
            chat,
            line,
            email_verified,
            email_code_sent,
        })
    }

    /// Queues a new code for the chat's address (at most [`MAX_CHAT_CODES`] per chat), with
    /// its event, in the caller's transaction. Returns whether one was queued.
    async fn queue_chat_code(
        &self,
        tx: &mut store::Tx,
        (chat_id, conversation): (i64, i64),
        email: &str,
        mailbox: &store::MailboxRow,
        actor: Actor,
        now: i64,
    ) -> Result<bool> {
        let code = format!("{:06}", rand::random::<u32>() % 1_000_000);
        if !tx
            .put_chat_email_code(
                chat_id,
                &chat_code_hash(chat_id, &code),
                now + CHAT_CODE_TTL_MILLIS,
                MAX_CHAT_CODES,
            )
            .await?
        {
            return Ok(false);
        }
        let text = format!(
            "Hello,\n\nsomebody (we hope you) gave this address in a chat with us (reference \
             #{conversation}). To confirm that it is yours, type this code in the chat within 15 \
             minutes:\n\n    {code}\n\nIf it was not you, ignore this message: without the code, \
             the chat is not linked to this address and nothing about you is shown in it."
        );
        let composed = mail::compose::compose_notice(
            &mail::compose::Notice {
                from: mail::Mailbox {
                    address: mailbox.address.clone(),
                    name: Some(mailbox.name.clone()),
                },
                to: mail::Mailbox {
                    address: email.to_string(),
                    name: None,
                },
                subject: format!("Your chat code: {code}"),
                text,
                date_ms: now,
            },
            rand::random(),
        )
        .map_err(|e| AppError::Invalid(format!("cannot compose the code e-mail: {e}")))?;
        let outbound_id = self
            .enqueue_outbound(
                tx,
                &Queued {
                    conversation: Some(conversation),
                    message_id: None,
                    composed: &composed,
                    from: &mailbox.address,
                    to: email,
                    automatic: true,
                },
                now,
            )
            .await?;
        record(
            tx,
            Some(conversation),
            actor,
            now,
            &EventPayload::ChatEmailCodeQueued {
                chat_id,
                outbound_id,
            },
        )
        .await?;
        Ok(true)
    }

    /// Sends a new code to the address given in the chat (the last one expired, or was typed
    /// wrong too often). Refused when the chat has no address, it is confirmed already, no
    /// mailbox can send it, or [`MAX_CHAT_CODES`] were sent.
    pub async fn send_chat_email_code(&self, chat: &ChatHandle, now: i64) -> Result<()> {
        self.send_chat_code(chat.id, CodeAsker::Customer, now)
            .await
            .map(|_| ())
    }

    /// A member of the team sends the chat's customer a new code, to the address they typed
    /// into the chat of conversation `number` (its latest chat whose address is not confirmed),
    /// for when the customer says the mail never came. The same limits hold as when the
    /// widget asks ([`MAX_CHAT_CODES`] per chat, whoever asks), and the code goes only to the
    /// typed address, so the agent never learns it and the customer still proves the address
    /// by typing it. Agents who may see the conversation may (tokens need
    /// `conversations:write`); customers ask from the widget. Returns the address.
    pub async fn resend_chat_email_code(
        &self,
        by: &Principal,
        number: i64,
        now: i64,
    ) -> Result<String> {
        let conversation = self
            .store
            .conversation(number)
            .await?
            .ok_or_else(|| not_found(number))?;
        if !by.can_see(&reach(&conversation)) {
            return Err(not_found(number));
        }
        if !by.can_update(&reach(&conversation)) {
            return Err(AppError::Forbidden(
                "only the team sends chat codes from here; a customer asks for one in the chat"
                    .into(),
            ));
        }
        let chat = self
            .store
            .chats_of(number)
            .await?
            .into_iter()
            .filter(|chat| chat.email.is_some() && chat.email_verified_at.is_none())
            .max_by_key(|chat| chat.id)
            .ok_or_else(|| {
                AppError::Invalid(format!(
                    "conversation #{number} has no chat address waiting to be confirmed"
                ))
            })?;
        self.send_chat_code(chat.id, CodeAsker::Team(by.actor()), now)
            .await
    }

    /// Queues a new code for chat `chat_id` in a transaction of its own, asked for by the
    /// customer (from the widget) or the team. Returns the address it goes to.
    async fn send_chat_code(&self, chat_id: i64, asker: CodeAsker, now: i64) -> Result<String> {
        let Some(mailbox) = self.store.mailboxes().await?.into_iter().next() else {
            return Err(AppError::Invalid(match asker {
                CodeAsker::Customer => "Sorry, we cannot send codes by e-mail from here yet.".into(),
                CodeAsker::Team(_) => {
                    "no mailbox is configured to send the code from; add one with `rapport mailbox add`"
                        .into()
                }
            }));
        };
        let mut tx = self.store.begin().await?;
        let (row, _) = tx.chat_for_update(chat_id).await?.ok_or_else(gone)?;
        let problem = match (&row.email, row.email_verified_at, &asker) {
            (None, _, _) => Some("This chat has no e-mail address to confirm.".to_string()),
            (Some(_), Some(_), CodeAsker::Customer) => {
                Some("Your address is confirmed already.".to_string())
            }
            (Some(email), Some(_), CodeAsker::Team(_)) => {
                Some(format!("The customer confirmed {email} already."))
            }
            _ => None,
        };
        if let Some(problem) = problem {
            tx.rollback().await?;
            return Err(AppError::Invalid(problem));
        }
        let customer_id = tx
            .conversation_for_update(row.conversation)
            .await?
            .ok_or_else(gone)?
            .customer_id;
        let actor = match asker {
            CodeAsker::Customer => Actor::Customer(customer_id),
            CodeAsker::Team(actor) => actor,
        };
        let email = row.email.clone().unwrap_or_default();
        if !self
            .queue_chat_code(
                &mut tx,
                (row.id, row.conversation),
                &email,
                &mailbox,
                actor,
                now,
            )
            .await?
        {
            tx.rollback().await?;
            return Err(AppError::Invalid(match asker {
                CodeAsker::Customer => format!(
                    "We sent {MAX_CHAT_CODES} codes for this chat already; look for them in your e-mail."
                ),
                CodeAsker::Team(_) => format!(
                    "{MAX_CHAT_CODES} codes were sent for this chat already (the limit per chat); \
                     the customer should look for them in their e-mail."
                ),
            }));
        }
        tx.commit().await?;
        Ok(email)
    }

    /// The customer types the code sent to the chat's address. When it is right (and neither
    /// expired nor guessed at too often), the address is confirmed, in one transaction: the
    /// chat's customer merges into the customer who owns the address (so the chat joins their
    /// conversations), or, when nobody does, the address is added to the chat's customer.
    /// A wrong code is counted; after [`MAX_CHAT_CODE_ATTEMPTS`] a new code is needed.
    pub async fn verify_chat_email(&self, chat: &ChatHandle, code: &str, now: i64) -> Result<()> {
        let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        let mut tx = self.store.begin().await?;
        let (row, hash) = tx.chat_for_update(chat.id).await?.ok_or_else(gone)?;
        let Some(email) = row.email.clone() else {
            tx.rollback().await?;
            return Err(AppError::Invalid(
                "This chat has no e-mail address to confirm.".into(),
            ));
        };
        if row.email_verified_at.is_some() {
            tx.rollback().await?;
            return Ok(());
        }
        let refusal = match (&hash, row.email_code_expires_at) {
            _ if row.email_code_attempts >= MAX_CHAT_CODE_ATTEMPTS => {
                Some("That code was typed wrong too often. Ask for a new code.")
            }
            (Some(_), Some(expires_at)) if expires_at > now => None,
            (Some(_), _) => Some("That code has expired. Ask for a new code."),
            (None, _) => Some("No code was sent for this chat yet. Ask for a code."),
        };
        if let Some(refusal) = refusal {
            tx.rollback().await?;
            return Err(AppError::Invalid(refusal.into()));
        }
        if hash.as_deref() != Some(chat_code_hash(row.id, &code).as_str()) {
            tx.count_wrong_chat_code(row.id).await?;
            tx.commit().await?;
            let left = MAX_CHAT_CODE_ATTEMPTS - row.email_code_attempts - 1;
            return Err(AppError::Invalid(if left > 0 {
                format!("That is not the code we sent. Check the e-mail and try again ({left} tries left).")
            } else {
                "That is not the code we sent. Ask for a new code.".to_string()
            }));
        }
        let conversation = tx
            .conversation_for_update(row.conversation)
            .await?
            .ok_or_else(gone)?;
        let chat_customer = conversation.customer_id;
        tx.confirm_chat_email(row.id, now).await?;
        let customer_id = match tx
            .customer_by_identity(IdentityKind::Email.as_str(), &email)
            .await?
        {
            Some(owner) if owner == chat_customer => owner,
            Some(owner) => {
                // The chat's customer (known by the chat handle) proved to be this person.
                tx.merge_customers(chat_customer, owner).await?;
                record(
                    &mut tx,
                    None,
                    Actor::Customer(owner),
                    now,
                    &EventPayload::CustomerMerged {
                        source: chat_customer,
                        target: owner,
                    },
                )
                .await?;
                owner
            }
            None => {
                tx.insert_identity(chat_customer, IdentityKind::Email.as_str(), &email, now)
                    .await?;
                chat_customer
            }
        };
        record(
            &mut tx,
            Some(row.conversation),
            Actor::Customer(customer_id),
            now,
            &EventPayload::ChatEmailVerified {
                chat_id: row.id,
                customer_id,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Counts a new chat socket of `client` (the address the connection came from) on `node`,
    /// unless `cap` of its sockets are open already on any node; `None` then. Rows that were
    /// not renewed for [`CHAT_SOCKET_TTL_MILLIS`] (their node died) are not counted (and go
    /// with [`App::sweep_chat_limits`]).
    pub async fn open_chat_socket(
        &self,
        node: &str,
        client: &str,
        cap: u32,
        now: i64,
    ) -> Result<Option<ChatSocket>> {
        let socket = ChatSocket {
            id: hex::encode(rand::random::<[u8; 16]>()),
            node: node.to_string(),
            client: client.chars().take(100).collect(),
        };
        let mut tx = self.store.begin().await?;
        let opened = tx
            .open_chat_socket(
                &socket.id,
                &socket.node,
                &socket.client,
                i64::from(cap.max(1)),
                now,
                now + CHAT_SOCKET_TTL_MILLIS,
            )
            .await?;
        tx.commit().await?;
        Ok(opened.then_some(socket))
    }

    /// The socket is still open (its keepalive): counted for another [`CHAT_SOCKET_TTL_MILLIS`],
    /// with the conversation of its chat once it has one.
    pub async fn renew_chat_socket(
        &self,
        socket: &ChatSocket,
        chat: Option<&ChatHandle>,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.store.begin().await?;
        tx.renew_chat_socket(
            &socket.id,
            &socket.node,
            &socket.client,
            chat.map(ChatHandle::conversation),
            now,
            now + CHAT_SOCKET_TTL_MILLIS,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The socket closed: it no longer counts.
    pub async fn close_chat_socket(&self, socket: &ChatSocket) -> Result<()> {
        let mut tx = self.store.begin().await?;
        tx.close_chat_socket(&socket.id, &socket.client).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The e-mail addresses given in the chats of conversation `number`, each with whether
    /// the customer confirmed it (for the team: an address not confirmed may be anyone's).
    pub async fn chat_addresses(&self, by: &Principal, number: i64) -> Result<Vec<(String, bool)>> {
        // Whoever may see the conversation may see what was typed into it.
        self.conversation(by, number).await?;
        Ok(self
            .store
            .chats_of(number)
            .await?
            .into_iter()
            .filter_map(|chat| Some((chat.email?, chat.email_verified_at.is_some())))
            .collect())
    }

    /// Forgets expired socket rows and full rate buckets (each node runs it now and then).
    /// Returns the rows deleted.
    pub async fn sweep_chat_limits(&self, now: i64) -> Result<u64> {
        let mut tx = self.store.begin().await?;
        let swept = tx.sweep_chat_limits(now).await?;
        tx.commit().await?;
        Ok(swept)
    }

    /// Chat sockets open for `client` at `now`, on every node.
    pub async fn open_chat_sockets(&self, client: &str, now: i64) -> Result<i64> {
        Ok(self.store.open_chat_sockets(client, now).await?)
    }

    /// The chat a widget's token names (after a reload). Any other token is `NotFound`.
    pub async fn resume_chat(&self, token: &str) -> Result<ChatHandle> {
        let token = token.trim();
        if token.is_empty() || token.len() > 200 {
            return Err(gone());
        }
        let row = self
            .store
            .chat_by_token(&secret_hash(token))
            .await?
            .ok_or_else(gone)?;
        Ok(ChatHandle {
            id: row.id,
            conversation: row.conversation,
        })
    }

    async fn chat_row(&self, chat: &ChatHandle) -> Result<(ChatRow, store::ConversationRow)> {
        let row = self.store.chat(chat.id).await?.ok_or_else(gone)?;
        let conversation = self
            .store
            .conversation(row.conversation)
            .await?
            .ok_or_else(gone)?;
        Ok((row, conversation))
    }

    /// What the customer sees of their chat: their messages and the team's public replies
    /// (never notes), and whether it has ended.
    pub async fn chat_view(&self, chat: &ChatHandle) -> Result<ChatView> {
        let (row, conversation) = self.chat_row(chat).await?;
        let status = status_of(&conversation)?;
        let ended = row.ended_at.is_some()
            || conversation.merged_into.is_some()
            || matches!(status, Status::Solved | Status::Closed);
        let mut agents: Vec<(i64, String)> = Vec::new();
        let mut lines = Vec::new();
        // Only this conversation's messages: a merged chat shows what it had, nothing of
        // the conversation it was merged into.
        for message in self.store.messages(row.conversation).await? {
            let author = match MessageKind::parse(&message.kind) {
                Some(MessageKind::Customer) => ChatAuthor::Customer,
                Some(MessageKind::Reply) => ChatAuthor::Agent,
                _ => continue,
            };
            let name = match (author, message.author_id) {
                (ChatAuthor::Customer, _) => row.visitor_name.clone(),
                (ChatAuthor::Agent, Some(id)) => match agents.iter().find(|(a, _)| *a == id) {
                    Some((_, name)) => name.clone(),
                    None => {
                        let name = self
                            .store
                            .agent(id)
                            .await?
                            .map(|a| {
                                if a.name.is_empty() {
                                    "Support".into()
                                } else {
                                    a.name
                                }
                            })
                            .unwrap_or_else(|| "Support".into());
                        agents.push((id, name.clone()));
                        name
                    }
                },
                (ChatAuthor::Agent, None) => "Support".into(),
            };
            lines.push(ChatLine {
                id: message.id,
                author,
                name,
                text: message.body_text,
                at: message.created_at,
            });
        }
        Ok(ChatView {
            conversation: row.conversation,
            visitor_name: row.visitor_name,
            email: row.email,
            email_verified: row.email_verified_at.is_some(),
            lines,
            ended,
        })
    }

    /// A later message of the chat: a customer message on its conversation, durable when
    /// this returns. Refused once the chat has ended.
    pub async fn post_chat_message(
        &self,
        chat: &ChatHandle,
        text: &str,
        now: i64,
    ) -> Result<ChatLine> {
        check_chat_text(text)?;
        let (row, conversation) = self.chat_row(chat).await?;
        let status = status_of(&conversation)?;
        if row.ended_at.is_some()
            || conversation.merged_into.is_some()
            || matches!(status, Status::Solved | Status::Closed)
        {
            return Err(ended_error());
        }
        // The customer is whoever the conversation is for now (customers can be merged).
        let by = Principal::Customer {
            id: conversation.customer_id,
        };
        let posted = self
            .add_message_via(
                &by,
                row.conversation,
                MessageInput {
                    kind: MessageKind::Customer,
                    text: text.to_string(),
                    attachments: Vec::new(),
                },
                None,
                None,
                Some(Channel::Chat),
                now,
            )
            .await?;
        Ok(ChatLine {
            id: posted.message.id,
            author: ChatAuthor::Customer,
            name: row.visitor_name,
            text: posted.message.text,
            at: posted.message.created_at,
        })
    }

    /// The customer ends the chat (once; ending it again changes nothing). The conversation
    /// stays as it is: solving it is the team's decision.
    pub async fn end_chat(&self, chat: &ChatHandle, now: i64) -> Result<()> {
        let (_, conversation) = self.chat_row(chat).await?;
        let mut tx = self.store.begin().await?;
        if tx.end_chat(chat.id, now).await? {
            record(
                &mut tx,
                Some(chat.conversation),
                Actor::Customer(conversation.customer_id),
                now,
                &EventPayload::ChatEnded { chat_id: chat.id },
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Sends the chat's transcript (what the customer saw: their messages and the public
    /// replies) to `email`, or to the address they gave when starting, through the outbound
    /// mail queue. At most [`MAX_TRANSCRIPTS_PER_CHAT`] per chat. Returns the outbound id.
    pub async fn request_chat_transcript(
        &self,
        chat: &ChatHandle,
        email: Option<&str>,
        now: i64,
    ) -> Result<i64> {
        let view = self.chat_view(chat).await?;
        let to = match email.map(str::trim).filter(|e| !e.is_empty()) {
            Some(typed) => normalize_identity(IdentityKind::Email, typed).map_err(|_| {
                AppError::Invalid(format!(
                    "“{typed}” does not look like an e-mail address (like name@example.com)."
                ))
            })?,
            None => view.email.clone().ok_or_else(|| {
                AppError::Invalid("Enter the e-mail address the transcript should go to.".into())
            })?,
        };
        let mailboxes = self.store.mailboxes().await?;
        let Some(mailbox) = mailboxes.first() else {
            tracing::warn!(
                "a chat transcript was asked for, but no mailbox is configured to send it from (add one with `rapport mailbox add`)"
            );
            return Err(AppError::Invalid(
                "Sorry, transcripts cannot be sent by e-mail from here yet.".into(),
            ));
        };
        let (_, conversation) = self.chat_row(chat).await?;
        // To an address nobody confirmed, the mail says so first: whoever typed it may not
        // own it.
        let confirmed = view.email_verified && view.email.as_deref() == Some(to.as_str());
        let mut text = if confirmed {
            String::new()
        } else {
            "This address was typed into a chat on our site and has not been confirmed. If you \
             did not chat with us, please ignore this e-mail; nothing else about you was shown \
             in the chat.\n\n"
                .to_string()
        };
        text.push_str(&format!(
            "Hello {},\n\nhere is the transcript of your chat with us (reference #{}).\n\n",
            view.visitor_name, view.conversation
        ));
        for line in &view.lines {
            text.push_str(&format!(
                "[{}] {}:\n{}\n\n",
                clock_time(line.at),
                line.name,
                line.text.trim_end()
            ));
        }
        text.push_str("Thank you for chatting with us.");
        let composed = mail::compose::compose_notice(
            &mail::compose::Notice {
                from: mail::Mailbox {
                    address: mailbox.address.clone(),
                    name: Some(mailbox.name.clone()),
                },
                to: mail::Mailbox {
                    address: to.clone(),
                    name: None,
                },
                subject: format!("Transcript of your chat [#{}]", view.conversation),
                text,
                date_ms: now,
            },
            rand::random(),
        )
        .map_err(|e| AppError::Invalid(format!("cannot compose the transcript e-mail: {e}")))?;
        let mut tx = self.store.begin().await?;
        if !tx
            .count_chat_transcript(chat.id, MAX_TRANSCRIPTS_PER_CHAT)
            .await?
        {
            tx.rollback().await?;
            return Err(AppError::Invalid(format!(
                "The transcript of this chat was already sent {MAX_TRANSCRIPTS_PER_CHAT} times."
            )));
        }
        let outbound_id = self
            .enqueue_outbound(
                &mut tx,
                &Queued {
                    conversation: Some(view.conversation),
                    message_id: None,
                    composed: &composed,
                    from: &mailbox.address,
                    to: &to,
                    automatic: true,
                },
                now,
            )
            .await?;
        record(
            &mut tx,
            Some(view.conversation),
            Actor::Customer(conversation.customer_id),
            now,
            &EventPayload::ChatTranscriptQueued {
                chat_id: chat.id,
                outbound_id,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(outbound_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_handles_this_server_makes_are_trusted() {
        let good = format!("{VISITOR_PREFIX}{}", "0123456789abcdef".repeat(2));
        assert_eq!(valid_visitor(&good), Some(good.clone()));
        for bad in [
            "",
            "visitor-",
            "visitor-xyz",
            "ann@example.com",
            "visitor-0123456789ABCDEF0123456789abcdef",
            "visitor-0123456789abcdef0123456789abcdef0",
        ] {
            assert_eq!(valid_visitor(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn chat_text_must_be_there_and_short() {
        assert!(check_chat_text("Hello").is_ok());
        assert!(check_chat_text("  \n ").is_err());
        assert!(check_chat_text(&"x".repeat(MAX_CHAT_MESSAGE_CHARS)).is_ok());
        assert!(check_chat_text(&"x".repeat(MAX_CHAT_MESSAGE_CHARS + 1)).is_err());
    }

    #[test]
    fn the_subject_is_the_start_of_the_first_message_on_one_line() {
        assert_eq!(
            chat_subject("Ann", "Where is\n my   parcel?"),
            "Chat with Ann: Where is my parcel?"
        );
        assert!(chat_subject("Ann", &"long ".repeat(100)).chars().count() < 100);
    }
}
