//! `rapport bench process`: the server-side render time of the manager's process map page
//! (`/app/process`) on existing data, normally the demo's (`rapport demo --seed-only`), through
//! the real router without a socket. Four figures: a cold render (the log read from the
//! database, then analysed and drawn), warm renders of the same filters (both cached), renders
//! with changing sliders (the log cached, each analysis new) and drill-downs to the
//! conversations behind a bottleneck. Prints a JSON report with medians and 99th percentiles.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::http::Request;
use axum::Router;
use serde_json::json;
use tower::ServiceExt;

use crate::bench::{percentile, round};
use crate::config::Config;
use crate::now_millis;

const MANAGER: &str = "manager@demo.test";
const COLD_RUNS: usize = 3;

async fn render(router: &Router, session: &str, uri: &str) -> anyhow::Result<(f64, usize)> {
    let request = Request::builder()
        .uri(uri)
        .header(
            "cookie",
            format!("{}={session}", web::extract::SESSION_COOKIE),
        )
        .body(Body::empty())?;
    let started = Instant::now();
    let response = router.clone().oneshot(request).await?;
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX).await?;
    let elapsed = started.elapsed().as_secs_f64() * 1000.0;
    anyhow::ensure!(status.is_success(), "{uri} answered {status}");
    Ok((elapsed, body.len()))
}

fn summary(mut times: Vec<f64>) -> serde_json::Value {
    times.sort_by(f64::total_cmp);
    json!({
        "requests": times.len(),
        "p50_ms": round(percentile(&times, 0.5)),
        "p99_ms": round(percentile(&times, 0.99)),
        "max_ms": round(times.last().copied().unwrap_or(f64::NAN)),
    })
}

pub async fn process(config: &Config, requests: usize) -> anyhow::Result<()> {
    let store = config.open_store().await?;
    let conversations = store.count(store::Table::Conversations).await?;
    anyhow::ensure!(
        conversations > 0,
        "`rapport bench process` measures the page on existing data: seed the demo first \
         (`rapport demo --seed-only --data DIR`), then give the same --data"
    );
    let settings = config.settings();
    let app = app::App::new(store.clone(), settings.clone());
    let session = app
        .login(MANAGER, crate::demo::PASSWORD, now_millis())
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot sign in as the demo's manager {MANAGER} ({e}); bench the demo's data"
            )
        })?
        .session;
    let requests = requests.max(1);
    let page = "/app/process";

    // Cold: a new application each time, so nothing is cached.
    let mut cold = Vec::with_capacity(COLD_RUNS);
    let mut page_bytes = 0;
    for _ in 0..COLD_RUNS {
        let fresh = app::App::new(store.clone(), settings.clone());
        let router = ui::router(web::AppState::new(fresh, Arc::new(now_millis), false));
        let (ms, bytes) = render(&router, &session, page).await?;
        cold.push(ms);
        page_bytes = bytes;
    }

    let router = ui::router(web::AppState::new(app, Arc::new(now_millis), false));
    render(&router, &session, page).await?;
    let mut warm = Vec::with_capacity(requests);
    for _ in 0..requests {
        warm.push(render(&router, &session, page).await?.0);
    }
    // Changing sliders: 21 × 21 positions, far more than the analyses kept, so each is new.
    let mut sliders = Vec::with_capacity(requests);
    for i in 0..requests {
        let uri = format!(
            "{page}?activities={}&edges={}",
            100 - (i % 21) * 5,
            (i / 21 % 21) * 5
        );
        sliders.push(render(&router, &session, &uri).await?.0);
    }
    let mut drill = Vec::with_capacity(requests);
    for _ in 0..requests {
        let uri = "/app/process/conversations?edge_from=Created&edge_to=Assigned+to+agent";
        drill.push(render(&router, &session, uri).await?.0);
    }
    store.close().await;
    let report = json!({
        "database": if config.database_url.is_some() { "postgres" } else { "sqlite" },
        "conversations": conversations,
        "page_bytes": page_bytes,
        "cold_ms": cold.iter().map(|&ms| round(ms)).collect::<Vec<_>>(),
        "warm_same_filters": summary(warm),
        "changing_sliders": summary(sliders),
        "drill_down": summary(drill),
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
