//! `rapport serve`: the HTTP server plus the background work (search indexing, jobs),
//! stopped gracefully on SIGTERM or Ctrl-C.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::watch;

use crate::config::Config;
use crate::now_millis;

pub async fn serve(
    config: &Config,
    store: store::Store,
    logins: Option<&[(&str, &str)]>,
) -> anyhow::Result<()> {
    let app = config.app(store.clone())?;
    let state = web::AppState::new(app.clone(), Arc::new(now_millis), config.cookies_secure());
    // The pages' live hub: closed at shutdown, so that open event streams end.
    let live = ui::Live::default();
    let router = web::router(state.clone()).merge(ui::router_configured(
        state,
        &live,
        &config.chat_options(),
    ));
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let address = listener.local_addr()?;
    // The signal handlers exist before anyone is told the server is up: the shutdown future
    // is first polled on a task of its own, possibly after the first request, and a SIGTERM
    // arriving before then would kill the process instead of stopping it.
    let shutdown = shutdown_signal()?;
    println!("Rapport is listening on http://{address}/");
    if let Some(logins) = logins {
        println!("Sign in (POST /api/v1/auth/login) with any of these; every password is `demo`:");
        for (email, role) in logins {
            println!("  {email:<22} {role}");
        }
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut mail_listeners = Vec::new();
    for (protocol, address) in [
        (smtp::Protocol::Smtp, &config.smtp_listen),
        (smtp::Protocol::Lmtp, &config.lmtp_listen),
    ] {
        let Some(address) = address else { continue };
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("cannot listen for mail on {address}"))?;
        let name = match protocol {
            smtp::Protocol::Smtp => "SMTP",
            smtp::Protocol::Lmtp => "LMTP",
        };
        println!("{name} is listening on {}", listener.local_addr()?);
        let mut settings = smtp::Settings::new(protocol, &config.mail_hostname);
        settings.max_message_bytes = config.max_message_bytes;
        if let (Some(cert), Some(key)) = (&config.smtp_tls_cert, &config.smtp_tls_key) {
            settings.tls = Some(smtp::load_tls(cert, key).map_err(anyhow::Error::msg)?);
        }
        let mailboxes = smtp::Mailboxes::load(app.clone()).await?;
        mail_listeners.push(tokio::spawn(smtp::serve(
            listener,
            app.clone(),
            mailboxes,
            settings,
            Arc::new(now_millis),
            stop_rx.clone(),
        )));
    }
    // One poller per configured IMAP folder; each retries on its own, whatever the others do.
    for account in config.imap_accounts() {
        tracing::info!(account = %account.name, folder = %account.folder, mailbox = %account.mailbox, "IMAP polling");
        mail_listeners.push(tokio::spawn(imap::run(
            app.clone(),
            account,
            Arc::new(now_millis),
            stop_rx.clone(),
        )));
    }
    let background = tokio::spawn(background_work(app, stop_rx));
    // The peer's address reaches the handlers (the web form limits each client address).
    let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(async move {
            shutdown.await;
            live.close();
        })
        .await
        .context("the HTTP server failed")?;
    tracing::info!("shutting down");
    let _ = stop_tx.send(true);
    let _ = background.await;
    for listener in mail_listeners {
        let _ = listener.await;
    }
    store.close().await;
    Ok(())
}

/// Keeps the search index and the job queue moving until told to stop.
async fn background_work(app: app::App, mut stop: watch::Receiver<bool>) {
    let worker = format!("{}-{}", std::process::id(), now_millis());
    let mut last_alert_check = 0;
    let mut last_compaction = 0;
    loop {
        if now_millis() - last_compaction >= 10_000 {
            last_compaction = now_millis();
            if let Err(e) = app.store.compact_queue_counters().await {
                tracing::warn!(error = %e, "compacting the queue counters failed; will retry");
            }
        }
        if let Err(e) = app.run_search_indexer(500, now_millis()).await {
            tracing::warn!(error = %e, "search indexing failed; will retry");
        }
        if let Err(e) = app.run_sla_clocks(500, now_millis()).await {
            tracing::warn!(error = %e, "SLA clocks failed; will retry");
        }
        if let Err(e) = app.run_sla_tick(500, now_millis()).await {
            tracing::warn!(error = %e, "SLA tick failed; will retry");
        }
        // Batches of 1,000 events hold the one SQLite writer for a few milliseconds each,
        // where 5,000 held it for up to 140 ms under load (`rapport bench api` reports the
        // holds), and every request behind them waited.
        if let Err(e) = app.run_kpi_rollups(1_000, now_millis()).await {
            tracing::warn!(error = %e, "KPI roll-ups failed; will retry");
        }
        if now_millis() - last_alert_check >= 60_000 {
            last_alert_check = now_millis();
            match app.check_kpi_alerts(last_alert_check).await {
                Ok(raised) if !raised.is_empty() => {
                    tracing::info!(kpis = ?raised, "KPI exception alerts raised")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "KPI alert check failed; will retry"),
            }
        }
        for _ in 0..100 {
            match app.run_one_job(&worker, now_millis()).await {
                Ok(app::JobOutcome::Nothing) => break,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "job runner failed; will retry");
                    break;
                }
            }
        }
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM; the handlers are installed when this is called.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot handle SIGTERM")?;
    let ctrl_c = tokio::signal::ctrl_c();
    Ok(async move {
        #[cfg(unix)]
        tokio::select! {
            _ = ctrl_c => {},
            _ = terminate.recv() => {},
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
    })
}
