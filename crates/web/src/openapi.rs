//! The OpenAPI 3.1 document, generated from the handlers' annotations and the DTO types.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::{ErrorBody, ErrorDetail};
use crate::{api, initiatives_api, kpi_api, mail_api, sla_api, survey_api};

#[derive(OpenApi)]
#[openapi(
    info(title = "Rapport API", description = "Conversations, customers and the audit trail of a Rapport help desk. \
        Authenticate with `Authorization: Bearer TOKEN`, or sign in for a session cookie and send its CSRF token in \
        `X-CSRF-Token` on writes. Errors are `{\"error\": {\"code\", \"message\"}}`."),
    paths(
        api::healthz, api::login, api::logout, api::me,
        api::create_conversation, api::list_conversations, api::get_conversation, api::patch_conversation,
        api::post_message, api::list_messages, api::list_events, api::merge_conversation, api::send_chat_email_code, api::queues,
        api::get_customer, api::merge_customer, api::get_attachment,
        api::create_token, api::list_tokens, api::revoke_token, api::create_agent, api::list_agents, api::list_groups, api::create_group,
        mail_api::conversation_mail, mail_api::list_mailboxes, mail_api::create_mailbox,
        mail_api::quarantine, mail_api::release,
        sla_api::list_calendars, sla_api::create_calendar, sla_api::get_calendar, sla_api::put_calendar,
        sla_api::delete_calendar, sla_api::list_policies, sla_api::create_policy, sla_api::get_policy,
        sla_api::put_policy, sla_api::delete_policy, sla_api::conversation_sla,
        survey_api::get_settings, survey_api::put_settings, survey_api::list_answers, survey_api::export_answers,
        survey_api::list_attributes, survey_api::create_attribute, survey_api::put_attribute,
        survey_api::create_invitations, survey_api::export_responses,
        kpi_api::list_kpis, kpi_api::get_kpi, kpi_api::put_kpi, kpi_api::drill_kpi, kpi_api::kpi_figures,
        kpi_api::kpi_alerts, kpi_api::list_benchmarks, kpi_api::import_benchmarks,
        initiatives_api::create_initiative, initiatives_api::list_initiatives, initiatives_api::get_initiative,
    ),
    components(schemas(ErrorBody, ErrorDetail)),
    modifiers(&Security),
    security(("bearer" = []), ("session" = [])),
)]
struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(
                crate::extract::SESSION_COOKIE,
            ))),
        );
    }
}

/// The document as JSON text.
pub fn openapi_json() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}
