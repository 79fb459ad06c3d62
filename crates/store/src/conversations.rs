//! Conversations, their tags, messages, attachments and blobs; queue listings with counts;
//! the full-text index.

use domain::permission::Visibility;
use sha2::{Digest, Sha256};

use crate::rows::CONVERSATION_COLUMNS;
use crate::{
    bind_all, run, Arg, AttachmentRow, ConversationRow, Dialect, MessageRow, Pools, Result, Store,
    Tx,
};

/// A conversation about to be stored.
#[derive(Debug, Clone)]
pub struct NewConversation<'a> {
    pub subject: &'a str,
    pub channel: &'a str,
    pub status: &'a str,
    pub priority: i64,
    pub group_id: Option<i64>,
    pub assignee_id: Option<i64>,
    pub customer_id: i64,
    pub custom_fields: &'a str,
    /// The messages it starts with (written by the same transaction).
    pub message_count: i64,
    pub now: i64,
}

/// A message about to be stored.
#[derive(Debug, Clone)]
pub struct NewMessage<'a> {
    pub conversation: i64,
    pub kind: &'a str,
    pub channel: &'a str,
    pub author_kind: &'a str,
    pub author_id: Option<i64>,
    pub body_text: &'a str,
    pub body_html: &'a str,
    pub now: i64,
}

/// A conversation about to be opened with its tags and first message
/// ([`Tx::insert_conversation_bundles`]); the message's `conversation` is not read.
#[derive(Debug, Clone)]
pub struct NewConversationBundle<'a> {
    pub conversation: NewConversation<'a>,
    pub tags: &'a [String],
    pub message: NewMessage<'a>,
}

/// One row back from opening conversations together on PostgreSQL.
#[derive(sqlx::FromRow)]
struct BundleRow {
    ord: i64,
    number: i64,
    message_id: i64,
    group_name: Option<String>,
    assignee_name: Option<String>,
    assignee_email: Option<String>,
    customer_name: Option<String>,
    customer_email: Option<String>,
}

/// What to list. Empty fields do not filter.
#[derive(Debug, Clone, Default)]
pub struct ConversationFilter {
    /// Any of these statuses (stored text form).
    pub statuses: Vec<String>,
    /// `Some(None)`: conversations in no group.
    pub group_id: Option<Option<i64>>,
    /// `Some(None)`: unassigned conversations.
    pub assignee_id: Option<Option<i64>>,
    pub tag: Option<String>,
    pub customer_id: Option<i64>,
    /// Full-text query over subjects and message bodies.
    pub q: Option<String>,
    /// Conversations merged into another are hidden unless asked for.
    pub include_merged: bool,
}

/// The order of a listing; ties are broken by number, in the same direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConversationSort {
    #[default]
    UpdatedDesc,
    UpdatedAsc,
    CreatedDesc,
    CreatedAsc,
    PriorityDesc,
    NumberDesc,
    NumberAsc,
    /// Soonest SLA breach first; conversations with no running target last, by number.
    NextBreachAsc,
}

/// Where a sort takes its rows from: one part of a page query. Most sorts read the
/// conversations alone; the SLA sort reads the conversations with a running target through
/// the `sla_states_next_breach` index, then the others by number.
struct SortSource {
    from: &'static str,
    condition: Option<&'static str>,
    /// The sort value of a row, the first half of the keyset.
    key: &'static str,
    order: &'static str,
}

impl ConversationSort {
    pub fn parse(text: &str) -> Option<ConversationSort> {
        Some(match text {
            "-updated_at" | "updated_at:desc" => ConversationSort::UpdatedDesc,
            "updated_at" | "updated_at:asc" => ConversationSort::UpdatedAsc,
            "-created_at" | "created_at:desc" => ConversationSort::CreatedDesc,
            "created_at" | "created_at:asc" => ConversationSort::CreatedAsc,
            "-priority" | "priority:desc" => ConversationSort::PriorityDesc,
            "-number" | "number:desc" => ConversationSort::NumberDesc,
            "number" | "number:asc" => ConversationSort::NumberAsc,
            "sla" | "next_breach_at" | "next_breach_at:asc" => ConversationSort::NextBreachAsc,
            _ => return None,
        })
    }

    /// The text form [`ConversationSort::parse`] reads back (the first it accepts).
    pub fn as_str(self) -> &'static str {
        match self {
            ConversationSort::UpdatedDesc => "-updated_at",
            ConversationSort::UpdatedAsc => "updated_at",
            ConversationSort::CreatedDesc => "-created_at",
            ConversationSort::CreatedAsc => "created_at",
            ConversationSort::PriorityDesc => "-priority",
            ConversationSort::NumberDesc => "-number",
            ConversationSort::NumberAsc => "number",
            ConversationSort::NextBreachAsc => "sla",
        }
    }

    fn descending(self) -> bool {
        !matches!(
            self,
            ConversationSort::UpdatedAsc
                | ConversationSort::CreatedAsc
                | ConversationSort::NumberAsc
                | ConversationSort::NextBreachAsc
        )
    }

    fn sources(self) -> Vec<SortSource> {
        let plain = |key: &'static str, order: &'static str| SortSource {
            from: "conversations c",
            condition: None,
            key,
            order,
        };
        match self {
            ConversationSort::UpdatedDesc => vec![plain("c.updated_at", "c.updated_at DESC, c.number DESC")],
            ConversationSort::UpdatedAsc => vec![plain("c.updated_at", "c.updated_at ASC, c.number ASC")],
            ConversationSort::CreatedDesc => vec![plain("c.created_at", "c.created_at DESC, c.number DESC")],
            ConversationSort::CreatedAsc => vec![plain("c.created_at", "c.created_at ASC, c.number ASC")],
            ConversationSort::PriorityDesc => vec![plain("c.priority", "c.priority DESC, c.number DESC")],
            ConversationSort::NumberDesc => vec![plain("c.number", "c.number DESC")],
            ConversationSort::NumberAsc => vec![plain("c.number", "c.number ASC")],
            ConversationSort::NextBreachAsc => vec![
                SortSource {
                    from: "sla_states s JOIN conversations c ON c.number = s.conversation",
                    condition: Some("s.next_breach_at IS NOT NULL"),
                    key: "s.next_breach_at",
                    order: "s.next_breach_at ASC, c.number ASC",
                },
                SortSource {
                    from: "conversations c",
                    condition: Some(
                        "NOT EXISTS (SELECT 1 FROM sla_states s WHERE s.conversation = c.number AND s.next_breach_at IS NOT NULL)",
                    ),
                    // i64::MAX: after every real instant, so the keyset moves on to these.
                    key: "9223372036854775807",
                    order: "c.number ASC",
                },
            ],
        }
    }
}

/// A listed row with the value it was sorted by (the keyset of the next page).
#[derive(sqlx::FromRow)]
struct SortedRow {
    #[sqlx(flatten)]
    row: ConversationRow,
    sort_key: i64,
}

impl crate::sqlite::FromRow for SortedRow {
    fn from_row(row: &rusqlite::Row<'_>) -> Result<Self, crate::sqlite::Error> {
        Ok(SortedRow {
            row: <ConversationRow as crate::sqlite::FromRow>::from_row(row)?,
            sort_key: row.get("sort_key")?,
        })
    }
}

/// One page of a listing.
#[derive(Debug, Clone)]
pub struct ConversationPage {
    pub items: Vec<ConversationRow>,
    /// How many conversations match in all.
    pub total: i64,
    /// Where the next page starts: (sort value, number) of the last item.
    pub next: Option<(i64, i64)>,
    /// The search matched more messages than it looks at: `total` is a lower bound.
    pub total_is_lower_bound: bool,
}

/// The counts behind an agent's queue sidebar.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueCounts {
    /// Unsolved and assigned to me.
    pub mine: i64,
    /// Unsolved, visible to me, and assigned to nobody.
    pub unassigned: i64,
    /// New or open.
    pub open: i64,
    pub pending: i64,
    pub on_hold: i64,
    /// Unsolved, per group (`None`: no group).
    pub by_group: Vec<(Option<i64>, i64)>,
    /// Unsolved, per tag, most used first (at most 20).
    pub by_tag: Vec<(String, i64)>,
}

/// A search looks at the most recent messages that match, at most this many: enough for a
/// person to find what they look for, bounded so that a common word stays fast. When more
/// match, the page says its total is a lower bound.
pub const SEARCH_CANDIDATES: i64 = 2000;

/// PostgreSQL search: how many of the newest messages are read in order before deciding how
/// to find older matches (see [`Store::search_message_ids`]).
pub const SEARCH_WALK_FIRST: i64 = 5_000;

/// PostgreSQL search: the share of matches among the newest messages from which reading older
/// ones in order is cheaper than asking the GIN index for every older match.
pub const SEARCH_WALK_SHARE: f64 = 0.015;

const UNSOLVED: &str = "c.status IN ('new', 'open', 'pending', 'on_hold')";

/// One way of seeing conversations: a page query has one branch per way (and status).
enum Way {
    AssignedTo(i64),
    InGroup(i64),
    InNoGroup,
    Whole(Visibility),
}

/// A WHERE clause under construction, with its bound values numbered `$1, $2, ...`.
#[derive(Default)]
pub(crate) struct Where {
    clauses: Vec<String>,
    pub(crate) args: Vec<Arg>,
    /// The messages a search matched, found once per listing ([`Store::search_candidates`])
    /// and written as an array literal of the dialect (`[1,2]` or `{1,2}`).
    search_ids: Option<String>,
}

impl Where {
    pub(crate) fn arg(&mut self, arg: Arg) -> String {
        self.args.push(arg);
        format!("${}", self.args.len())
    }

    pub(crate) fn push(&mut self, clause: String) {
        self.clauses.push(clause);
    }

    fn way(&mut self, way: &Way) {
        match way {
            Way::AssignedTo(agent) => {
                let p = self.arg(Arg::Int(*agent));
                self.push(format!("c.assignee_id = {p}"));
            }
            Way::InGroup(group) => {
                let p = self.arg(Arg::Int(*group));
                self.push(format!("c.group_id = {p}"));
            }
            Way::InNoGroup => self.push("c.group_id IS NULL".into()),
            Way::Whole(visibility) => self.visibility(visibility),
        }
    }

    pub(crate) fn visibility(&mut self, visibility: &Visibility) {
        match visibility {
            Visibility::All => {}
            Visibility::Nothing => self.push("1 = 0".into()),
            Visibility::Customer(id) => {
                let p = self.arg(Arg::Int(*id));
                self.push(format!("c.customer_id = {p}"));
            }
            Visibility::Agent {
                agent_id,
                groups,
                include_ungrouped,
            } => {
                let me = self.arg(Arg::Int(*agent_id));
                let mut any = vec![format!("c.assignee_id = {me}")];
                if !groups.is_empty() {
                    let list: Vec<String> = groups.iter().map(|g| self.arg(Arg::Int(*g))).collect();
                    any.push(format!("c.group_id IN ({})", list.join(", ")));
                }
                if *include_ungrouped {
                    any.push("c.group_id IS NULL".into());
                }
                self.push(format!("({})", any.join(" OR ")));
            }
        }
    }

    fn filter(&mut self, filter: &ConversationFilter, dialect: Dialect) {
        if !filter.include_merged {
            self.push("c.merged_into IS NULL".into());
        }
        if !filter.statuses.is_empty() {
            let list: Vec<String> = filter
                .statuses
                .iter()
                .map(|s| self.arg(Arg::Text(s.clone())))
                .collect();
            self.push(format!("c.status IN ({})", list.join(", ")));
        }
        match filter.group_id {
            Some(Some(g)) => {
                let p = self.arg(Arg::Int(g));
                self.push(format!("c.group_id = {p}"));
            }
            Some(None) => self.push("c.group_id IS NULL".into()),
            None => {}
        }
        match filter.assignee_id {
            Some(Some(a)) => {
                let p = self.arg(Arg::Int(a));
                self.push(format!("c.assignee_id = {p}"));
            }
            Some(None) => self.push("c.assignee_id IS NULL".into()),
            None => {}
        }
        if let Some(tag) = &filter.tag {
            let p = self.arg(Arg::Text(tag.clone()));
            self.push(format!(
                "EXISTS (SELECT 1 FROM conversation_tags t WHERE t.conversation = c.number AND t.tag = {p})"
            ));
        }
        if let Some(customer) = filter.customer_id {
            let p = self.arg(Arg::Int(customer));
            self.push(format!("c.customer_id = {p}"));
        }
        if filter.q.is_some() {
            let ids = self.search_ids.clone().unwrap_or_else(|| match dialect {
                Dialect::Sqlite => "[]".into(),
                Dialect::Postgres => "{}".into(),
            });
            let p = self.arg(Arg::Text(ids));
            self.push(match dialect {
                Dialect::Sqlite => format!(
                    "c.number IN (SELECT m.conversation FROM messages m WHERE m.id IN (SELECT value FROM json_each({p})))"
                ),
                // The matching conversations as one array, computed once (an InitPlan):
                // `IN (subquery)` let the planner walk the queue's index and test each row
                // against the candidates, parsing the 2,000-id text again per row (2 s at
                // 20,000 conversations; 9 ms this way).
                Dialect::Postgres => format!(
                    "c.number = ANY(ARRAY(SELECT m.conversation FROM messages m WHERE m.id = ANY(CAST({p} AS TEXT)::BIGINT[])))"
                ),
            });
        }
    }

    pub(crate) fn sql(&self) -> String {
        if self.clauses.is_empty() {
            "TRUE".into()
        } else {
            self.clauses.join(" AND ")
        }
    }
}

/// Turns what a person typed into an FTS5 query that matches documents holding every
/// word, with no FTS5 syntax of the person's passed through. An empty query matches nothing.
pub(crate) fn fts5_query(text: &str) -> String {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(32)
        .map(|w| format!("\"{}\"", w.to_lowercase()))
        .collect();
    if words.is_empty() {
        "\"\"".into()
    } else {
        words.join(" ")
    }
}

/// The SHA-256 of some bytes, as lower-case hex: the address of a blob.
pub fn blob_address(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

impl Tx {
    pub async fn insert_conversation(&mut self, new: &NewConversation<'_>) -> Result<i64> {
        run!(tx self, |c| Ok(sqlx::query_scalar(
            "INSERT INTO conversations (subject, channel, status, priority, group_id, assignee_id, customer_id, custom_fields, \
             message_count, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING number")
            .bind(new.subject).bind(new.channel).bind(new.status).bind(new.priority).bind(new.group_id)
            .bind(new.assignee_id).bind(new.customer_id).bind(new.custom_fields).bind(new.message_count).bind(new.now)
            .fetch_one(&mut *c).await?))
    }

    /// Inserts a conversation and returns its number with the names a view shows beside it
    /// (group, agent, customer and the customer's first e-mail address, as
    /// [`Store::conversation_details`] reads them; `tags` is left `None`). On PostgreSQL the
    /// names come back from the INSERT itself, so answering a create needs no read after it.
    pub async fn insert_conversation_detailed(
        &mut self,
        new: &NewConversation<'_>,
    ) -> Result<ConversationDetail> {
        const NAMES: &str = "g.name AS group_name, a.name AS assignee_name, a.email AS assignee_email, cu.name AS customer_name, \
             (SELECT i.value FROM customer_identities i WHERE i.customer_id = c.customer_id AND i.kind = 'email' ORDER BY i.id LIMIT 1) AS customer_email, \
             CAST(NULL AS TEXT) AS tags";
        const JOINS: &str =
            "LEFT JOIN groups g ON g.id = c.group_id LEFT JOIN agents a ON a.id = c.assignee_id \
             LEFT JOIN customers cu ON cu.id = c.customer_id";
        match self {
            Tx::Sqlite(_) => {
                let number = self.insert_conversation(new).await?;
                run!(tx self, |c| Ok(sqlx::query_as(&format!(
                    "SELECT c.number, {NAMES} FROM conversations c {JOINS} WHERE c.number = $1"))
                    .bind(number).fetch_one(&mut *c).await?))
            }
            Tx::Postgres(t) => Ok(sqlx::query_as(&format!(
                "WITH c AS (INSERT INTO conversations (subject, channel, status, priority, group_id, assignee_id, customer_id, \
                 custom_fields, message_count, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) \
                 RETURNING number, group_id, assignee_id, customer_id) \
                 SELECT c.number, {NAMES} FROM c {JOINS}"))
                .bind(new.subject).bind(new.channel).bind(new.status).bind(new.priority).bind(new.group_id)
                .bind(new.assignee_id).bind(new.customer_id).bind(new.custom_fields).bind(new.message_count).bind(new.now)
                .fetch_one(&mut **t).await?),
        }
    }

    /// Opens several conversations at once, each with its tags and its first message (the
    /// rows of [`Tx::insert_conversation_detailed`], [`Tx::add_tag`] and [`Tx::insert_message`]
    /// for each, tags already unique per conversation). Returns, in the order given, each
    /// conversation's names as [`Tx::insert_conversation_detailed`] gives them, and its first
    /// message's id. On PostgreSQL this is one statement however many there are: per statement
    /// costs, not per row ones, bound how fast PostgreSQL opens conversations (16 in one
    /// statement took a sixth of the time of 16 one by one).
    pub async fn insert_conversation_bundles(
        &mut self,
        bundles: &[NewConversationBundle<'_>],
    ) -> Result<Vec<(ConversationDetail, i64)>> {
        match self {
            Tx::Sqlite(_) => {
                let mut out = Vec::with_capacity(bundles.len());
                for b in bundles {
                    let detail = self.insert_conversation_detailed(&b.conversation).await?;
                    for tag in b.tags {
                        self.add_tag(detail.number, tag).await?;
                    }
                    let message_id = self
                        .insert_message(&NewMessage {
                            conversation: detail.number,
                            ..b.message.clone()
                        })
                        .await?;
                    out.push((detail, message_id));
                }
                Ok(out)
            }
            Tx::Postgres(t) => {
                let n = bundles.len();
                let mut subject = Vec::with_capacity(n);
                let mut channel = Vec::with_capacity(n);
                let mut status = Vec::with_capacity(n);
                let mut priority = Vec::with_capacity(n);
                let mut group = Vec::with_capacity(n);
                let mut assignee = Vec::with_capacity(n);
                let mut customer = Vec::with_capacity(n);
                let mut fields = Vec::with_capacity(n);
                let mut count = Vec::with_capacity(n);
                let mut now = Vec::with_capacity(n);
                let mut kind = Vec::with_capacity(n);
                let mut message_channel = Vec::with_capacity(n);
                let mut author_kind = Vec::with_capacity(n);
                let mut author = Vec::with_capacity(n);
                let mut text = Vec::with_capacity(n);
                let mut html = Vec::with_capacity(n);
                let (mut tag_of, mut tag) = (Vec::new(), Vec::new());
                for (i, b) in bundles.iter().enumerate() {
                    let c = &b.conversation;
                    subject.push(c.subject);
                    channel.push(c.channel);
                    status.push(c.status);
                    priority.push(c.priority);
                    group.push(c.group_id);
                    assignee.push(c.assignee_id);
                    customer.push(c.customer_id);
                    fields.push(c.custom_fields);
                    count.push(c.message_count);
                    now.push(c.now);
                    let m = &b.message;
                    kind.push(m.kind);
                    message_channel.push(m.channel);
                    author_kind.push(m.author_kind);
                    author.push(m.author_id);
                    text.push(m.body_text);
                    html.push(m.body_html);
                    for t in b.tags {
                        tag_of.push(i as i64 + 1);
                        tag.push(t.as_str());
                    }
                }
                // Numbers and message ids are drawn from the tables' own sequences, so the
                // rows are tied together here and not by the order RETURNING happens to give.
                let rows: Vec<BundleRow> = sqlx::query_as(
                    "WITH input AS (\
                       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::int8[], $6::int8[], $7::int8[], \
                         $8::text[], $9::int8[], $10::int8[], $11::text[], $12::text[], $13::text[], $14::int8[], $15::text[], $16::text[]) \
                       WITH ORDINALITY AS u(subject, channel, status, priority, group_id, assignee_id, customer_id, custom_fields, \
                         message_count, now, kind, message_channel, author_kind, author_id, body_text, body_html, ord)), \
                     numbered AS MATERIALIZED (\
                       SELECT nextval(pg_get_serial_sequence('conversations', 'number')) AS number, \
                         nextval(pg_get_serial_sequence('messages', 'id')) AS message_id, input.* FROM input ORDER BY ord), \
                     c AS (INSERT INTO conversations (number, subject, channel, status, priority, group_id, assignee_id, customer_id, \
                         custom_fields, message_count, created_at, updated_at) \
                       SELECT number, subject, channel, status, priority, group_id, assignee_id, customer_id, custom_fields, \
                         message_count, now, now FROM numbered), \
                     t AS (INSERT INTO conversation_tags (conversation, tag, status, group_id, assignee_id, merged_into) \
                       SELECT n.number, x.tag, n.status, n.group_id, n.assignee_id, NULL \
                       FROM unnest($17::int8[], $18::text[]) AS x(ord, tag) JOIN numbered n ON n.ord = x.ord), \
                     m AS (INSERT INTO messages (id, conversation, kind, channel, author_kind, author_id, body_text, body_html, created_at) \
                       SELECT message_id, number, kind, message_channel, author_kind, author_id, body_text, body_html, now FROM numbered) \
                     SELECT n.ord, n.number, n.message_id, g.name AS group_name, a.name AS assignee_name, a.email AS assignee_email, \
                       cu.name AS customer_name, \
                       (SELECT i.value FROM customer_identities i WHERE i.customer_id = n.customer_id AND i.kind = 'email' \
                         ORDER BY i.id LIMIT 1) AS customer_email \
                     FROM numbered n LEFT JOIN groups g ON g.id = n.group_id LEFT JOIN agents a ON a.id = n.assignee_id \
                       LEFT JOIN customers cu ON cu.id = n.customer_id ORDER BY n.ord",
                )
                .bind(&subject).bind(&channel).bind(&status).bind(&priority).bind(&group).bind(&assignee)
                .bind(&customer).bind(&fields).bind(&count).bind(&now).bind(&kind).bind(&message_channel)
                .bind(&author_kind).bind(&author).bind(&text).bind(&html).bind(&tag_of).bind(&tag)
                .fetch_all(&mut **t)
                .await?;
                if rows.len() != n || rows.iter().enumerate().any(|(i, r)| r.ord != i as i64 + 1) {
                    return Err(crate::StoreError::Corrupt(format!(
                        "opening {n} conversations at once gave back {} rows",
                        rows.len()
                    )));
                }
                Ok(rows
                    .into_iter()
                    .map(|r| {
                        (
                            ConversationDetail {
                                number: r.number,
                                group_name: r.group_name,
                                assignee_name: r.assignee_name,
                                assignee_email: r.assignee_email,
                                customer_name: r.customer_name,
                                customer_email: r.customer_email,
                                tags: None,
                            },
                            r.message_id,
                        )
                    })
                    .collect())
            }
        }
    }

    /// Reads a conversation for change; on PostgreSQL the row stays locked until the
    /// transaction ends, so concurrent changes to one conversation queue up.
    pub async fn conversation_for_update(
        &mut self,
        number: i64,
    ) -> Result<Option<ConversationRow>> {
        let lock = if self.dialect() == Dialect::Postgres {
            " FOR UPDATE"
        } else {
            ""
        };
        let sql =
            format!("SELECT {CONVERSATION_COLUMNS} FROM conversations c WHERE c.number = $1{lock}");
        run!(tx self, |c| Ok(sqlx::query_as(&sql).bind(number).fetch_optional(&mut *c).await?))
    }

    /// Writes every changeable column of a conversation.
    pub async fn update_conversation(&mut self, row: &ConversationRow) -> Result<()> {
        run!(tx self, |c| sqlx::query(
            "UPDATE conversations SET subject = $1, status = $2, priority = $3, group_id = $4, assignee_id = $5, customer_id = $6, \
             custom_fields = $7, merged_into = $8, message_count = $9, updated_at = $10, solved_at = $11, closed_at = $12 \
             WHERE number = $13")
            .bind(&row.subject).bind(&row.status).bind(row.priority).bind(row.group_id).bind(row.assignee_id)
            .bind(row.customer_id).bind(&row.custom_fields).bind(row.merged_into).bind(row.message_count)
            .bind(row.updated_at).bind(row.solved_at).bind(row.closed_at).bind(row.number)
            .execute(&mut *c).await.map(|_| ())?);
        Ok(())
    }

    /// Adds a tag; `false` when the conversation already had it.
    pub async fn add_tag(&mut self, conversation: i64, tag: &str) -> Result<bool> {
        // With the conversation's queue columns, so that the row is written once (0022).
        run!(tx self, |c| Ok(sqlx::query("INSERT INTO conversation_tags (conversation, tag, status, group_id, assignee_id, merged_into) \
              SELECT number, $2, status, group_id, assignee_id, merged_into FROM conversations WHERE number = $1 \
              ON CONFLICT DO NOTHING")
            .bind(conversation).bind(tag).execute(&mut *c).await?.rows_affected() == 1))
    }

    /// Removes a tag; `false` when the conversation did not have it.
    pub async fn remove_tag(&mut self, conversation: i64, tag: &str) -> Result<bool> {
        run!(tx self, |c| Ok(sqlx::query("DELETE FROM conversation_tags WHERE conversation = $1 AND tag = $2")
            .bind(conversation).bind(tag).execute(&mut *c).await?.rows_affected() == 1))
    }

    pub async fn tags(&mut self, conversation: i64) -> Result<Vec<String>> {
        run!(tx self, |c| Ok(sqlx::query_scalar("SELECT tag FROM conversation_tags WHERE conversation = $1 ORDER BY tag")
            .bind(conversation).fetch_all(&mut *c).await?))
    }

    pub async fn insert_message(&mut self, m: &NewMessage<'_>) -> Result<i64> {
        run!(tx self, |c| Ok(sqlx::query_scalar(
            "INSERT INTO messages (conversation, kind, channel, author_kind, author_id, body_text, body_html, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id")
            .bind(m.conversation).bind(m.kind).bind(m.channel).bind(m.author_kind).bind(m.author_id)
            .bind(m.body_text).bind(m.body_html).bind(m.now).fetch_one(&mut *c).await?))
    }

    /// Moves every message of `source` to `target`; returns how many moved.
    pub async fn move_messages(&mut self, source: i64, target: i64) -> Result<i64> {
        run!(tx self, |c| {
            let moved = sqlx::query("UPDATE messages SET conversation = $1 WHERE conversation = $2")
                .bind(target).bind(source).execute(&mut *c).await?.rows_affected();
            Ok(i64::try_from(moved).unwrap_or(i64::MAX))
        })
    }

    /// Stores bytes under their SHA-256 (once, however often they are stored) and returns the address.
    pub async fn put_blob(&mut self, data: &[u8], now: i64) -> Result<String> {
        let address = blob_address(data);
        let size = i64::try_from(data.len()).unwrap_or(i64::MAX);
        run!(tx self, |c| sqlx::query("INSERT INTO blobs (sha256, size, data, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING")
            .bind(&address).bind(size).bind(data).bind(now).execute(&mut *c).await.map(|_| ())?);
        Ok(address)
    }

    pub async fn insert_attachment(
        &mut self,
        message_id: i64,
        blob: &str,
        filename: &str,
        content_type: &str,
        size: i64,
    ) -> Result<i64> {
        run!(tx self, |c| Ok(sqlx::query_scalar(
            "INSERT INTO attachments (message_id, blob_sha256, filename, content_type, size) VALUES ($1, $2, $3, $4, $5) RETURNING id")
            .bind(message_id).bind(blob).bind(filename).bind(content_type).bind(size).fetch_one(&mut *c).await?))
    }

    /// Replaces a message's HTML body, in the transaction that stored it (an e-mail's inline
    /// images pointed at their attachments once those have ids).
    pub async fn set_message_html(&mut self, message_id: i64, body_html: &str) -> Result<()> {
        run!(tx self, |c| sqlx::query("UPDATE messages SET body_html = $1 WHERE id = $2")
            .bind(body_html).bind(message_id).execute(&mut *c).await.map(|_| ())?);
        Ok(())
    }

    /// Puts a message into the full-text index (replacing what was there for it).
    pub async fn index_message(
        &mut self,
        message_id: i64,
        subject: &str,
        body: &str,
    ) -> Result<()> {
        self.index_messages(&[(message_id, subject.to_string(), body.to_string())])
            .await
    }

    /// Puts messages into the full-text index (replacing what was there for them), a few
    /// hundred to a statement. A message listed twice is indexed as last listed.
    pub async fn index_messages(&mut self, messages: &[(i64, String, String)]) -> Result<()> {
        let mut seen = std::collections::HashSet::new();
        let mut rows: Vec<&(i64, String, String)> =
            messages.iter().rev().filter(|m| seen.insert(m.0)).collect();
        rows.reverse();
        let dialect = self.dialect();
        let mark = |i: usize| format!("${i}");
        for chunk in rows.chunks(300) {
            let mut args = Vec::with_capacity(chunk.len() * 3);
            let mut values = Vec::with_capacity(chunk.len());
            for (message_id, subject, body) in chunk {
                let n = args.len();
                values.push(match dialect {
                    Dialect::Sqlite => format!("({}, {}, {})", mark(n + 1), mark(n + 2), mark(n + 3)),
                    Dialect::Postgres => format!(
                        "({}, setweight(to_tsvector('simple', {}), 'A') || to_tsvector('simple', {}))",
                        mark(n + 1),
                        mark(n + 2),
                        mark(n + 3)
                    ),
                });
                args.push(Arg::Int(*message_id));
                args.push(Arg::Text(subject.clone()));
                args.push(Arg::Text(body.clone()));
            }
            let values = values.join(", ");
            match dialect {
                Dialect::Sqlite => {
                    // FTS5 has no upsert: the old entries go first.
                    let ids: Vec<String> = chunk.iter().map(|m| m.0.to_string()).collect();
                    let delete = format!(
                        "DELETE FROM message_search WHERE rowid IN ({})",
                        ids.join(", ")
                    );
                    let insert = format!(
                        "INSERT INTO message_search (rowid, subject, body) VALUES {values}"
                    );
                    run!(tx self, |c| {
                        sqlx::query(&delete).execute(&mut *c).await?;
                        bind_all!(sqlx::query(&insert), &args).execute(&mut *c).await.map(|_| ())?
                    });
                }
                Dialect::Postgres => {
                    let insert = format!(
                        "INSERT INTO message_search (message_id, doc) VALUES {values} \
                         ON CONFLICT (message_id) DO UPDATE SET doc = EXCLUDED.doc"
                    );
                    run!(tx self, |c| bind_all!(sqlx::query(&insert), &args).execute(&mut *c).await.map(|_| ())?);
                }
            }
        }
        Ok(())
    }
}

impl Store {
    /// Messages with their conversation's subject, for indexing, read without the writer:
    /// `(message id, subject, body)` for those of `ids` that exist.
    pub async fn messages_for_index(&self, ids: &[i64]) -> Result<Vec<(i64, String, String)>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        let (sql, literal) = match self.dialect() {
            Dialect::Sqlite => (
                "SELECT m.id, c.subject, m.body_text FROM messages m JOIN conversations c ON c.number = m.conversation \
                 WHERE m.id IN (SELECT value FROM json_each($1))",
                format!("[{list}]"),
            ),
            Dialect::Postgres => (
                "SELECT m.id, c.subject, m.body_text FROM messages m JOIN conversations c ON c.number = m.conversation \
                 WHERE m.id = ANY(CAST($1 AS TEXT)::BIGINT[])",
                format!("{{{list}}}"),
            ),
        };
        run!(long_read self, |p| Ok(sqlx::query_as(sql).bind(&literal).fetch_all(p).await?))
    }
}

impl Store {
    /// Folds the queue counters back into one row per key (PostgreSQL appends a row per change;
    /// see migration 0015). Safe beside concurrent changes: it deletes and sums only the rows
    /// its statement sees, and rows committed meanwhile stay as they are. Answers the rows
    /// folded. Nothing to do on SQLite.
    pub async fn compact_queue_counters(&self) -> Result<u64> {
        let Pools::Postgres(pool) = &self.pools else {
            return Ok(0);
        };
        let folded = sqlx::query(
            "WITH gone AS (DELETE FROM queue_counters RETURNING group_id, assignee_id, status, merged_into, n) \
             INSERT INTO queue_counters (group_id, assignee_id, status, merged_into, n) \
             SELECT group_id, assignee_id, status, merged_into, SUM(n) FROM gone \
             GROUP BY group_id, assignee_id, status, merged_into HAVING SUM(n) <> 0",
        )
        .execute(pool)
        .await?
        .rows_affected();
        Ok(folded)
    }

    pub async fn conversation(&self, number: i64) -> Result<Option<ConversationRow>> {
        let sql = format!("SELECT {CONVERSATION_COLUMNS} FROM conversations c WHERE c.number = $1");
        run!(read self, |p| Ok(sqlx::query_as(&sql).bind(number).fetch_optional(p).await?))
    }

    /// Conversations by number, in the order asked.
    pub async fn conversations_by_number(&self, numbers: &[i64]) -> Result<Vec<ConversationRow>> {
        if numbers.is_empty() {
            return Ok(Vec::new());
        }
        let list: Vec<String> = (1..=numbers.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations c WHERE c.number IN ({})",
            list.join(", ")
        );
        let args: Vec<Arg> = numbers.iter().map(|n| Arg::Int(*n)).collect();
        let mut rows: Vec<ConversationRow> =
            run!(read self, |p| bind_all!(sqlx::query_as(&sql), &args).fetch_all(p).await?);
        rows.sort_by_key(|r| numbers.iter().position(|n| *n == r.number));
        Ok(rows)
    }

    pub async fn messages(&self, conversation: i64) -> Result<Vec<MessageRow>> {
        run!(read self, |p| Ok(sqlx::query_as("SELECT * FROM messages WHERE conversation = $1 ORDER BY created_at, id")
            .bind(conversation).fetch_all(p).await?))
    }

    pub async fn attachments_of_conversation(
        &self,
        conversation: i64,
    ) -> Result<Vec<AttachmentRow>> {
        run!(read self, |p| Ok(sqlx::query_as(
            "SELECT a.* FROM attachments a JOIN messages m ON m.id = a.message_id WHERE m.conversation = $1 ORDER BY a.id")
            .bind(conversation).fetch_all(p).await?))
    }

    /// An attachment with the conversation it belongs to.
    pub async fn attachment(&self, id: i64) -> Result<Option<(AttachmentRow, i64)>> {
        let row: Option<AttachmentRow> = run!(read self, |p| sqlx::query_as("SELECT * FROM attachments WHERE id = $1")
            .bind(id).fetch_optional(p).await?);
        let Some(row) = row else { return Ok(None) };
        let conversation: i64 = run!(read self, |p| sqlx::query_scalar("SELECT conversation FROM messages WHERE id = $1")
            .bind(row.message_id).fetch_one(p).await?);
        Ok(Some((row, conversation)))
    }

    pub async fn blob(&self, address: &str) -> Result<Option<Vec<u8>>> {
        run!(read self, |p| Ok(sqlx::query_scalar("SELECT data FROM blobs WHERE sha256 = $1").bind(address).fetch_optional(p).await?))
    }

    /// One page of the conversations this visibility allows, filtered and sorted, with the total.
    pub async fn list_conversations(
        &self,
        visibility: &Visibility,
        filter: &ConversationFilter,
        sort: ConversationSort,
        after: Option<(i64, i64)>,
        limit: u32,
    ) -> Result<ConversationPage> {
        // A search runs once: the page and the count both take its matches.
        let (search_ids, total_is_lower_bound) = match &filter.q {
            Some(q) => {
                let (ids, more) = self.search_candidates(q).await?;
                (Some(ids), more)
            }
            None => (None, false),
        };
        let mut w = Where {
            search_ids: search_ids.clone(),
            ..Where::default()
        };
        w.visibility(visibility);
        w.filter(filter, self.dialect());
        // Queues filtered only by status, group, assignee and who may see them are counted
        // from the trigger-kept counters; anything else (tags, search, a customer) by COUNT.
        let countable = filter.tag.is_none()
            && filter.q.is_none()
            && filter.customer_id.is_none()
            && !filter.include_merged
            && !matches!(visibility, Visibility::Customer(_));
        // A queue of one tag is counted from that tag's rows, which carry the conversation's
        // status, group, assignee and merge (migration 0016).
        let by_tag_rows = filter.tag.is_some()
            && filter.q.is_none()
            && filter.customer_id.is_none()
            && !matches!(visibility, Visibility::Customer(_));
        let (count_sql, count_args) = if countable {
            let sql = format!(
                "SELECT CAST(COALESCE(SUM(c.n), 0) AS BIGINT) FROM queue_counters c WHERE {}",
                w.sql()
            );
            (sql, w.args.clone())
        } else if let (true, Some(tag)) = (by_tag_rows, &filter.tag) {
            let mut t = Where {
                search_ids: search_ids.clone(),
                ..Where::default()
            };
            t.visibility(visibility);
            let untagged = ConversationFilter {
                tag: None,
                ..filter.clone()
            };
            t.filter(&untagged, self.dialect());
            let p = t.arg(Arg::Text(tag.clone()));
            t.push(format!("c.tag = {p}"));
            let sql = format!("SELECT COUNT(*) FROM conversation_tags c WHERE {}", t.sql());
            (sql, t.args)
        } else {
            let sql = format!("SELECT COUNT(*) FROM conversations c WHERE {}", w.sql());
            (sql, w.args.clone())
        };

        let dir = if sort.descending() { "DESC" } else { "ASC" };
        let op = if sort.descending() { "<" } else { ">" };
        let sources = sort.sources();
        // One branch per status and per way of seeing (an agent sees conversations of their
        // groups, assigned to them, or, for leads, in no group): each branch walks one index
        // range and stops after a page, instead of sorting every matching row. A search is
        // already bounded by its candidates, and a listing without a status walks the
        // (updated_at) index, so both stay one branch.
        let split = filter.q.is_none() && !filter.statuses.is_empty();
        let status_sets: Vec<Vec<String>> = if split {
            filter.statuses.iter().map(|s| vec![s.clone()]).collect()
        } else {
            vec![filter.statuses.clone()]
        };
        let ways: Vec<Way> = match visibility {
            Visibility::Agent {
                agent_id,
                groups,
                include_ungrouped,
            } if split => {
                let mut ways = vec![Way::AssignedTo(*agent_id)];
                ways.extend(groups.iter().map(|g| Way::InGroup(*g)));
                if *include_ungrouped {
                    ways.push(Way::InNoGroup);
                }
                ways
            }
            other => vec![Way::Whole(other.clone())],
        };
        let mut page = Where {
            search_ids,
            ..Where::default()
        };
        let mut branches = Vec::new();
        for statuses in &status_sets {
            for way in &ways {
                for source in &sources {
                    let mut branch_filter = filter.clone();
                    branch_filter.statuses = statuses.clone();
                    page.way(way);
                    page.filter(&branch_filter, self.dialect());
                    if let Some(condition) = source.condition {
                        page.push(condition.to_string());
                    }
                    if let Some((value, number)) = after {
                        let v = page.arg(Arg::Int(value));
                        let n = page.arg(Arg::Int(number));
                        page.push(format!("({}, c.number) {op} ({v}, {n})", source.key));
                    }
                    let limit_param = page.arg(Arg::Int(i64::from(limit) + 1));
                    branches.push(format!(
                        "SELECT * FROM (SELECT {CONVERSATION_COLUMNS}, CAST({} AS BIGINT) AS sort_key FROM {} WHERE {} ORDER BY {} LIMIT {limit_param}) AS b{}",
                        source.key,
                        source.from,
                        page.sql(),
                        source.order,
                        branches.len()
                    ));
                    page.clauses.clear();
                }
            }
        }
        // Each branch brings at most a page; a conversation seen two ways (my group and
        // assigned to me) comes twice and is kept once below.
        let page_sql = format!(
            "SELECT * FROM ({}) AS u ORDER BY u.sort_key {dir}, u.number {dir}",
            branches.join(" UNION ALL ")
        );
        let rows: Vec<SortedRow> = run!(long_read self, |p| bind_all!(sqlx::query_as(&page_sql), &page.args).fetch_all(p).await?);
        let total: i64 = run!(long_read self, |p| bind_all!(sqlx::query_scalar(&count_sql), &count_args).fetch_one(p).await?);
        let mut seen = std::collections::HashSet::new();
        let mut rows = rows;
        rows.retain(|r| seen.insert(r.row.number));
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next = if more {
            rows.last().map(|r| (r.sort_key, r.row.number))
        } else {
            None
        };
        let items: Vec<ConversationRow> = rows.into_iter().map(|r| r.row).collect();
        Ok(ConversationPage {
            items,
            total,
            next,
            total_is_lower_bound,
        })
    }

    /// The most recent messages that match a search, at most [`SEARCH_CANDIDATES`], as an
    /// array literal of the dialect, and whether more matched.
    async fn search_candidates(&self, q: &str) -> Result<(String, bool)> {
        let limit = SEARCH_CANDIDATES + 1;
        let mut ids = self
            .search_message_ids(q, SEARCH_WALK_FIRST, SEARCH_WALK_SHARE, limit)
            .await?;
        let more = ids.len() as i64 > SEARCH_CANDIDATES;
        ids.truncate(SEARCH_CANDIDATES as usize);
        let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        let literal = match self.dialect() {
            Dialect::Sqlite => format!("[{list}]"),
            Dialect::Postgres => format!("{{{list}}}"),
        };
        Ok((literal, more))
    }

    /// The `limit` most recent messages that match `q`, newest first.
    ///
    /// SQLite's FTS5 index answers in id order at once. PostgreSQL's GIN index gives every
    /// match unordered, and reading each matching row to sort them costs about 1.5 µs a row:
    /// 100 ms for a two-word search that matches 66,000 of 3,000,000 messages. So PostgreSQL
    /// first reads the newest `walk` rows in id order, testing each (about 0.2 µs a row: 18.7 ms
    /// for 100,000; a common search stops as soon as it has `limit`). What it found there says how common
    /// the search is: at `walk_share` or more it reads on in order, at most twice as
    /// far as that share says it needs; whatever is still missing (all of it, for a rarer
    /// search) comes from the GIN index, below the rows already read, where the matches are
    /// then few. Either way the answer is the same as sorting every match.
    /// `walk` and `walk_share` are parameters for the tests; [`SEARCH_WALK_FIRST`] and
    /// [`SEARCH_WALK_SHARE`] otherwise.
    #[doc(hidden)]
    pub async fn search_message_ids(
        &self,
        q: &str,
        walk: i64,
        walk_share: f64,
        limit: i64,
    ) -> Result<Vec<i64>> {
        let pool = match &self.pools {
            crate::Pools::Postgres(pool) => pool,
            crate::Pools::Sqlite { .. } => {
                let q = fts5_query(q);
                return run!(long_read self, |p| Ok(sqlx::query_scalar(
                    "SELECT rowid FROM message_search WHERE message_search MATCH $1 ORDER BY rowid DESC LIMIT $2")
                    .bind(&q).bind(limit).fetch_all(p).await?));
            }
        };
        let mut ids: Vec<i64> = Vec::new();
        // Below this id (exclusive); the first window starts at the newest message.
        let mut below = i64::MAX;
        let mut window = walk.max(1);
        for pass in 0..2 {
            let rest = limit - ids.len() as i64;
            // `(doc @@ query) IS TRUE` is the same test in a form the GIN index cannot serve,
            // so the planner walks the primary key backwards and stops at the LIMIT. The
            // query is a sub-select so that it is parsed once, not once a row (a cached plan
            // does not fold `plainto_tsquery($1)`: 6 to 7 times slower).
            let found: Vec<i64> = sqlx::query_scalar(
                "SELECT message_id FROM (SELECT message_id, doc FROM message_search WHERE message_id < $2 \
                 ORDER BY message_id DESC LIMIT $3) AS newest \
                 WHERE (doc @@ (SELECT plainto_tsquery('simple', $1))) IS TRUE ORDER BY message_id DESC LIMIT $4")
                .bind(q).bind(below).bind(window).bind(rest).fetch_all(pool).await?;
            let share = found.len() as f64 / window as f64;
            ids.extend(found);
            if ids.len() as i64 >= limit {
                return Ok(ids);
            }
            // The oldest row of the window; older matches come from below it.
            let (oldest, read): (Option<i64>, i64) = sqlx::query_as(
                "SELECT MIN(message_id), COUNT(*) FROM (SELECT message_id FROM message_search WHERE message_id < $1 \
                 ORDER BY message_id DESC LIMIT $2) AS newest")
                .bind(below).bind(window).fetch_one(pool).await?;
            match oldest {
                Some(oldest) if read == window => below = oldest,
                // The window reached the first message: every row was read.
                _ => return Ok(ids),
            }
            let rest = limit - ids.len() as i64;
            if pass == 0 && share >= walk_share {
                // Common: read on in order, about twice as far as the share says is needed.
                window = ((2 * rest) as f64 / share).ceil().min(i64::MAX as f64) as i64;
                continue;
            }
            break;
        }
        // Rare below `below` (or a second window did not fill): the GIN index finds the
        // older matches, planned for these values each time rather than by a cached plan.
        let rest = limit - ids.len() as i64;
        let older: Vec<i64> = sqlx::query_scalar(
            "SELECT message_id FROM message_search WHERE doc @@ plainto_tsquery('simple', $1) AND message_id < $2 \
             ORDER BY message_id DESC LIMIT $3")
            .persistent(false).bind(q).bind(below).bind(rest).fetch_all(pool).await?;
        ids.extend(older);
        Ok(ids)
    }

    pub async fn queue_counts(
        &self,
        visibility: &Visibility,
        agent_id: Option<i64>,
    ) -> Result<QueueCounts> {
        let mut base = Where::default();
        base.visibility(visibility);
        base.push("c.merged_into IS NULL".into());
        let scope = base.sql();
        // Customers' scope is by customer, which the counters do not key on.
        let table = if matches!(visibility, Visibility::Customer(_)) {
            "(SELECT group_id, assignee_id, status, customer_id, merged_into, 1 AS n FROM conversations)"
        } else {
            "queue_counters"
        };
        // The tag rows carry what the scope asks of an agent (migration 0016); a customer's
        // scope needs the conversation.
        let tags = if matches!(visibility, Visibility::Customer(_)) {
            "(SELECT t.tag, x.group_id, x.assignee_id, x.status, x.customer_id, x.merged_into \
              FROM conversation_tags t JOIN conversations x ON x.number = t.conversation)"
        } else {
            "conversation_tags"
        };
        let sum = "CAST(COALESCE(SUM(c.n), 0) AS BIGINT)";
        let by_status_sql = format!(
            "SELECT c.status, {sum} FROM {table} c WHERE {scope} AND {UNSOLVED} GROUP BY c.status"
        );
        let unassigned_sql = format!(
            "SELECT {sum} FROM {table} c WHERE {scope} AND {UNSOLVED} AND c.assignee_id IS NULL"
        );
        let by_group_sql =
            format!("SELECT c.group_id, {sum} FROM {table} c WHERE {scope} AND {UNSOLVED} GROUP BY c.group_id HAVING {sum} > 0 ORDER BY c.group_id");
        let by_tag_sql = format!(
            "SELECT c.tag, COUNT(*) AS n FROM {tags} c WHERE {scope} AND {UNSOLVED} GROUP BY c.tag ORDER BY n DESC, c.tag LIMIT 20"
        );
        let args = &base.args;
        let by_status: Vec<(String, i64)> = run!(long_read self, |p| bind_all!(sqlx::query_as(&by_status_sql), args).fetch_all(p).await?);
        let unassigned: i64 = run!(long_read self, |p| bind_all!(sqlx::query_scalar(&unassigned_sql), args).fetch_one(p).await?);
        let by_group: Vec<(Option<i64>, i64)> = run!(long_read self, |p| bind_all!(sqlx::query_as(&by_group_sql), args).fetch_all(p).await?);
        let by_tag: Vec<(String, i64)> = run!(long_read self, |p| bind_all!(sqlx::query_as(&by_tag_sql), args).fetch_all(p).await?);
        let mine = match agent_id {
            Some(me) => {
                let sql = format!("SELECT {sum} FROM queue_counters c WHERE c.assignee_id = $1 AND {UNSOLVED} AND c.merged_into IS NULL");
                run!(long_read self, |p| sqlx::query_scalar(&sql).bind(me).fetch_one(p).await?)
            }
            None => 0,
        };
        let status = |s: &str| {
            by_status
                .iter()
                .filter(|(k, _)| k == s)
                .map(|(_, n)| *n)
                .sum::<i64>()
        };
        Ok(QueueCounts {
            mine,
            unassigned,
            open: status("new") + status("open"),
            pending: status("pending"),
            on_hold: status("on_hold"),
            by_group,
            by_tag,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_text_becomes_quoted_words() {
        assert_eq!(
            fts5_query("refund  NOT \"order\" 42*"),
            "\"refund\" \"not\" \"order\" \"42\""
        );
        assert_eq!(fts5_query("  ** "), "\"\"");
    }
}

stored_row! {
    /// The names a person needs beside a conversation row, fetched for a page in one query.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct ConversationDetail {
        pub number: i64,
        pub group_name: Option<String>,
        pub assignee_name: Option<String>,
        pub assignee_email: Option<String>,
        pub customer_name: Option<String>,
        pub customer_email: Option<String>,
        /// Tags separated by single spaces (tags never contain spaces).
        pub tags: Option<String>,
    }
}

impl Store {
    /// Group, assignee and customer names and the tags of several conversations.
    pub async fn conversation_details(&self, numbers: &[i64]) -> Result<Vec<ConversationDetail>> {
        if numbers.is_empty() {
            return Ok(Vec::new());
        }
        let list: Vec<String> = (1..=numbers.len()).map(|i| format!("${i}")).collect();
        let tags = match self.dialect() {
            Dialect::Sqlite => "(SELECT group_concat(tag, ' ') FROM (SELECT t.tag FROM conversation_tags t WHERE t.conversation = c.number ORDER BY t.tag))",
            Dialect::Postgres => "(SELECT string_agg(t.tag, ' ' ORDER BY t.tag) FROM conversation_tags t WHERE t.conversation = c.number)",
        };
        let sql = format!(
            "SELECT c.number, g.name AS group_name, a.name AS assignee_name, a.email AS assignee_email, cu.name AS customer_name, \
             (SELECT i.value FROM customer_identities i WHERE i.customer_id = c.customer_id AND i.kind = 'email' ORDER BY i.id LIMIT 1) AS customer_email, \
             {tags} AS tags \
             FROM conversations c LEFT JOIN groups g ON g.id = c.group_id LEFT JOIN agents a ON a.id = c.assignee_id \
             LEFT JOIN customers cu ON cu.id = c.customer_id WHERE c.number IN ({})",
            list.join(", ")
        );
        let args: Vec<Arg> = numbers.iter().map(|n| Arg::Int(*n)).collect();
        run!(read self, |p| Ok(bind_all!(sqlx::query_as(&sql), &args).fetch_all(p).await?))
    }
}
