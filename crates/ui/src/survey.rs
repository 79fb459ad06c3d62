//! Survey pages for customers: the link in the survey e-mail (`/survey/{token}`), the same
//! survey in the portal (`/portal/surveys/{id}`), and priorities research
//! (`/research/{token}`).
//!
//! Mail scanners open links before people do, so a GET only shows the question: nothing is
//! recorded until a person picks a score and presses the button (a POST carrying the form
//! token of the page, or in the portal the session's CSRF token). Unknown, answered and
//! closed links each get a page that says so.

use app::{AnswerOutcome, AppError, ResearchAnswer, SurveyAnswer, SurveyForm, SurveyState};
use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use domain::Principal;
use web::AppState;

use crate::error::{PageError, PageResult};
use crate::form::Form;
use crate::format;
use crate::session::Viewer;
use crate::Layout;

struct Point {
    value: i64,
    checked: bool,
}

struct AgentChoice {
    id: i64,
    name: String,
    selected: bool,
}

#[derive(Template)]
#[template(path = "survey.html")]
struct SurveyPage {
    layout: Layout,
    action: String,
    csrf: String,
    form_token: String,
    conversation: i64,
    subject: String,
    question: String,
    points: Vec<Point>,
    points_first: i64,
    points_last: i64,
    low_label: &'static str,
    high_label: &'static str,
    agents: Vec<AgentChoice>,
    comment: String,
    error: String,
}

#[derive(Template)]
#[template(path = "survey_done.html")]
struct DonePage {
    layout: Layout,
    heading: &'static str,
    message: String,
}

fn done(layout: Layout, status: StatusCode, heading: &'static str, message: String) -> Response {
    let page = DonePage {
        layout,
        heading,
        message,
    };
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => PageError::from(e).into_response(),
    }
}

/// What a link's use case found, or `None` when the link is not one (the caller shows
/// [`unknown_link`]).
fn known<T>(found: Result<T, AppError>) -> PageResult<Option<T>> {
    match found {
        Ok(value) => Ok(Some(value)),
        Err(AppError::NotFound(_)) => Ok(None),
        Err(other) => Err(other.into()),
    }
}

fn unknown_link(layout: Layout) -> Response {
    done(
        layout,
        StatusCode::NOT_FOUND,
        "This link is not valid",
        "We do not know this survey link. Check that the whole link was copied from the e-mail."
            .into(),
    )
}

fn thanks(layout: Layout) -> Response {
    done(
        layout,
        StatusCode::OK,
        "Thank you!",
        "Your answer has been recorded. It helps us serve you better.".into(),
    )
}

fn answered(layout: Layout, at: i64) -> Response {
    done(
        layout,
        StatusCode::OK,
        "Already answered",
        format!(
            "This survey was answered on {}. Thank you: each survey counts once.",
            format::time(at)
        ),
    )
}

fn expired(layout: Layout, at: i64) -> Response {
    done(
        layout,
        StatusCode::GONE,
        "This survey has closed",
        format!(
            "This survey could be answered until {}. If something is still wrong, just write to us again.",
            format::time(at)
        ),
    )
}

/// The answer in a submitted form, or what is wrong with it (in words for the page).
fn read_answer(form: &Form) -> Result<SurveyAnswer, String> {
    let score = form
        .get("score")
        .ok_or_else(|| "Please choose a score before sending.".to_string())?
        .parse::<i64>()
        .map_err(|_| "Please choose one of the scores shown.".to_string())?;
    let kudos_agent_id = match form.get("kudos") {
        None => None,
        Some(text) => Some(
            text.parse::<i64>()
                .map_err(|_| "Please choose someone from the list.".to_string())?,
        ),
    };
    let comment = Some(form.raw("comment").to_string()).filter(|c| !c.trim().is_empty());
    Ok(SurveyAnswer {
        score,
        comment,
        kudos_agent_id,
    })
}

fn survey_page(
    layout: Layout,
    survey: &SurveyForm,
    action: String,
    csrf: String,
    sent: Option<&Form>,
    error: &str,
) -> PageResult<String> {
    let chosen_score = sent.and_then(|f| f.get("score")).unwrap_or_default();
    let chosen_kudos = sent.and_then(|f| f.get("kudos")).unwrap_or_default();
    let points = survey
        .scale
        .points()
        .into_iter()
        .map(|value| Point {
            value,
            checked: chosen_score == value.to_string(),
        })
        .collect();
    let page = SurveyPage {
        layout,
        action,
        csrf,
        form_token: survey.form_token.clone(),
        conversation: survey.conversation,
        subject: survey.subject.clone(),
        question: survey.question.clone(),
        points,
        points_first: survey.scale.min,
        points_last: survey.scale.max,
        low_label: survey.scale_labels.0,
        high_label: survey.scale_labels.1,
        agents: survey
            .kudos_choices
            .iter()
            .map(|a| AgentChoice {
                id: a.agent_id,
                name: a.name.clone(),
                selected: chosen_kudos == a.agent_id.to_string(),
            })
            .collect(),
        comment: sent
            .map(|f| f.raw("comment").to_string())
            .unwrap_or_default(),
        error: error.to_string(),
    };
    Ok(page.render()?)
}

/// What a survey in this state shows instead of its form, if anything.
fn closed_page(layout: Layout, state: SurveyState) -> Option<Response> {
    match state {
        SurveyState::Open => None,
        SurveyState::Answered { at } => Some(answered(layout, at)),
        SurveyState::Expired { at } => Some(expired(layout, at)),
    }
}

fn outcome_page(layout: Layout, outcome: AnswerOutcome) -> Response {
    match outcome {
        AnswerOutcome::Recorded => thanks(layout),
        AnswerOutcome::AlreadyAnswered { at } => answered(layout, at),
        AnswerOutcome::Expired { at } => expired(layout, at),
    }
}

/// `GET /survey/{token}`: the question. Records nothing.
pub(crate) async fn show(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> PageResult<Response> {
    let layout = || Layout::bare("How did we do?");
    let Some(survey) = known(state.app.survey_form(&token, state.now()).await)? else {
        return Ok(unknown_link(layout()));
    };
    if let Some(page) = closed_page(layout(), survey.state) {
        return Ok(page);
    }
    let html = survey_page(
        layout(),
        &survey,
        format!("/survey/{token}"),
        String::new(),
        None,
        "",
    )?;
    Ok(Html(html).into_response())
}

/// `POST /survey/{token}`: a person's answer.
pub(crate) async fn submit(
    State(state): State<AppState>,
    Path(token): Path<String>,
    body: Bytes,
) -> PageResult<Response> {
    let layout = || Layout::bare("How did we do?");
    let form = Form::from_body(&body);
    let now = state.now();
    let Some(survey) = known(state.app.survey_form(&token, now).await)? else {
        return Ok(unknown_link(layout()));
    };
    let again = |error: &str| -> PageResult<Response> {
        let html = survey_page(
            layout(),
            &survey,
            format!("/survey/{token}"),
            String::new(),
            Some(&form),
            error,
        )?;
        Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(html)).into_response())
    };
    let answer = match read_answer(&form) {
        Ok(answer) => answer,
        Err(message) => return again(&message),
    };
    match state
        .app
        .answer_survey(&token, form.raw("form"), answer, now)
        .await
    {
        Ok(outcome) => Ok(outcome_page(layout(), outcome)),
        Err(AppError::Invalid(message)) => again(&message),
        Err(AppError::NotFound(_)) => Ok(unknown_link(layout())),
        Err(other) => Err(other.into()),
    }
}

fn survey_id(text: &str) -> PageResult<i64> {
    text.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or(PageError::NotFound)
}

fn must_be_customer(viewer: &Viewer) -> PageResult<()> {
    match viewer.principal {
        Principal::Customer { .. } => Ok(()),
        _ => Err(PageError::NotFound),
    }
}

/// `GET /portal/surveys/{id}`: a survey of the signed-in customer.
pub(crate) async fn portal_show(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> PageResult<Response> {
    must_be_customer(&viewer)?;
    let id = survey_id(&id)?;
    let layout = || Layout::signed_in("How did we do?", "portal", &viewer, "");
    let survey = state
        .app
        .customer_survey_form(&viewer.principal, id, state.now())
        .await?;
    if let Some(page) = closed_page(layout(), survey.state) {
        return Ok(page);
    }
    let html = survey_page(
        layout(),
        &survey,
        format!("/portal/surveys/{id}"),
        viewer.csrf.clone(),
        None,
        "",
    )?;
    Ok(Html(html).into_response())
}

/// `POST /portal/surveys/{id}`: the signed-in customer's answer.
pub(crate) async fn portal_submit(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    body: Bytes,
) -> PageResult<Response> {
    let form = Form::from_body(&body);
    viewer.check_csrf(&form)?;
    must_be_customer(&viewer)?;
    let id = survey_id(&id)?;
    let now = state.now();
    let layout = || Layout::signed_in("How did we do?", "portal", &viewer, "");
    let survey = state
        .app
        .customer_survey_form(&viewer.principal, id, now)
        .await?;
    let again = |error: &str| -> PageResult<Response> {
        let html = survey_page(
            layout(),
            &survey,
            format!("/portal/surveys/{id}"),
            viewer.csrf.clone(),
            Some(&form),
            error,
        )?;
        Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(html)).into_response())
    };
    let answer = match read_answer(&form) {
        Ok(answer) => answer,
        Err(message) => return again(&message),
    };
    match state
        .app
        .answer_customer_survey(&viewer.principal, id, answer, now)
        .await
    {
        Ok(outcome) => Ok(outcome_page(layout(), outcome)),
        Err(AppError::Invalid(message)) => again(&message),
        Err(other) => Err(other.into()),
    }
}

struct AttributeRow {
    id: i64,
    label: String,
    description: String,
    importance: Vec<Point>,
    performance: Vec<Point>,
}

#[derive(Template)]
#[template(path = "research.html")]
struct ResearchPage {
    layout: Layout,
    action: String,
    form_token: String,
    scale_min: i64,
    scale_max: i64,
    attributes: Vec<AttributeRow>,
    overall: Vec<Point>,
    error: String,
}

fn research_page(
    research: &app::ResearchForm,
    token: &str,
    sent: Option<&Form>,
    error: &str,
) -> PageResult<String> {
    let points = |name: String| -> Vec<Point> {
        let chosen = sent.and_then(|f| f.get(&name)).unwrap_or_default();
        research
            .scale
            .points()
            .into_iter()
            .map(|value| Point {
                value,
                checked: chosen == value.to_string(),
            })
            .collect()
    };
    let page = ResearchPage {
        layout: Layout::bare("What matters to you?"),
        action: format!("/research/{token}"),
        form_token: research.form_token.clone(),
        scale_min: research.scale.min,
        scale_max: research.scale.max,
        attributes: research
            .attributes
            .iter()
            .map(|a| AttributeRow {
                id: a.id,
                label: a.label.clone(),
                description: a.description.clone(),
                importance: points(format!("importance_{}", a.id)),
                performance: points(format!("performance_{}", a.id)),
            })
            .collect(),
        overall: points("overall".into()),
        error: error.to_string(),
    };
    Ok(page.render()?)
}

fn read_research(form: &Form, research: &app::ResearchForm) -> Result<ResearchAnswer, String> {
    let number = |name: String| -> Result<Option<i64>, String> {
        form.get(&name)
            .map(|v| {
                v.parse::<i64>()
                    .map_err(|_| "Please choose one of the ratings shown.".to_string())
            })
            .transpose()
    };
    let mut ratings = Vec::new();
    for a in &research.attributes {
        let importance = number(format!("importance_{}", a.id))?;
        let performance = number(format!("performance_{}", a.id))?;
        if importance.is_some() || performance.is_some() {
            ratings.push((a.id, importance, performance));
        }
    }
    Ok(ResearchAnswer {
        ratings,
        overall_satisfaction: number("overall".into())?,
    })
}

/// `GET /research/{token}`: the attributes to rate. Records nothing.
pub(crate) async fn research_show(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> PageResult<Response> {
    let layout = || Layout::bare("What matters to you?");
    let Some(research) = known(state.app.research_form(&token, state.now()).await)? else {
        return Ok(unknown_link(layout()));
    };
    if let Some(page) = closed_page(layout(), research.state) {
        return Ok(page);
    }
    Ok(Html(research_page(&research, &token, None, "")?).into_response())
}

/// `POST /research/{token}`: a respondent's ratings.
pub(crate) async fn research_submit(
    State(state): State<AppState>,
    Path(token): Path<String>,
    body: Bytes,
) -> PageResult<Response> {
    let layout = || Layout::bare("What matters to you?");
    let form = Form::from_body(&body);
    let now = state.now();
    let Some(research) = known(state.app.research_form(&token, now).await)? else {
        return Ok(unknown_link(layout()));
    };
    let again = |error: &str| -> PageResult<Response> {
        let html = research_page(&research, &token, Some(&form), error)?;
        Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(html)).into_response())
    };
    let answer = match read_research(&form, &research) {
        Ok(answer) => answer,
        Err(message) => return again(&message),
    };
    match state
        .app
        .answer_research(&token, form.raw("form"), answer, now)
        .await
    {
        Ok(outcome) => Ok(outcome_page(layout(), outcome)),
        Err(AppError::Invalid(message)) => again(&message),
        Err(AppError::NotFound(_)) => Ok(unknown_link(layout())),
        Err(other) => Err(other.into()),
    }
}
