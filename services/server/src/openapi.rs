//! The OpenAPI document, generated from the handlers' annotations.

use utoipa::OpenApi;

/// Every documented endpoint. A handler that is routed but missing here is
/// caught by the server tests, which compare this document with the routes.
#[derive(OpenApi)]
#[openapi(
    info(title = "Zhishu (知枢) API", description = "Self-hosted enterprise knowledge assistant"),
    paths(
        crate::ops::healthz, crate::ops::readyz, crate::ops::metrics, crate::ops::openapi,
        crate::identity::login, crate::identity::logout, crate::identity::me,
        crate::identity::providers, crate::identity::sso_login, crate::identity::sso_callback,
        crate::audit_api::events, crate::audit_api::event, crate::audit_api::passage, crate::audit_api::export, crate::audit_api::verify_chain,
        crate::embeddings::embeddings,
        crate::knowledge::create_job, crate::knowledge::job_status, crate::knowledge::job_events,
        crate::knowledge::cancel_job, crate::knowledge::search, crate::knowledge::upload_document,
        crate::knowledge::list_documents,
        crate::knowledge::get_document, crate::knowledge::delete_document,
        crate::document_files::download, crate::document_files::page_image,
        crate::document_files::get_collection_settings, crate::document_files::put_collection_settings,
        crate::chat::chat_completions, crate::chat::models,
        crate::chat::list_conversations, crate::chat::get_conversation,
        crate::guard_api::list_lexicons, crate::guard_api::get_lexicon, crate::guard_api::put_lexicon,
        crate::guard_api::edit_lexicon, crate::guard_api::delete_lexicon, crate::guard_api::check,
    ),
    components(schemas(crate::error::ErrorBody, crate::error::ErrorDetail)),
    modifiers(&Security),
    tags(
        (name = "operations", description = "Liveness, readiness, metrics and this document"),
        (name = "identity", description = "Sign-in with local users or single sign-on (OIDC, in the browser); API keys and OIDC tokens are sent as `Authorization: Bearer`"),
        (name = "audit", description = "The audit trail, for compliance officers"),
        (name = "models", description = "OpenAI-compatible model endpoints"),
        (name = "ingest", description = "Folder ingestion jobs, for knowledge admins"),
        (name = "search", description = "Hybrid search within the caller's access groups"),
        (name = "documents", description = "The document registry"),
        (name = "guard", description = "Guardrails: sensitive-word lexicons (administrators) and policy checks (administrators, compliance officers)"),
    )
)]
pub struct ApiDoc;

/// Declares the two ways to authenticate: a bearer token (API key or OIDC
/// access token) and the session cookie.
struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme,
        };
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(
                crate::access::SESSION_COOKIE,
            ))),
        );
    }
}
