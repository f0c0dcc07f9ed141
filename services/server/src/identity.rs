//! Sign-in, sign-out and "who am I".

use crate::access::{Authenticated, Caller, SESSION_COOKIE, actor, origin};
use crate::{ApiError, AppState};
use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
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
    .service(me);
}

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
    let (client_addr, request_id) = origin(&req);
    let mut event = AuditEvent::new(
        Actor {
            user: body.username.clone(),
            auth: "password".into(),
            ..Default::default()
        },
        "auth.login",
        Outcome::Ok,
    );
    event.client_addr = client_addr.clone();
    event.request_id = Some(request_id);
    let rate_key = format!("login:{}", client_addr.as_deref().unwrap_or("unknown"));
    if let Err(wait) = state.login_limiter.check(&rate_key) {
        let secs = wait.as_secs().max(1);
        event.outcome = Outcome::Refused;
        event.policy.push(PolicyDecision {
            policy: "login_rate_limit".into(),
            verdict: "deny".into(),
            detail: Some(format!("retry in {secs} s")),
        });
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
            let max_age = (expires_at - zhishu_store::now_ms()) / 1000;
            let cookie = Cookie::build(SESSION_COOKIE, token)
                .path("/")
                .http_only(true)
                .same_site(SameSite::Strict)
                .secure(state.config.auth.cookie_secure)
                .max_age(CookieDuration::seconds(max_age))
                .finish();
            Ok(HttpResponse::Ok().cookie(cookie).json(Me::from(&principal)))
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
