//! `rapport`: the one binary. It reads the configuration, wires the store, the use cases
//! and the adapters together, and owns the real clock.

mod bench;
mod bench_imap;
mod bench_mail;
mod bench_process;
mod bench_ui;
mod cli_analyze;
mod cli_calendar;
mod cli_kpi;
mod cli_mail;
mod cli_mine;
mod cli_sla;
mod cli_survey;
mod config;
mod demo;
mod demo_surveys;
mod server;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use domain::{Principal, Role, Scope};

use crate::config::{Config, Overrides};

/// mimalloc instead of glibc's malloc: see the note in Cargo.toml.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "rapport",
    version,
    about = "Rapport: a customer service platform (help desk and service management)"
)]
struct Cli {
    /// A TOML configuration file (also RAPPORT_CONFIG).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone, Default)]
pub(crate) struct DbArgs {
    /// Data directory (SQLite database `rapport.db` inside).
    #[arg(long)]
    pub(crate) data: Option<PathBuf>,
    /// Use PostgreSQL instead of SQLite.
    #[arg(long)]
    pub(crate) database_url: Option<String>,
}

#[derive(Args, Clone, Default)]
struct MailListenArgs {
    /// HOST:PORT for the SMTP listener (mail for the support mailboxes).
    #[arg(long)]
    smtp_listen: Option<String>,
    /// HOST:PORT for the LMTP listener (an MTA in front delivers here).
    #[arg(long)]
    lmtp_listen: Option<String>,
}

/// The chat widget's settings (`chat_frame_ancestors`, `chat_max_sockets_per_address`).
#[derive(clap::Args, Default)]
struct ChatArgs {
    /// The sites that may embed the chat widget (CSP frame-ancestors), e.g. "'self' https://shop.example.com".
    #[arg(long)]
    chat_frame_ancestors: Option<String>,
    /// Chat sockets one client address may hold open at once.
    #[arg(long)]
    chat_max_sockets_per_address: Option<u32>,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the server.
    Serve {
        #[command(flatten)]
        db: DbArgs,
        /// HOST:PORT to listen on.
        #[arg(long)]
        listen: Option<String>,
        #[command(flatten)]
        mail: MailListenArgs,
        #[command(flatten)]
        chat: ChatArgs,
    },
    /// Seeds a realistic quarter of a service team's work (if the database is empty), then serves.
    Demo {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long)]
        listen: Option<String>,
        #[command(flatten)]
        mail: MailListenArgs,
        #[command(flatten)]
        chat: ChatArgs,
        /// Seed and exit.
        #[arg(long)]
        seed_only: bool,
        /// The seed of the generated data (same seed, same data).
        #[arg(long, default_value_t = 2026)]
        seed: u64,
        /// How many conversations to generate.
        #[arg(long, default_value_t = 5000)]
        conversations: usize,
    },
    /// Brings the database schema up to date.
    Migrate {
        #[command(flatten)]
        db: DbArgs,
    },
    /// Agents.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Groups (teams).
    Group {
        #[command(subcommand)]
        command: GroupCommand,
    },
    /// E-mail: parse, import, the quarantine.
    Mail {
        #[command(subcommand)]
        command: cli_mail::MailCommand,
    },
    /// Process mining for analysts: directly-follows graphs, variants, patterns, process maps (JSON on stdout).
    Mine {
        /// For FILE `-`: the data directory of the live database.
        #[arg(long, global = true)]
        data: Option<PathBuf>,
        /// For FILE `-`: the live PostgreSQL database.
        #[arg(long, global = true)]
        database_url: Option<String>,
        #[command(subcommand)]
        command: cli_mine::MineCommand,
    },
    /// Support mailboxes (the addresses Rapport receives mail for).
    Mailbox {
        #[command(subcommand)]
        command: MailboxCommand,
    },
    /// API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Customer-priority analyses (key drivers, importance–performance), JSON on stdout.
    Analyze {
        #[command(subcommand)]
        command: cli_analyze::AnalyzeCommand,
    },
    /// Business-time arithmetic on a calendar (prints only the answer).
    Calendar {
        #[command(subcommand)]
        command: cli_calendar::CalendarCommand,
    },
    /// Service standards: recompute the SLA clocks from the log.
    Sla {
        #[command(subcommand)]
        command: cli_sla::SlaCommand,
    },
    /// Management information: rebuild the KPI roll-ups, print KPI figures (JSON).
    Kpi {
        #[command(subcommand)]
        command: cli_kpi::KpiCommand,
    },
    /// Surveys: export priorities research for `rapport analyze`.
    Survey {
        #[command(subcommand)]
        command: cli_survey::SurveyCommand,
    },
    /// Benchmarks.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
    /// Writes a consistent copy of a live SQLite database.
    Backup {
        #[command(flatten)]
        db: DbArgs,
        /// The file to write (must not exist).
        #[arg(long)]
        to: PathBuf,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Server-side render time of the agent's page of a long conversation (JSON report).
    Ui {
        #[command(flatten)]
        db: DbArgs,
        /// Messages in the conversation.
        #[arg(long, default_value_t = 200)]
        messages: usize,
        /// Timed page requests.
        #[arg(long, default_value_t = 500)]
        requests: usize,
    },
    /// The SLA tick: finding the warnings and breaches due among many open conversations.
    Sla(cli_sla::BenchArgs),
    /// The manager's process map page on existing (demo) data: cold, warm, changing sliders
    /// and drill-downs (median and 99th percentile, JSON report).
    Process {
        #[command(flatten)]
        db: DbArgs,
        /// Timed page requests of each kind.
        #[arg(long, default_value_t = 200)]
        requests: usize,
    },
    /// The KPI roll-up consumer (events/s, full rebuild) and the manager dashboard's reads.
    Kpi(cli_kpi::BenchArgs),
    /// IMAP: drains a Dovecot INBOX of N messages (a Dovecot of its own) into fresh SQLite
    /// stores, ingestion running alongside; messages/s per run and the median.
    Imap {
        #[command(flatten)]
        db: DbArgs,
        /// Messages in the mailbox.
        #[arg(long, default_value_t = 10_000)]
        messages: usize,
        /// Approximate size of each message.
        #[arg(long, default_value_t = 10_240)]
        message_bytes: usize,
        /// Drains, each into a fresh store (the report gives the median).
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// Inbound mail: concurrent SMTP senders, each message counted after its 250, against
    /// the parse-and-insert ceiling measured in the same run.
    Smtp {
        #[command(flatten)]
        db: DbArgs,
        /// Concurrent SMTP connections.
        #[arg(long, default_value_t = 32)]
        senders: usize,
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// Approximate size of each message.
        #[arg(long, default_value_t = 10_240)]
        message_bytes: usize,
    },
    /// The foundation's targets: HTTP creates under concurrency, queue pages, search, memory.
    Api {
        #[command(flatten)]
        db: DbArgs,
        /// Conversations to load when the database is empty.
        #[arg(long, default_value_t = 1_000_000)]
        conversations: usize,
        /// Events per loaded conversation.
        #[arg(long, default_value_t = 10)]
        events_per_conversation: usize,
        /// Concurrent HTTP clients creating conversations.
        #[arg(long, default_value_t = 64)]
        clients: usize,
        /// How long to create conversations.
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// Queue-page and search requests (each).
        #[arg(long, default_value_t = 600)]
        reads: usize,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Adds an agent.
    Add {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "")]
        name: String,
        /// agent, lead, manager or admin.
        #[arg(long, default_value = "agent")]
        role: String,
        /// The password (or RAPPORT_PASSWORD).
        #[arg(long, env = "RAPPORT_PASSWORD", hide_env_values = true)]
        password: String,
        /// A group to join (repeatable).
        #[arg(long = "group")]
        groups: Vec<String>,
    },
}

#[derive(Subcommand)]
enum GroupCommand {
    /// Adds a group.
    Add {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand)]
enum MailboxCommand {
    /// Adds a support address; its new conversations go to --group.
    Add {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long)]
        address: String,
        #[arg(long, default_value = "")]
        name: String,
        /// The group that receives new conversations from this address.
        #[arg(long)]
        group: Option<String>,
        /// Send an automatic acknowledgement for new conversations.
        #[arg(long)]
        acknowledge: bool,
    },
    /// Lists the support addresses, one per line: address, group id, name.
    List {
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Creates an API token and prints it, alone, on stdout.
    Create {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long)]
        name: String,
        /// Comma-separated: conversations:read, conversations:write, customers:read, admin.
        #[arg(long, value_delimiter = ',')]
        scopes: Vec<String>,
    },
    /// Lists the tokens, one per line: id, name, scopes, created, revoked (never secrets).
    List {
        #[command(flatten)]
        db: DbArgs,
    },
    /// Revokes a token: its next request is refused.
    Revoke {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long)]
        id: i64,
    },
}

/// The real clock: milliseconds since the epoch. Only this binary reads it.
pub fn now_millis() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

pub(crate) fn load(
    cli_config: Option<PathBuf>,
    db: DbArgs,
    listen: Option<String>,
) -> anyhow::Result<Config> {
    load_with_mail(
        cli_config,
        db,
        listen,
        MailListenArgs::default(),
        ChatArgs::default(),
    )
}

fn load_with_mail(
    cli_config: Option<PathBuf>,
    db: DbArgs,
    listen: Option<String>,
    mail: MailListenArgs,
    chat: ChatArgs,
) -> anyhow::Result<Config> {
    Config::load(
        cli_config,
        Overrides {
            data: db.data,
            database_url: db.database_url,
            listen,
            smtp_listen: mail.smtp_listen,
            lmtp_listen: mail.lmtp_listen,
            chat_frame_ancestors: chat.chat_frame_ancestors,
            chat_max_sockets_per_address: chat.chat_max_sockets_per_address,
        },
    )
}

fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rapport: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rapport: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve {
            db,
            listen,
            mail,
            chat,
        } => {
            let config = load_with_mail(cli.config, db, listen, mail, chat)?;
            init_logging(&config.log);
            let store = config.open_store().await?;
            server::serve(&config, store, None).await
        }
        Command::Demo {
            db,
            listen,
            mail,
            chat,
            seed_only,
            seed,
            conversations,
        } => {
            let config = load_with_mail(cli.config, db, listen, mail, chat)?;
            init_logging(&config.log);
            let store = config.open_store().await?;
            let app = app::App::new(store.clone(), config.settings());
            let seeded = demo::seed_if_empty(&app, seed, conversations, now_millis()).await?;
            if seeded {
                eprintln!("seeded the demo data (seed {seed})");
            } else {
                eprintln!("the database already has data; not seeding again");
            }
            if seed_only {
                store.close().await;
                return Ok(());
            }
            server::serve(&config, store, Some(demo::LOGINS)).await
        }
        Command::Migrate { db } => {
            let config = load(cli.config, db, None)?;
            let store = config.open_store().await?;
            store.close().await;
            eprintln!("the schema is up to date");
            Ok(())
        }
        Command::User {
            command:
                UserCommand::Add {
                    db,
                    email,
                    name,
                    role,
                    password,
                    groups,
                },
        } => {
            let config = load(cli.config, db, None)?;
            let role = Role::parse(&role).with_context(|| {
                format!("role {role:?} is not one of agent, lead, manager, admin")
            })?;
            let store = config.open_store().await?;
            let app = app::App::new(store.clone(), config.settings());
            let id = app
                .add_agent(
                    &Principal::System,
                    &email,
                    &name,
                    role,
                    &password,
                    &groups,
                    now_millis(),
                )
                .await?;
            store.close().await;
            println!("{id}");
            Ok(())
        }
        Command::Group {
            command: GroupCommand::Add { db, name },
        } => {
            let config = load(cli.config, db, None)?;
            let store = config.open_store().await?;
            let app = app::App::new(store.clone(), config.settings());
            let id = app
                .add_group(&Principal::System, &name, now_millis())
                .await?;
            store.close().await;
            println!("{id}");
            Ok(())
        }
        Command::Token {
            command: TokenCommand::List { db },
        } => {
            let config = load(cli.config, db, None)?;
            let store = config.open_store().await?;
            let app = app::App::new(store.clone(), config.settings());
            for t in app.tokens(&Principal::System).await? {
                let time = |ms: i64| {
                    jiff::Timestamp::from_millisecond(ms)
                        .map(|t| t.to_string())
                        .unwrap_or_default()
                };
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    t.id,
                    t.name,
                    t.scopes.join(","),
                    time(t.created_at),
                    t.revoked_at.map(time).unwrap_or_else(|| "-".into())
                );
            }
            store.close().await;
            Ok(())
        }
        Command::Token {
            command: TokenCommand::Revoke { db, id },
        } => {
            let config = load(cli.config, db, None)?;
            let store = config.open_store().await?;
            let app = app::App::new(store.clone(), config.settings());
            app.revoke_token(&Principal::System, id, now_millis())
                .await?;
            store.close().await;
            eprintln!("token {id} is revoked");
            Ok(())
        }
        Command::Mailbox {
            command:
                MailboxCommand::Add {
                    db,
                    address,
                    name,
                    group,
                    acknowledge,
                },
        } => {
            let config = load(cli.config, db, None)?;
            let store = config.open_store().await?;
            let app = app::App::new(store.clone(), config.settings());
            let id = app
                .add_mailbox(
                    &Principal::System,
                    &address,
                    &name,
                    group.as_deref(),
                    acknowledge,
                    now_millis(),
                )
                .await?;
            store.close().await;
            println!("{id}");
            Ok(())
        }
        Command::Mailbox {
            command: MailboxCommand::List { db },
        } => {
            let config = load(cli.config, db, None)?;
            let store = config.open_store().await?;
            let app = app::App::new(store.clone(), config.settings());
            for mailbox in app.mailboxes().await? {
                let group = mailbox.group_id.map_or("-".to_string(), |g| g.to_string());
                println!("{}\t{}\t{}", mailbox.address, group, mailbox.name);
            }
            store.close().await;
            Ok(())
        }
        Command::Token {
            command: TokenCommand::Create { db, name, scopes },
        } => {
            let config = load(cli.config, db, None)?;
            let scopes = scopes
                .iter()
                .map(|s| Scope::parse(s.trim()).with_context(|| format!("scope {s:?} is not one of conversations:read, conversations:write, customers:read, admin")))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let store = config.open_store().await?;
            let app = app::App::new(store.clone(), config.settings());
            let token = app
                .create_token(&Principal::System, &name, &scopes, now_millis())
                .await?;
            store.close().await;
            println!("{}", token.secret);
            Ok(())
        }
        Command::Bench {
            command:
                BenchCommand::Api {
                    db,
                    conversations,
                    events_per_conversation,
                    clients,
                    seconds,
                    reads,
                },
        } => {
            let config = load(cli.config, db, None)?;
            init_logging("warn");
            let options = bench::BenchOptions {
                conversations,
                events_per_conversation,
                clients,
                seconds,
                reads,
            };
            bench::api(&config, &options).await
        }
        Command::Bench {
            command:
                BenchCommand::Smtp {
                    db,
                    senders,
                    seconds,
                    message_bytes,
                },
        } => {
            let config = load(cli.config, db, None)?;
            init_logging("warn");
            let options = bench_mail::MailBenchOptions {
                senders,
                seconds,
                message_bytes,
            };
            bench_mail::smtp(&config, &options).await
        }
        Command::Bench {
            command:
                BenchCommand::Imap {
                    db,
                    messages,
                    message_bytes,
                    runs,
                },
        } => {
            let config = load(cli.config, db, None)?;
            init_logging("warn");
            let options = bench_imap::ImapBenchOptions {
                messages,
                message_bytes,
                runs,
            };
            bench_imap::imap(&config, &options).await
        }
        Command::Analyze { command } => cli_analyze::run(command),
        Command::Mail { command } => cli_mail::run(cli.config, command).await,
        Command::Mine {
            data,
            database_url,
            command,
        } => {
            if command.source().file.as_os_str() != "-" {
                return cli_mine::run(command);
            }
            // `-`: Rapport's own log, mapped as documented in app/src/process_log.rs.
            let config = load(cli.config, DbArgs { data, database_url }, None)?;
            let store = config.open_store().await?;
            let app = app::App::new(store.clone(), config.settings());
            let log = app.process_log(&Principal::System).await?;
            store.close().await;
            cli_mine::run_on_log(command, &log)
        }
        Command::Calendar { command } => cli_calendar::run(command),
        Command::Sla { command } => cli_sla::run(cli.config, command).await,
        Command::Survey { command } => cli_survey::run(cli.config, command).await,
        Command::Kpi { command } => cli_kpi::run(cli.config, command).await,
        Command::Bench {
            command: BenchCommand::Kpi(args),
        } => cli_kpi::bench(cli.config, args).await,
        Command::Bench {
            command: BenchCommand::Sla(args),
        } => cli_sla::bench(cli.config, args).await,
        Command::Bench {
            command: BenchCommand::Process { db, requests },
        } => {
            let config = load(cli.config, db, None)?;
            init_logging("warn");
            bench_process::process(&config, requests).await
        }
        Command::Bench {
            command:
                BenchCommand::Ui {
                    db,
                    messages,
                    requests,
                },
        } => {
            let config = load(cli.config, db, None)?;
            init_logging("warn");
            bench_ui::ui(&config, messages, requests).await
        }
        Command::Backup { db, to } => {
            let config = load(cli.config, db, None)?;
            if config.database_url.is_some() {
                anyhow::bail!("`rapport backup` copies a SQLite database; for PostgreSQL use pg_dump or the server's replication");
            }
            if to.exists() {
                anyhow::bail!("{} already exists; choose a new file", to.display());
            }
            let store = config.open_store().await?;
            store.backup_sqlite(&to).await?;
            store.close().await;
            eprintln!("wrote a consistent copy to {}", to.display());
            Ok(())
        }
    }
}
