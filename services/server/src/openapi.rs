//! The OpenAPI document, generated from the handlers' annotations.

use utoipa::OpenApi;

/// Every documented endpoint. A handler that is routed but missing here is
/// caught by the server tests, which compare this document with the routes.
#[derive(OpenApi)]
#[openapi(
    info(title = "Zhishu (知枢) API", description = "Self-hosted enterprise knowledge assistant"),
    paths(crate::ops::healthz, crate::ops::readyz, crate::ops::metrics, crate::ops::openapi),
    components(schemas(crate::error::ErrorBody, crate::error::ErrorDetail)),
    tags((name = "operations", description = "Liveness, readiness, metrics and this document"))
)]
pub struct ApiDoc;
