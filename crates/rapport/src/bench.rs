//! `rapport bench api`: the foundation's speed, measured against a reference taken in the
//! same run (single-row commits on the same database), on a large synthetic dataset.
//!
//! 1. Loads N conversations with their customers, messages, tags and events (bulk, once;
//!    reused when the data directory already holds them).
//! 2. Measures the reference: single-row transactions per second on the same database.
//! 3. Starts `rapport serve` as a separate process and measures its idle memory.
//! 4. Creates conversations over HTTP from many concurrent clients for a fixed time.
//! 5. Reads first pages of filtered, sorted queues with their counts, and full-text searches.
//!
//! It prints a JSON report on stdout (medians and percentiles in milliseconds).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use domain::{Principal, Role, Scope};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use store::{Store, Value};

use crate::config::Config;
use crate::demo::samples;
use crate::now_millis;

pub struct BenchOptions {
    pub conversations: usize,
    pub events_per_conversation: usize,
    pub clients: usize,
    pub seconds: u64,
    pub reads: usize,
}

const DAY: i64 = 86_400_000;
const BENCH_PASSWORD: &str = "bench";

pub async fn api(config: &Config, options: &BenchOptions) -> anyhow::Result<()> {
    let store = config.open_store().await?;
    let app = app::App::new(store.clone(), config.settings());
    let existing = store.count(store::Table::Conversations).await?;
    if existing == 0 {
        load(&app, options).await?;
    } else {
        eprintln!("using the {existing} conversations already in the database");
    }
    let events = store.count(store::Table::Events).await?;
    let conversations = store.count(store::Table::Conversations).await?;
    let token = app
        .create_token(&Principal::System, "bench", &[Scope::Admin], now_millis())
        .await?
        .secret;

    eprintln!("measuring the reference: single-row commits for about 5 s");
    let started = Instant::now();
    let mut commits = 0u64;
    if config.database_url.is_none() {
        while started.elapsed() < Duration::from_secs(5) {
            store::sqlite_reference_commits(&config.data, 500).await?;
            commits += 500;
        }
        let _ = std::fs::remove_file(config.data.join("bench-reference.db"));
        let _ = std::fs::remove_file(config.data.join("bench-reference.db-wal"));
        let _ = std::fs::remove_file(config.data.join("bench-reference.db-shm"));
    } else {
        store.create_reference_table().await?;
        while started.elapsed() < Duration::from_secs(5) {
            store.reference_commit("{\"reference\": true}").await?;
            commits += 1;
        }
        store.drop_reference_table().await?;
    }
    let reference_per_second = commits as f64 / started.elapsed().as_secs_f64();
    store.close().await;

    let mut server = spawn_server(config)?;
    let url = server.1.clone();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let idle_rss_kib = rss_kib(server.0.id());
    eprintln!("server idle: {} MiB", idle_rss_kib / 1024);

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(options.clients * 2)
        .build()?;
    let cpu_before = cpu_seconds(server.0.id());
    let client_cpu_before = cpu_seconds(std::process::id());
    let database_cpu_before = local_postgres_cpu_seconds();
    let machine_cpu_before = machine_busy_seconds();
    let holds_before = writer_holds(&client, &url).await;
    let creates = create_load(&url, &token, options).await;
    let holds = writer_holds(&client, &url)
        .await
        .since(&holds_before, creates.seconds);
    let per_1000 = |seconds: f64| seconds / (creates.ok.max(1) as f64) * 1000.0;
    let server_cpu_per_1000 = per_1000(cpu_seconds(server.0.id()) - cpu_before);
    let client_cpu_per_1000 = per_1000(cpu_seconds(std::process::id()) - client_cpu_before);
    // Where the create's CPU went: PostgreSQL's own processes when it runs on this machine,
    // and everything the machine did (other processes included), against the cores there are.
    let database_cpu_per_1000 = match (
        &config.database_url,
        database_cpu_before,
        local_postgres_cpu_seconds(),
    ) {
        (Some(_), Some(before), Some(after)) => Some(round(per_1000(after - before))),
        _ => None,
    };
    let machine_cpu_per_1000 = match (machine_cpu_before, machine_busy_seconds()) {
        (Some(before), Some(after)) => Some(round(per_1000(after - before))),
        _ => None,
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let created_per_second = creates.ok as f64 / creates.seconds;
    eprintln!(
        "created {} conversations in {:.1} s with {} clients",
        creates.ok, creates.seconds, options.clients
    );

    let login = client
        .post(format!("{url}/api/v1/auth/login"))
        .json(&json!({"email": "agent@bench.test", "password": BENCH_PASSWORD}))
        .send()
        .await?;
    let cookie = login
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(String::from)
        .context("the bench agent can sign in")?;
    let queues = [
        "/api/v1/conversations?status=new,open&sort=-updated_at&limit=25",
        "/api/v1/conversations?status=unsolved&assignee=none&sort=-updated_at&limit=25",
        "/api/v1/conversations?status=pending&sort=-updated_at&limit=25",
        "/api/v1/conversations?assignee=me&status=unsolved&sort=-priority&limit=25",
        "/api/v1/conversations?tag=refund&status=unsolved&limit=25",
        "/api/v1/conversations?limit=25",
    ];
    let queue_paths: Vec<String> = queues.iter().map(|q| q.to_string()).collect();
    let (queue_ms, queue_by_path) =
        timed_gets(&client, &url, &cookie, &queue_paths, options.reads).await?;
    let words = [
        "refund",
        "invoice",
        "delivery",
        "password",
        "cancel order",
        "address",
        "card",
        "payment",
        "account",
        "shipping",
    ];
    let search_paths: Vec<String> = words
        .iter()
        .map(|w| format!("/api/v1/conversations?q={}&limit=25", w.replace(' ', "+")))
        .collect();
    let (search_ms, search_by_path) =
        timed_gets(&client, &url, &cookie, &search_paths, options.reads).await?;
    let busy_rss_kib = rss_kib(server.0.id());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after_rss_kib = rss_kib(server.0.id());

    let _ = Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status();
    let _ = server.0.wait();

    let report = json!({
        "database": if config.database_url.is_some() { "postgres" } else { "sqlite" },
        "dataset": {"conversations": conversations, "events": events},
        "reference_single_row_commits_per_second": round(reference_per_second),
        "create_over_http": {
            "clients": options.clients,
            "seconds": round(creates.seconds),
            "created": creates.ok,
            "errors": creates.errors,
            "per_second": round(created_per_second),
            "ratio_to_reference": round(created_per_second / reference_per_second),
            "p50_ms": round(percentile(&creates.latencies_ms, 0.50)),
            "p99_ms": round(percentile(&creates.latencies_ms, 0.99)),
            "server_cpu_seconds_per_1000": round(server_cpu_per_1000),
            "load_generator_cpu_seconds_per_1000": round(client_cpu_per_1000),
            "database_cpu_seconds_per_1000": database_cpu_per_1000,
            "machine_cpu_seconds_per_1000": machine_cpu_per_1000,
            "cores": cores,
            // The most creates a second these cores could give at this CPU cost per create.
            "cpu_ceiling_per_second": machine_cpu_per_1000.filter(|c| *c > 0.0).map(|c| round(cores as f64 * 1000.0 / c)),
        },
        "sqlite_writer_holds_during_creates": holds,
        "queue_first_page_with_count": summary(&queue_ms),
        "queue_first_page_by_queue": queue_by_path.iter().map(|(path, ms)| (path.clone(), summary(ms))).collect::<serde_json::Map<_, _>>(),
        "full_text_search": summary(&search_ms),
        "full_text_search_by_query": search_by_path.iter().map(|(path, ms)| (path.clone(), summary(ms))).collect::<serde_json::Map<_, _>>(),
        "server_rss_mib": {
            "idle_after_start": round(idle_rss_kib as f64 / 1024.0),
            "after_reads": round(busy_rss_kib as f64 / 1024.0),
            "idle_after_load": round(after_rss_kib as f64 / 1024.0),
        },
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

/// The server's `rapport_sqlite_writer_hold_seconds` summaries (SQLite only), by site:
/// count, total seconds and the window's largest.
#[derive(Default)]
struct WriterHolds(std::collections::BTreeMap<String, (f64, f64, f64)>);

async fn writer_holds(client: &reqwest::Client, url: &str) -> WriterHolds {
    let Ok(answer) = client.get(format!("{url}/metrics")).send().await else {
        return WriterHolds::default();
    };
    let text = answer.text().await.unwrap_or_default();
    let mut holds = WriterHolds::default();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("rapport_sqlite_writer_hold_seconds") else {
            continue;
        };
        let Some((labels, value)) = rest.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        let Some(site) = labels
            .split("site=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
        else {
            continue;
        };
        let entry = holds.0.entry(site.to_string()).or_default();
        if labels.starts_with("_count") {
            entry.0 = value;
        } else if labels.starts_with("_sum") {
            entry.1 = value;
        } else if labels.contains("quantile=\"1\"") {
            entry.2 = value;
        }
    }
    holds
}

impl WriterHolds {
    /// What happened between `before` and now, over `seconds` of wall time, busiest first.
    fn since(&self, before: &WriterHolds, seconds: f64) -> serde_json::Value {
        let mut sites: Vec<(String, f64, f64, f64)> = self
            .0
            .iter()
            .map(|(site, (count, sum, max))| {
                let (count0, sum0, _) = before.0.get(site).copied().unwrap_or_default();
                (site.clone(), count - count0, sum - sum0, *max)
            })
            .filter(|(_, count, _, _)| *count > 0.0)
            .collect();
        sites.sort_by(|a, b| b.2.total_cmp(&a.2));
        let busy: f64 = sites.iter().map(|s| s.2).sum();
        json!({
            "busy_percent_of_wall_time": round(busy / seconds.max(f64::EPSILON) * 100.0),
            "by_site": sites.iter().take(12).map(|(site, count, sum, max)| json!({
                "site": site,
                "holds": count,
                "percent_of_wall_time": round(sum / seconds.max(f64::EPSILON) * 100.0),
                "mean_ms": round(sum / count * 1000.0),
                "max_ms_recent": round(max * 1000.0),
            })).collect::<Vec<_>>(),
        })
    }
}

pub(crate) fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

pub(crate) fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((sorted.len() as f64) * q).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn summary(sorted: &[f64]) -> serde_json::Value {
    json!({"requests": sorted.len(), "p50_ms": round(percentile(sorted, 0.5)), "p99_ms": round(percentile(sorted, 0.99)), "max_ms": round(sorted.last().copied().unwrap_or(f64::NAN))})
}

pub(crate) fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// CPU time (user + system) a process has used, in seconds.
pub(crate) fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name, which is in parentheses and may hold spaces.
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name; 100 ticks a second.
    (ticks(11) + ticks(12)) / 100.0
}

/// CPU seconds used so far by the PostgreSQL server processes on this machine (every process
/// named `postgres`), or `None` when there is none (SQLite, or a remote server).
fn local_postgres_cpu_seconds() -> Option<f64> {
    let mut total = None;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let is_postgres = std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .is_ok_and(|comm| comm.trim_end() == "postgres");
        if is_postgres {
            *total.get_or_insert(0.0) += cpu_seconds(pid);
        }
    }
    total
}

/// CPU seconds the whole machine has been busy (user, nice, system, irq, softirq; all cores).
fn machine_busy_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let ticks: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq: all but idle and iowait.
    let busy = [0, 1, 2, 5, 6]
        .iter()
        .filter_map(|&i| ticks.get(i))
        .sum::<f64>();
    Some(busy / 100.0)
}

fn spawn_server(config: &Config) -> anyhow::Result<(std::process::Child, String)> {
    let exe = std::env::current_exe()?;
    let mut command = Command::new(exe);
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(&config.data);
    if let Some(url) = &config.database_url {
        command.args(["--database-url", url]);
    }
    let mut child = command
        .env("RAPPORT_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .context("start rapport serve")?;
    let stdout = child.stdout.take().context("server stdout")?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let url = line
        .trim()
        .rsplit(' ')
        .next()
        .unwrap_or_default()
        .trim_end_matches('/')
        .to_string();
    anyhow::ensure!(
        url.starts_with("http://"),
        "the server did not start: {line}"
    );
    Ok((child, url))
}

struct CreateLoad {
    ok: u64,
    errors: u64,
    seconds: f64,
    latencies_ms: Vec<f64>,
}

/// The create load: each client holds one keep-alive HTTP/1.1 connection (hyper's, without
/// reqwest's pool), so the load generator, which shares the machine's cores with the server,
/// costs as little as it can.
async fn create_load(url: &str, token: &str, options: &BenchOptions) -> CreateLoad {
    let deadline = Instant::now() + Duration::from_secs(options.seconds);
    let started = Instant::now();
    let texts = Arc::new(samples());
    let authority = url.trim_start_matches("http://").to_string();
    let authorization = format!("Bearer {token}");
    let mut tasks = Vec::new();
    for worker in 0..options.clients {
        let (authority, authorization, texts) =
            (authority.clone(), authorization.clone(), texts.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            let mut rng = StdRng::seed_from_u64(worker as u64);
            let mut i = 0u64;
            let mut connection = None;
            while Instant::now() < deadline {
                i += 1;
                let sample = &texts[rng.gen_range(0..texts.len())];
                let body = json!({
                    "subject": sample.subject,
                    "customer": {"email": format!("load{worker}-{i}@bench.test"), "name": "Load Test"},
                    "message": {"kind": "customer", "text": sample.customer_text},
                    "channel": "email",
                    "tags": [sample.category],
                });
                let sent = Instant::now();
                match post_json(&mut connection, &authority, &authorization, &body).await {
                    Ok(201) => latencies.push(sent.elapsed().as_secs_f64() * 1000.0),
                    Ok(_) => errors += 1,
                    Err(_) => {
                        errors += 1;
                        connection = None;
                    }
                }
            }
            (latencies, errors)
        }));
    }
    let mut latencies_ms = Vec::new();
    let mut errors = 0;
    for task in tasks {
        if let Ok((l, e)) = task.await {
            latencies_ms.extend(l);
            errors += e;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    latencies_ms.sort_by(f64::total_cmp);
    CreateLoad {
        ok: latencies_ms.len() as u64,
        errors,
        seconds,
        latencies_ms,
    }
}

type Connection = hyper::client::conn::http1::SendRequest<http_body_util::Full<bytes::Bytes>>;

/// POSTs `body` to `/api/v1/conversations` over `connection`, opening it when there is none,
/// reads the whole answer and returns its status.
async fn post_json(
    connection: &mut Option<Connection>,
    authority: &str,
    authorization: &str,
    body: &serde_json::Value,
) -> anyhow::Result<u16> {
    if connection.is_none() {
        let stream = tokio::net::TcpStream::connect(authority).await?;
        stream.set_nodelay(true)?;
        let (sender, driver) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
        tokio::spawn(driver);
        *connection = Some(sender);
    }
    let sender = connection.as_mut().context("a connection")?;
    sender.ready().await?;
    let request = hyper::Request::post("/api/v1/conversations")
        .header("host", authority)
        .header("authorization", authorization)
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(bytes::Bytes::from(
            serde_json::to_vec(body)?,
        )))?;
    let response = sender.send_request(request).await?;
    let status = response.status().as_u16();
    http_body_util::BodyExt::collect(response.into_body()).await?;
    Ok(status)
}

/// GETs the paths round-robin, one at a time, and returns the sorted latencies in ms, in
/// all and per path.
async fn timed_gets(
    client: &reqwest::Client,
    url: &str,
    cookie: &str,
    paths: &[String],
    count: usize,
) -> anyhow::Result<(Vec<f64>, Vec<(String, Vec<f64>)>)> {
    let mut latencies = Vec::with_capacity(count);
    let mut by_path: Vec<(String, Vec<f64>)> =
        paths.iter().map(|p| (p.clone(), Vec::new())).collect();
    for i in 0..count {
        let path = &paths[i % paths.len()];
        let sent = Instant::now();
        let response = client
            .get(format!("{url}{path}"))
            .header("cookie", cookie)
            .send()
            .await?;
        let status = response.status();
        let _ = response.bytes().await?;
        anyhow::ensure!(status.is_success(), "GET {path} answered {status}");
        let ms = sent.elapsed().as_secs_f64() * 1000.0;
        latencies.push(ms);
        by_path[i % paths.len()].1.push(ms);
    }
    latencies.sort_by(f64::total_cmp);
    for (_, ms) in &mut by_path {
        ms.sort_by(f64::total_cmp);
    }
    Ok((latencies, by_path))
}

/// Bulk-loads a synthetic but realistic dataset: most conversations closed, a backlog of
/// new, open and pending ones, three messages and N events each, over the past year.
pub(crate) async fn load(app: &app::App, options: &BenchOptions) -> anyhow::Result<()> {
    let store: &Store = &app.store;
    let n = options.conversations;
    let now = now_millis();
    let start = now - 365 * DAY;
    let system = Principal::System;
    let mut groups = Vec::new();
    for name in ["Support", "Billing", "Technical"] {
        groups.push(app.add_group(&system, name, start).await?);
    }
    let mut agents = Vec::new();
    let team: [(&str, Role, &[&str]); 6] = [
        ("agent@bench.test", Role::Agent, &["Support"]),
        ("lead@bench.test", Role::Lead, &["Support", "Billing"]),
        ("billing@bench.test", Role::Agent, &["Billing"]),
        ("tech@bench.test", Role::Agent, &["Technical"]),
        ("tech2@bench.test", Role::Agent, &["Technical"]),
        ("manager@bench.test", Role::Manager, &[]),
    ];
    for (email, role, agent_groups) in team {
        let names: Vec<String> = agent_groups.iter().map(|g| g.to_string()).collect();
        let id = app
            .add_agent(&system, email, email, role, BENCH_PASSWORD, &names, start)
            .await?;
        let group = agent_groups.first().map(|g| {
            groups[["Support", "Billing", "Technical"]
                .iter()
                .position(|x| x == g)
                .unwrap_or(0)]
        });
        agents.push((id, group));
    }
    let texts = samples();
    let mut rng = StdRng::seed_from_u64(7);
    let customers = (n / 5).max(1);
    store.set_bulk_load(true).await?;
    let started = Instant::now();

    const BATCH: usize = 20_000;
    for first in (0..customers).step_by(BATCH) {
        let mut tx = store.begin().await?;
        let mut people = Vec::new();
        let mut identities = Vec::new();
        for id in first + 1..=(first + BATCH).min(customers) {
            let id = id as i64;
            people.push(vec![
                Value::Int(id),
                Value::Text(format!("Customer {id}")),
                Value::Int(start),
            ]);
            identities.push(vec![
                Value::Int(id),
                Value::Int(id),
                Value::Text("email".into()),
                Value::Text(format!("customer{id}@bench.test")),
                Value::Int(start),
            ]);
        }
        tx.insert_rows("customers", &["id", "name", "created_at"], &people)
            .await?;
        tx.insert_rows(
            "customer_identities",
            &["id", "customer_id", "kind", "value", "created_at"],
            &identities,
        )
        .await?;
        tx.commit().await?;
    }

    let mut message_id = 0i64;
    // Setting up the team above already wrote events (group_added, agent_added).
    let mut event_id = store.last_event_id().await?;
    let per_batch = 5_000;
    for first in (0..n).step_by(per_batch) {
        let mut conversations = Vec::new();
        let mut messages = Vec::new();
        let mut events = Vec::new();
        let mut tags = Vec::new();
        for number in first + 1..=(first + per_batch).min(n) {
            let number = number as i64;
            let created =
                start + (number - 1) * (365 * DAY) / n as i64 + rng.gen_range(0..3_600_000);
            let sample = &texts[rng.gen_range(0..texts.len())];
            let age = now - created;
            let roll = rng.gen_range(0..1000);
            let status = if age > 14 * DAY {
                if roll < 3 {
                    "pending"
                } else {
                    "closed"
                }
            } else {
                match roll {
                    0..=99 => "new",
                    100..=299 => "open",
                    300..=449 => "pending",
                    450..=499 => "on_hold",
                    500..=799 => "solved",
                    _ => "closed",
                }
            };
            let (agent, group) = agents[rng.gen_range(0..agents.len() - 1)];
            let group = group.unwrap_or(groups[0]);
            let assignee = if status == "new" || rng.gen_bool(0.05) {
                Value::Null
            } else {
                Value::Int(agent)
            };
            let updated = created + rng.gen_range(60_000..3 * DAY).min(age.max(60_000));
            let solved = matches!(status, "solved" | "closed").then_some(updated);
            let closed = (status == "closed").then_some(updated + 4 * DAY);
            let customer = rng.gen_range(1..=customers as i64);
            let priority = match rng.gen_range(0..100) {
                0..=9 => 0,
                10..=79 => 1,
                80..=94 => 2,
                _ => 3,
            };
            let opt = |v: Option<i64>| v.map(Value::Int).unwrap_or(Value::Null);
            conversations.push(vec![
                Value::Int(number),
                Value::Text(sample.subject.clone()),
                Value::Text(["email", "web", "chat", "phone"][rng.gen_range(0..4)].into()),
                Value::Text(status.into()),
                Value::Int(priority),
                Value::Int(group),
                assignee,
                Value::Int(customer),
                Value::Text("{}".into()),
                Value::Int(3),
                Value::Int(created),
                Value::Int(closed.unwrap_or(updated)),
                opt(solved),
                opt(closed),
            ]);
            let reply = sample.agent_reply.clone().unwrap_or_else(|| {
                "Thanks for writing; I have looked into this and fixed it on our side.".into()
            });
            for (k, (kind, author_kind, author_id, text)) in [
                (
                    "customer",
                    "customer",
                    Value::Int(customer),
                    sample.customer_text.clone(),
                ),
                ("reply", "agent", Value::Int(agent), reply),
                (
                    "customer",
                    "customer",
                    Value::Int(customer),
                    "Thank you, that solved it.".to_string(),
                ),
            ]
            .into_iter()
            .enumerate()
            {
                message_id += 1;
                let html = domain::conversation::text_to_html(&text);
                messages.push(vec![
                    Value::Int(message_id),
                    Value::Int(number),
                    Value::Text(kind.into()),
                    Value::Text("email".into()),
                    Value::Text(author_kind.into()),
                    author_id,
                    Value::Text(text),
                    Value::Text(html),
                    Value::Int(created + k as i64 * 3_600_000),
                ]);
            }
            tags.push(vec![
                Value::Int(number),
                Value::Text(sample.category.clone()),
            ]);
            tags.push(vec![Value::Int(number), Value::Text(sample.intent.clone())]);
            let first_message = message_id - 2;
            let mut kinds: Vec<(&str, String)> = vec![
                (
                    "created",
                    format!(
                        r#"{{"kind":"created","subject":{},"channel":"email","status":"new","priority":"normal","customer_id":{customer},"group_id":{group},"assignee_id":null}}"#,
                        serde_json::Value::String(sample.subject.clone())
                    ),
                ),
                (
                    "message_added",
                    format!(
                        r#"{{"kind":"message_added","message_id":{first_message},"message_kind":"customer","channel":"email"}}"#
                    ),
                ),
                (
                    "assignee_changed",
                    format!(r#"{{"kind":"assignee_changed","from":null,"to":{agent}}}"#),
                ),
                (
                    "message_added",
                    format!(
                        r#"{{"kind":"message_added","message_id":{},"message_kind":"reply","channel":"email"}}"#,
                        first_message + 1
                    ),
                ),
                (
                    "status_changed",
                    r#"{"kind":"status_changed","from":"new","to":"open"}"#.into(),
                ),
                (
                    "message_added",
                    format!(
                        r#"{{"kind":"message_added","message_id":{},"message_kind":"customer","channel":"email"}}"#,
                        first_message + 2
                    ),
                ),
                (
                    "status_changed",
                    r#"{"kind":"status_changed","from":"open","to":"solved"}"#.into(),
                ),
                (
                    "status_changed",
                    r#"{"kind":"status_changed","from":"solved","to":"closed"}"#.into(),
                ),
            ];
            while kinds.len() < options.events_per_conversation {
                kinds.push((
                    "tag_added",
                    format!(
                        r#"{{"kind":"tag_added","tag":{}}}"#,
                        serde_json::Value::String(sample.category.clone())
                    ),
                ));
            }
            kinds.truncate(options.events_per_conversation);
            for (k, (kind, payload)) in kinds.into_iter().enumerate() {
                event_id += 1;
                events.push(vec![
                    Value::Int(event_id),
                    Value::Int(number),
                    Value::Text(kind.into()),
                    Value::Text("system".into()),
                    Value::Null,
                    Value::Int(created + k as i64 * 600_000),
                    Value::Text(payload),
                ]);
            }
        }
        let mut tx = store.begin().await?;
        tx.insert_rows(
            "conversations",
            &[
                "number",
                "subject",
                "channel",
                "status",
                "priority",
                "group_id",
                "assignee_id",
                "customer_id",
                "custom_fields",
                "message_count",
                "created_at",
                "updated_at",
                "solved_at",
                "closed_at",
            ],
            &conversations,
        )
        .await?;
        tx.insert_rows(
            "messages",
            &[
                "id",
                "conversation",
                "kind",
                "channel",
                "author_kind",
                "author_id",
                "body_text",
                "body_html",
                "created_at",
            ],
            &messages,
        )
        .await?;
        tx.insert_rows("conversation_tags", &["conversation", "tag"], &tags)
            .await?;
        tx.insert_rows(
            "events",
            &[
                "id",
                "conversation",
                "kind",
                "actor_kind",
                "actor_id",
                "at",
                "payload",
            ],
            &events,
        )
        .await?;
        tx.commit().await?;
        let done = (first + per_batch).min(n);
        if done % 100_000 == 0 || done == n {
            eprintln!(
                "loaded {done} conversations ({event_id} events) in {:.0} s",
                started.elapsed().as_secs_f64()
            );
        }
    }
    store.reset_sequences().await?;
    eprintln!("building the full-text index");
    let indexed = store
        .rebuild_search_index(app::SEARCH_CONSUMER, now)
        .await?;
    store.analyze().await?;
    store.set_bulk_load(false).await?;
    eprintln!(
        "indexed {indexed} messages; load done in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    // What an import does next: the other consumers catch up with the log before the server
    // takes traffic, so the measurements below are not of a catch-up running beside them.
    let caught_up = Instant::now();
    let sla = app.run_sla_clocks(5_000, now).await?;
    let sla_seconds = caught_up.elapsed().as_secs_f64();
    let kpi = app.rebuild_kpi_rollups(&system, 50_000, now).await?;
    eprintln!(
        "consumers caught up: SLA clocks over {sla} events in {sla_seconds:.1} s, KPI roll-ups over {kpi} events in {:.1} s",
        caught_up.elapsed().as_secs_f64() - sla_seconds
    );
    Ok(())
}
