//! Who may call what: the authentication extractor, role policies, and the
//! route table that declares each endpoint's role.
//!
//! A handler states its policy in its signature (`Caller<Compliance>`), so
//! the check cannot be forgotten inside the handler. Every refusal — missing
//! or invalid credentials, wrong role, rate limit — is answered with a clear
//! error *and* written to the audit trail; if that write fails, the answer is
//! 503 (fail closed).

use crate::middleware::RequestId;
use crate::{ApiError, AppState};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use std::marker::PhantomData;
use zhishu_audit::{Actor, AuditEvent, Outcome, PolicyDecision};
use zhishu_auth::{AuthError, Principal};
use zhishu_core::Role;
use zhishu_query::{Asker, Via};

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "zhishu_session";

/// Which roles an endpoint admits.
pub trait Policy {
    /// The roles; holding any one of them is enough.
    const ROLES: &'static [Role];
}

/// Any authenticated principal.
pub struct Authenticated;
impl Policy for Authenticated {
    const ROLES: &'static [Role] = &Role::ALL;
}

/// Compliance officers: the audit trail.
pub struct Compliance;
impl Policy for Compliance {
    const ROLES: &'static [Role] = &[Role::ComplianceOfficer];
}

/// Knowledge admins (and admins): ingestion and document management.
pub struct KnowledgeAdmin;
impl Policy for KnowledgeAdmin {
    const ROLES: &'static [Role] = &[Role::KnowledgeAdmin, Role::Admin];
}

/// Administrators: the guards' lexicons.
pub struct GuardAdmin;
impl Policy for GuardAdmin {
    const ROLES: &'static [Role] = &[Role::Admin];
}

/// Administrators and compliance officers: reading the lexicons, checking
/// texts against the guards.
pub struct GuardReader;
impl Policy for GuardReader {
    const ROLES: &'static [Role] = &[Role::Admin, Role::ComplianceOfficer];
}

/// One endpoint and the roles it admits (`None`: public).
#[derive(Debug, Clone, Copy)]
pub struct RouteSpec {
    /// HTTP method.
    pub method: &'static str,
    /// Path as routed (with `{param}` placeholders).
    pub path: &'static str,
    /// Admitted roles; `None` for public endpoints.
    pub roles: Option<&'static [Role]>,
}

/// Every routed endpoint. The server tests walk this table: each protected
/// route must answer 401 without credentials and 403 to every role it does
/// not admit, and the table must list exactly the OpenAPI document's paths.
pub const ROUTES: &[RouteSpec] = &[
    RouteSpec {
        method: "GET",
        path: "/healthz",
        roles: None,
    },
    RouteSpec {
        method: "GET",
        path: "/readyz",
        roles: None,
    },
    RouteSpec {
        method: "GET",
        path: "/metrics",
        roles: None,
    },
    RouteSpec {
        method: "GET",
        path: "/openapi.json",
        roles: None,
    },
    RouteSpec {
        method: "POST",
        path: "/v1/auth/login",
        roles: None,
    },
    RouteSpec {
        method: "GET",
        path: "/v1/auth/providers",
        roles: None,
    },
    RouteSpec {
        method: "GET",
        path: "/v1/auth/oidc/login",
        roles: None,
    },
    RouteSpec {
        method: "GET",
        path: "/v1/auth/oidc/callback",
        roles: None,
    },
    RouteSpec {
        method: "POST",
        path: "/v1/auth/logout",
        roles: Some(Authenticated::ROLES),
    },
    RouteSpec {
        method: "GET",
        path: "/v1/auth/me",
        roles: Some(Authenticated::ROLES),
    },
    RouteSpec {
        method: "GET",
        path: "/v1/audit/events",
        roles: Some(Compliance::ROLES),
    },
    RouteSpec {
        method: "GET",
        path: "/v1/audit/events/{id}",
        roles: Some(Compliance::ROLES),
    },
    RouteSpec {
        method: "GET",
        path: "/v1/audit/events/{id}/passages/{chunk_id}",
        roles: Some(Compliance::ROLES),
    },
    RouteSpec {
        method: "GET",
        path: "/v1/audit/export",
        roles: Some(Compliance::ROLES),
    },
    RouteSpec {
        method: "GET",
        path: "/v1/audit/verify",
        roles: Some(Compliance::ROLES),
    },
    RouteSpec {
        method: "POST",
        path: "/v1/embeddings",
        roles: Some(Authenticated::ROLES),
    },
    RouteSpec {
        method: "POST",
        path: "/v1/ingest/jobs",
        roles: Some(KnowledgeAdmin::ROLES),
    },
    RouteSpec {
        method: "GET",
        path: "/v1/ingest/jobs/{id}",
        roles: Some(KnowledgeAdmin::ROLES),
    },
    RouteSpec {
        method: "GET",
        path: "/v1/ingest/jobs/{id}/events",
        roles: Some(KnowledgeAdmin::ROLES),
    },
    RouteSpec {
        method: "DELETE",
        path: "/v1/ingest/jobs/{id}",
        roles: Some(KnowledgeAdmin::ROLES),
    },
    RouteSpec {
        method: "POST",
        path: "/v1/search",
        roles: Some(Authenticated::ROLES),
    },
    RouteSpec {
        method: "POST",
        path: "/v1/documents",
        roles: Some(KnowledgeAdmin::ROLES),
    },
    RouteSpec {
        method: "GET",
        path: "/v1/documents",
        roles: Some(Authenticated::ROLES),
    },
    RouteSpec {
        method: "GET",
        path: "/v1/documents/{id}",
        roles: Some(Authenticated::ROLES),
    },
    RouteSpec {
        method: "DELETE",
        path: "/v1/documents/{id}",
        roles: Some(KnowledgeAdmin::ROLES),
    },
    RouteSpec {
        method: "GET",
        path: "/v1/documents/{id}/file",
        roles: Some(Authenticated::ROLES),
    },
    RouteSpec {
        method: "GET",
        path: "/v1/documents/{id}/pages/{page}",
        roles: Some(Authenticated::ROLES),
    },
    RouteSpec {
        method: "GET",
        path: "/v1/collections/{name}/settings",
        roles: Some(KnowledgeAdmin::ROLES),
    },
    RouteSpec {
        method: "PUT",
        path: "/v1/collections/{name}/settings",
        roles: Some(KnowledgeAdmin::ROLES),
    },
    RouteSpec {
        method: "POST",
        path: "/v1/chat/completions",
        roles: Some(Authenticated::ROLES),
    },
    RouteSpec {
        method: "GET",
        path: "/v1/models",
        roles: Some(Authenticated::ROLES),
    },
    RouteSpec {
        method: "GET",
        path: "/v1/conversations",
        roles: Some(Authenticated::ROLES),
    },
    RouteSpec {
        method: "GET",
        path: "/v1/conversations/{id}",
        roles: Some(Authenticated::ROLES),
    },
    RouteSpec {
        method: "GET",
        path: "/v1/guard/lexicons",
        roles: Some(GuardReader::ROLES),
    },
    RouteSpec {
        method: "GET",
        path: "/v1/guard/lexicons/{name}",
        roles: Some(GuardReader::ROLES),
    },
    RouteSpec {
        method: "PUT",
        path: "/v1/guard/lexicons/{name}",
        roles: Some(GuardAdmin::ROLES),
    },
    RouteSpec {
        method: "POST",
        path: "/v1/guard/lexicons/{name}/entries",
        roles: Some(GuardAdmin::ROLES),
    },
    RouteSpec {
        method: "DELETE",
        path: "/v1/guard/lexicons/{name}",
        roles: Some(GuardAdmin::ROLES),
    },
    RouteSpec {
        method: "POST",
        path: "/v1/guard/check",
        roles: Some(GuardReader::ROLES),
    },
];

/// An authenticated, authorised, rate-limited caller of an endpoint with
/// policy `P`.
pub struct Caller<P: Policy> {
    /// Who.
    pub principal: Principal,
    /// Client address.
    pub client_addr: Option<String>,
    /// The request id.
    pub request_id: String,
    _policy: PhantomData<P>,
}

impl<P: Policy> Caller<P> {
    /// This caller as the exchange service knows them: scope, audit actor,
    /// and the owner of their conversations.
    pub fn asker(&self) -> Asker {
        Asker {
            actor: actor(&self.principal),
            client_addr: self.client_addr.clone(),
            request_id: Some(self.request_id.clone()),
            owner: Some(self.principal.username.clone()),
            via: Via::Http,
            public: true,
        }
    }

    /// A new audit event for this caller.
    pub fn event(&self, action: &str, outcome: Outcome) -> AuditEvent {
        self.asker().event(action, outcome)
    }
}

/// The audit actor for a principal.
pub fn actor(p: &Principal) -> Actor {
    Actor {
        user: p.username.clone(),
        roles: p.roles.clone(),
        groups: p.groups.clone(),
        auth: p.method.as_str().to_string(),
        key_prefix: p.key_prefix.clone(),
    }
}

/// The client address and request id of a request: behind a trusted
/// proxy (`server.trusted_proxies`), the client its `X-Forwarded-For`
/// names, so that sign-in limits and audit records are per client and not
/// per load balancer.
pub fn origin(req: &HttpRequest) -> (Option<String>, String) {
    let forwarded: Vec<std::net::IpAddr> = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse().ok())
        .collect();
    let config = req
        .app_data::<actix_web::web::Data<AppState>>()
        .map(|s| s.config.clone());
    let client = req.peer_addr().map(|a| {
        config
            .as_ref()
            .map_or(a.ip(), |c| c.server.client_address(a.ip(), &forwarded))
            .to_string()
    });
    let id = req
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    (client, id)
}

enum Credential {
    Bearer(String),
    Session(String),
}

fn credential(req: &HttpRequest) -> Option<Credential> {
    if let Some(value) = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
    {
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .unwrap_or("")
            .trim();
        return Some(Credential::Bearer(token.to_string()));
    }
    req.cookie(SESSION_COOKIE)
        .map(|c| Credential::Session(c.value().to_string()))
}

impl<P: Policy + 'static> FromRequest for Caller<P> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { authorize::<P>(&req).await })
    }
}

async fn authorize<P: Policy>(req: &HttpRequest) -> Result<Caller<P>, ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::Internal("application state missing".into()))?;
    let (client_addr, request_id) = origin(req);
    let refuse = |principal: Option<&Principal>, policy: &str, detail: String| {
        let asker = Asker {
            actor: principal.map(actor).unwrap_or_else(|| Actor {
                user: "anonymous".into(),
                auth: "none".into(),
                ..Default::default()
            }),
            client_addr: client_addr.clone(),
            request_id: Some(request_id.clone()),
            owner: None,
            via: Via::Http,
            public: true,
        };
        let mut e = asker.event("access.denied", Outcome::Refused);
        e.input = Some(serde_json::json!({"method": req.method().as_str(), "path": req.path()}));
        e.policy = vec![PolicyDecision {
            detail: Some(detail.clone()),
            ..PolicyDecision::new(policy, "deny")
        }];
        e.error = Some(detail);
        e
    };
    let result = match credential(req) {
        None => Err(AuthError::Missing),
        Some(Credential::Bearer(token)) => state.auth.bearer(&token).await,
        Some(Credential::Session(token)) => state.auth.session(&token).await,
    };
    let principal = match result {
        Ok(p) => p,
        Err(AuthError::Store(e)) => return Err(e.into()),
        Err(e @ AuthError::Missing) => {
            state
                .audit
                .record(refuse(None, "authentication", e.to_string()))
                .await?;
            return Err(ApiError::Unauthorized(e.to_string()));
        }
        Err(AuthError::Invalid(reason)) => {
            tracing::info!(reason = %reason, "authentication failed");
            state
                .audit
                .record(refuse(None, "authentication", reason))
                .await?;
            return Err(ApiError::Unauthorized(
                "invalid, expired or revoked credentials".into(),
            ));
        }
    };
    if let Err(wait) = state.limiter.check(&principal.rate_key()).await {
        let secs = wait.as_secs().max(1);
        state
            .audit
            .record(refuse(
                Some(&principal),
                "rate_limit",
                format!("retry in {secs} s"),
            ))
            .await?;
        return Err(ApiError::TooManyRequests(secs));
    }
    if !principal.has_any(P::ROLES) {
        let need: Vec<&str> = P::ROLES.iter().map(|r| r.as_str()).collect();
        let message = format!("this endpoint needs the role {}", need.join(" or "));
        state
            .audit
            .record(refuse(Some(&principal), "role", message.clone()))
            .await?;
        return Err(ApiError::Forbidden(message));
    }
    Ok(Caller {
        principal,
        client_addr,
        request_id,
        _policy: PhantomData,
    })
}
