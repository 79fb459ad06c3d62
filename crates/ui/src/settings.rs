//! Administrators' settings pages: importing a set of published benchmark figures from a CSV
//! (`/app/benchmarks`, the same `App::import_benchmarks` as the API and the CLI) and the
//! survey settings (`/app/surveys/settings`: kind, CSAT scale, delay, channel, sampling,
//! at most one survey per customer per N days). A form that fails comes back with what was
//! typed and the reason; `app` checks who may change what.

use app::{AppError, SurveySettings};
use askama::Template;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use domain::survey::{Scale, SurveyChannel, SurveyKind};
use web::AppState;

use crate::error::{PageError, PageResult};
use crate::form::Form;
use crate::session::Viewer;
use crate::workspace::{choice, Choice};
use crate::Layout;

/// The page for a refused form: the form again, with the reason and the typed input.
fn refused(html: String) -> Response {
    (StatusCode::UNPROCESSABLE_ENTITY, Html(html)).into_response()
}

/// Only administrators open these pages; others get the 403 page before any form.
fn must_administer(viewer: &Viewer) -> PageResult<()> {
    if viewer.principal.can_administer() {
        Ok(())
    } else {
        Err(PageError::Forbidden(
            "only administrators change these settings".into(),
        ))
    }
}

struct BenchmarkSet {
    name: String,
    figures: usize,
    imported: String,
}

#[derive(Template)]
#[template(path = "benchmarks.html")]
struct BenchmarksPage {
    layout: Layout,
    sets: Vec<BenchmarkSet>,
    set_name: String,
    csv: String,
    notice: String,
    error: String,
}

async fn benchmarks_page(
    state: &AppState,
    viewer: &Viewer,
    set_name: String,
    csv: String,
    notice: String,
    error: String,
) -> PageResult<String> {
    let mut sets: Vec<BenchmarkSet> = Vec::new();
    for row in state.app.benchmarks(&viewer.principal).await? {
        match sets.iter_mut().find(|s| s.name == row.set_name) {
            Some(set) => set.figures += 1,
            None => sets.push(BenchmarkSet {
                name: row.set_name,
                figures: 1,
                imported: crate::format::time(row.imported_at),
            }),
        }
    }
    let page = BenchmarksPage {
        layout: Layout::signed_in("Benchmarks", "app", viewer, ""),
        sets,
        set_name,
        csv,
        notice,
        error,
    };
    page.render().map_err(PageError::from)
}

pub(crate) async fn benchmarks(
    State(state): State<AppState>,
    viewer: Viewer,
) -> PageResult<Response> {
    if viewer.is_customer() {
        return Ok(Redirect::to("/portal").into_response());
    }
    must_administer(&viewer)?;
    let html = benchmarks_page(
        &state,
        &viewer,
        "sector".into(),
        String::new(),
        String::new(),
        String::new(),
    )
    .await?;
    Ok(Html(html).into_response())
}

pub(crate) async fn import_benchmarks(
    State(state): State<AppState>,
    viewer: Viewer,
    body: Bytes,
) -> PageResult<Response> {
    let form = Form::from_body(&body);
    viewer.check_csrf(&form)?;
    must_administer(&viewer)?;
    let set_name = form.get("set").unwrap_or_default().to_string();
    let csv = form.raw("csv").to_string();
    match state
        .app
        .import_benchmarks(&viewer.principal, &set_name, &csv, state.now())
        .await
    {
        Ok(n) => {
            let notice = format!("Imported {n} figures into the set “{}”.", set_name.trim());
            let html = benchmarks_page(
                &state,
                &viewer,
                set_name,
                String::new(),
                notice,
                String::new(),
            )
            .await?;
            Ok(Html(html).into_response())
        }
        Err(AppError::Invalid(reason)) => {
            let html =
                benchmarks_page(&state, &viewer, set_name, csv, String::new(), reason).await?;
            Ok(refused(html))
        }
        Err(e) => Err(e.into()),
    }
}

/// The survey settings form as typed (text, so that a refused form shows what was typed).
struct SurveyFields {
    enabled: bool,
    kind: String,
    scale_min: String,
    scale_max: String,
    question: String,
    delay_minutes: String,
    channel: String,
    sampling_percent: String,
    min_days_between: String,
    answer_days: String,
    public_url: String,
}

impl SurveyFields {
    fn of(s: &SurveySettings) -> SurveyFields {
        SurveyFields {
            enabled: s.enabled,
            kind: s.kind.as_str().into(),
            scale_min: s.csat_scale.min.to_string(),
            scale_max: s.csat_scale.max.to_string(),
            question: s.question.clone(),
            delay_minutes: s.delay_minutes.to_string(),
            channel: s.channel.as_str().into(),
            sampling_percent: format!("{}", s.sampling_rate * 100.0),
            min_days_between: s.min_days_between.to_string(),
            answer_days: s.answer_days.to_string(),
            public_url: s.public_url.clone(),
        }
    }

    fn from_form(form: &Form) -> SurveyFields {
        let text = |name: &str| form.get(name).unwrap_or_default().trim().to_string();
        SurveyFields {
            enabled: form.get("enabled").is_some(),
            kind: text("kind"),
            scale_min: text("scale_min"),
            scale_max: text("scale_max"),
            question: form.raw("question").to_string(),
            delay_minutes: text("delay_minutes"),
            channel: text("channel"),
            sampling_percent: text("sampling_percent"),
            min_days_between: text("min_days_between"),
            answer_days: text("answer_days"),
            public_url: text("public_url"),
        }
    }

    /// The settings these fields say, or what is wrong with them, in words.
    fn settings(&self) -> Result<SurveySettings, String> {
        let whole = |label: &str, text: &str| {
            text.parse::<i64>()
                .map_err(|_| format!("{label} must be a whole number, got {text:?}"))
        };
        let kind = SurveyKind::parse(&self.kind)
            .ok_or_else(|| format!("the kind must be CSAT, CES or NPS, got {:?}", self.kind))?;
        let channel = SurveyChannel::parse(&self.channel).ok_or_else(|| {
            format!(
                "the channel must be e-mail or portal, got {:?}",
                self.channel
            )
        })?;
        let percent = self
            .sampling_percent
            .trim_end_matches('%')
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|p| p.is_finite())
            .ok_or_else(|| {
                format!(
                    "the share surveyed must be a percentage from 0 to 100, got {:?}",
                    self.sampling_percent
                )
            })?;
        Ok(SurveySettings {
            enabled: self.enabled,
            kind,
            csat_scale: Scale {
                min: whole("the scale's lowest point", &self.scale_min)?,
                max: whole("the scale's highest point", &self.scale_max)?,
            },
            question: self.question.clone(),
            delay_minutes: whole("the delay", &self.delay_minutes)?,
            channel,
            sampling_rate: percent / 100.0,
            min_days_between: whole("the days between surveys", &self.min_days_between)?,
            answer_days: whole("the days to answer", &self.answer_days)?,
            public_url: self.public_url.clone(),
        })
    }
}

#[derive(Template)]
#[template(path = "survey_settings.html")]
struct SurveySettingsPage {
    layout: Layout,
    fields: SurveyFields,
    kinds: Vec<Choice>,
    channels: Vec<Choice>,
    updated: String,
    notice: String,
    error: String,
}

fn survey_settings_page(
    viewer: &Viewer,
    fields: SurveyFields,
    updated_at: i64,
    notice: String,
    error: String,
) -> PageResult<String> {
    let kinds = SurveyKind::ALL
        .into_iter()
        .map(|k| choice(k.as_str(), k.label(), fields.kind == k.as_str()))
        .collect();
    let channels = [
        (
            SurveyChannel::Email,
            "E-mail with a link (also in the portal)",
        ),
        (SurveyChannel::Portal, "Only in the customer portal"),
    ]
    .into_iter()
    .map(|(c, label)| choice(c.as_str(), label, fields.channel == c.as_str()))
    .collect();
    let page = SurveySettingsPage {
        layout: Layout::signed_in("Survey settings", "app", viewer, ""),
        fields,
        kinds,
        channels,
        updated: if updated_at > 0 {
            crate::format::time(updated_at)
        } else {
            "never (the defaults apply)".into()
        },
        notice,
        error,
    };
    page.render().map_err(PageError::from)
}

pub(crate) async fn survey_settings(
    State(state): State<AppState>,
    viewer: Viewer,
) -> PageResult<Response> {
    if viewer.is_customer() {
        return Ok(Redirect::to("/portal").into_response());
    }
    must_administer(&viewer)?;
    let view = state.app.survey_settings(&viewer.principal).await?;
    let html = survey_settings_page(
        &viewer,
        SurveyFields::of(&view.settings),
        view.updated_at,
        String::new(),
        String::new(),
    )?;
    Ok(Html(html).into_response())
}

pub(crate) async fn save_survey_settings(
    State(state): State<AppState>,
    viewer: Viewer,
    body: Bytes,
) -> PageResult<Response> {
    let form = Form::from_body(&body);
    viewer.check_csrf(&form)?;
    must_administer(&viewer)?;
    let fields = SurveyFields::from_form(&form);
    let settings = match fields.settings() {
        Ok(settings) => settings,
        Err(reason) => {
            let before = state.app.survey_settings(&viewer.principal).await?;
            let html =
                survey_settings_page(&viewer, fields, before.updated_at, String::new(), reason)?;
            return Ok(refused(html));
        }
    };
    match state
        .app
        .set_survey_settings(&viewer.principal, settings, state.now())
        .await
    {
        Ok(view) => {
            let html = survey_settings_page(
                &viewer,
                SurveyFields::of(&view.settings),
                view.updated_at,
                "Saved. The settings apply to conversations solved from now on.".into(),
                String::new(),
            )?;
            Ok(Html(html).into_response())
        }
        Err(AppError::Invalid(reason)) => {
            let before = state.app.survey_settings(&viewer.principal).await?;
            let html =
                survey_settings_page(&viewer, fields, before.updated_at, String::new(), reason)?;
            Ok(refused(html))
        }
        Err(e) => Err(e.into()),
    }
}
