//! Sign-in (password or single sign-on), sign-out and "who am I".

use crate::access::{Authenticated, Caller, SESSION_COOKIE, actor, origin};
use crate::{ApiError, AppState};
use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use utoipa::ToSchema;
use zhishu_audit::{Actor, AuditEvent, Outcome, PolicyDecision};
use zhishu_auth::{LoginFailure, Principal};

/// Largest sign-in body.
const LOGIN_BODY_BYTES: usize = 16 * 1024;

/// Registers the identity routes.
pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/v1/auth/login")
            .app_data(crate::error::json_config(LOGIN_BODY_BYTES))
            .route(web::post().to(login)),
    )
    .service(logout)
    .service(me)
    .service(providers)
    .service(sso_login)
    .service(sso_callback);
}

/// Cookie holding a browser sign-in in progress (state, nonce, PKCE
/// verifier); only the callback path ever receives it.
const SSO_COOKIE: &str = "zhishu_sso";
/// Where the SSO cookie is sent.
const SSO_PATH: &str = "/v1/auth/oidc";

/// Sign-in request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Login name.
    pub username: String,
    /// Password.
    pub password: String,
}

/// The signed-in user.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    /// Login name.
    pub username: String,
    /// Roles.
    #[schema(value_type = Vec<String>)]
    pub roles: Vec<zhishu_core::Role>,
    /// Access groups.
    pub groups: Vec<String>,
    /// `session`, `api_key` or `oidc`.
    pub auth: String,
}

impl From<&Principal> for Me {
    fn from(p: &Principal) -> Self {
        Self {
            username: p.username.clone(),
            roles: p.roles.clone(),
            groups: p.groups.clone(),
            auth: p.method.as_str().to_string(),
        }
    }
}

/// The session cookie: HTTP-only, SameSite=Strict, for the whole site,
/// living as long as the session.
fn session_cookie(state: &AppState, token: String, expires_at: i64) -> Cookie<'static> {
    let max_age = (expires_at - zhishu_store::now_ms()) / 1000;
    Cookie::build(SESSION_COOKIE, token)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(state.config.auth.cookie_secure)
        .max_age(CookieDuration::seconds(max_age))
        .finish()
}

/// The audit event of a sign-in attempt (`auth.login`, outcome ok until
/// refused) and the client's address.
fn login_event(req: &HttpRequest, user: &str, auth: &str) -> (AuditEvent, Option<String>) {
    let (client_addr, request_id) = origin(req);
    let mut event = AuditEvent::new(
        Actor {
            user: user.into(),
            auth: auth.into(),
            ..Default::default()
        },
        "auth.login",
        Outcome::Ok,
    );
    event.client_addr = client_addr.clone();
    event.request_id = Some(request_id);
    (event, client_addr)
}

/// Applies the per-address sign-in limit (password and single sign-on
/// share it): when refused, marks the event and returns the seconds to
/// wait.
async fn login_refused(
    state: &AppState,
    event: &mut AuditEvent,
    client_addr: &Option<String>,
) -> Option<u64> {
    let key = format!("login:{}", client_addr.as_deref().unwrap_or("unknown"));
    let secs = state
        .login_limiter
        .check(&key)
        .await
        .err()?
        .as_secs()
        .max(1);
    event.outcome = Outcome::Refused;
    event.policy.push(PolicyDecision {
        detail: Some(format!("retry in {secs} s")),
        ..PolicyDecision::new("login_rate_limit", "deny")
    });
    Some(secs)
}

/// Signs in with a local user's password and sets an HTTP-only session
/// cookie. Failures are slowed down, rate-limited per client address and
/// audited.
#[utoipa::path(post, path = "/v1/auth/login", tag = "identity", request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in; the session cookie is set", body = Me),
        (status = 401, description = "Invalid username or password", body = crate::error::ErrorBody),
        (status = 429, description = "Too many attempts from this address", body = crate::error::ErrorBody)))]
pub(crate) async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let (mut event, client_addr) = login_event(&req, &body.username, "password");
    if let Some(secs) = login_refused(&state, &mut event, &client_addr).await {
        state.audit.record(event).await?;
        return Err(ApiError::TooManyRequests(secs));
    }
    match state
        .auth
        .login(&body.username, &body.password, client_addr)
        .await
    {
        Ok((principal, token, expires_at)) => {
            event.actor = actor(&principal);
            state.audit.record(event).await?;
            Ok(HttpResponse::Ok()
                .cookie(session_cookie(&state, token, expires_at))
                .json(Me::from(&principal)))
        }
        Err(LoginFailure::Store(e)) => Err(e.into()),
        Err(failure) => {
            tokio::time::sleep(Duration::from_millis(
                state.config.auth.login_failure_delay_ms,
            ))
            .await;
            event.outcome = Outcome::Refused;
            event.error = Some(failure.to_string());
            state.audit.record(event).await?;
            Err(ApiError::Unauthorized(
                "invalid username or password".into(),
            ))
        }
    }
}

/// Signs out: ends the session and clears the cookie.
#[utoipa::path(post, path = "/v1/auth/logout", tag = "identity",
    responses((status = 204, description = "Signed out"),
        (status = 401, description = "Not signed in", body = crate::error::ErrorBody)))]
#[post("/v1/auth/logout")]
pub(crate) async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller<Authenticated>,
) -> Result<HttpResponse, ApiError> {
    if let Some(cookie) = req.cookie(SESSION_COOKIE) {
        state.auth.logout(cookie.value()).await?;
    }
    state
        .audit
        .record(caller.event("auth.logout", Outcome::Ok))
        .await?;
    let mut gone = Cookie::build(SESSION_COOKIE, "")
        .path("/")
        .http_only(true)
        .finish();
    gone.make_removal();
    Ok(HttpResponse::NoContent().cookie(gone).finish())
}

/// The caller's identity: user name, roles and access groups.
#[utoipa::path(get, path = "/v1/auth/me", tag = "identity",
    responses((status = 200, description = "The caller", body = Me),
        (status = 401, description = "Not authenticated", body = crate::error::ErrorBody)))]
#[get("/v1/auth/me")]
pub(crate) async fn me(
    state: web::Data<AppState>,
    caller: Caller<Authenticated>,
) -> Result<web::Json<Me>, ApiError> {
    state
        .audit
        .record(caller.event("auth.me", Outcome::Ok))
        .await?;
    Ok(web::Json(Me::from(&caller.principal)))
}

/// How people may sign in.
#[derive(Debug, Serialize, ToSchema)]
pub struct Providers {
    /// Local users with a password (always).
    pub password: bool,
    /// Single sign-on through the configured OIDC provider: start it at
    /// `GET /v1/auth/oidc/login`.
    pub sso: bool,
}

/// How people may sign in: the sign-in page shows a single-sign-on button
/// when the provider is configured for browsers.
#[utoipa::path(get, path = "/v1/auth/providers", tag = "identity",
    responses((status = 200, description = "The sign-in methods", body = Providers)))]
#[get("/v1/auth/providers")]
pub(crate) async fn providers(state: web::Data<AppState>) -> web::Json<Providers> {
    web::Json(Providers {
        password: true,
        sso: state.auth.sso().is_some(),
    })
}

/// Starts single sign-on: redirects the browser to the identity provider
/// (authorization code flow with PKCE).
#[utoipa::path(get, path = "/v1/auth/oidc/login", tag = "identity",
    responses((status = 302, description = "To the identity provider"),
        (status = 404, description = "Single sign-on is not configured", body = crate::error::ErrorBody)))]
#[get("/v1/auth/oidc/login")]
pub(crate) async fn sso_login(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let flow = state.auth.sso().ok_or_else(|| {
        ApiError::NotFound(
            "single sign-on is not configured: set auth.oidc.client_id, authorization_endpoint, token_endpoint and redirect_url"
                .into(),
        )
    })?;
    let started = flow.start();
    // Lax, not Strict: the provider sends the browser back with a
    // top-level navigation from its own site.
    let cookie = Cookie::build(SSO_COOKIE, started.cookie)
        .path(SSO_PATH)
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.config.auth.cookie_secure)
        .max_age(CookieDuration::seconds(
            zhishu_auth::sso::FLOW_TTL.as_secs() as i64,
        ))
        .finish();
    Ok(HttpResponse::Found()
        .cookie(cookie)
        .insert_header((header::LOCATION, started.authorize_url))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish())
}

/// What the identity provider sends back.
#[derive(Debug, Deserialize)]
pub(crate) struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// Finishes single sign-on: checks the state, redeems the code, verifies
/// the ID token, opens a session and sends the browser to the UI. A
/// failure sends it to the sign-in page with a reason code
/// (`/?sso_error=…`); the details go to the audit trail.
#[utoipa::path(get, path = "/v1/auth/oidc/callback", tag = "identity",
    params(("code" = Option<String>, Query, description = "Authorization code"),
        ("state" = Option<String>, Query, description = "The state sent to the provider")),
    responses((status = 302, description = "To the UI, signed in (session cookie set), or to the sign-in page with `sso_error`")))]
#[get("/v1/auth/oidc/callback")]
pub(crate) async fn sso_callback(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<Callback>,
) -> Result<HttpResponse, ApiError> {
    let (mut event, client_addr) = login_event(&req, "anonymous", "oidc");
    let mut gone = Cookie::build(SSO_COOKIE, "")
        .path(SSO_PATH)
        .http_only(true)
        .finish();
    gone.make_removal();
    let back = |reason: &str| {
        HttpResponse::Found()
            .cookie(gone.clone())
            .insert_header((header::LOCATION, format!("/?sso_error={reason}")))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish()
    };

    if login_refused(&state, &mut event, &client_addr)
        .await
        .is_some()
    {
        state.audit.record(event).await?;
        return Ok(back("rate_limited"));
    }
    if let Some(error) = &query.error {
        event.outcome = Outcome::Refused;
        event.error = Some(format!(
            "the identity provider answered `{error}`: {}",
            query.error_description.as_deref().unwrap_or("")
        ));
        state.audit.record(event).await?;
        return Ok(back("denied"));
    }
    let cookie = req
        .cookie(SSO_COOKIE)
        .map(|c| c.value().to_owned())
        .unwrap_or_default();
    let result = state
        .auth
        .sso_login(
            &cookie,
            query.state.as_deref().unwrap_or(""),
            query.code.as_deref().unwrap_or(""),
            client_addr,
        )
        .await;
    match result {
        Ok((principal, token, expires_at)) => {
            event.actor = actor(&principal);
            event.actor.auth = "oidc".into();
            state.audit.record(event).await?;
            Ok(HttpResponse::Found()
                .cookie(gone)
                .cookie(session_cookie(&state, token, expires_at))
                .insert_header((header::LOCATION, "/"))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .finish())
        }
        Err(LoginFailure::Store(e)) => Err(e.into()),
        Err(failure) => {
            let reason = match &failure {
                LoginFailure::Disabled => "disabled",
                LoginFailure::LocalAccount(name) => {
                    event.actor.user = name.clone();
                    "local_account"
                }
                _ => "failed",
            };
            tracing::warn!(reason = %failure, "single sign-on refused");
            event.outcome = Outcome::Refused;
            event.error = Some(failure.to_string());
            state.audit.record(event).await?;
            Ok(back(reason))
        }
    }
}
