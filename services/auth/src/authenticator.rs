//! Turning credentials into a [`Principal`].

use crate::oidc::OidcVerifier;
use crate::secrets::{
    api_key_prefix, constant_time_eq, new_session_token, sha256_hex, verify_password,
};
use crate::sso::SsoFlow;
use crate::{AuthMethod, Principal};
use std::sync::Arc;
use std::time::Duration;
use zhishu_store::{IdentityStore, NewUser, SessionRecord, StoreError, UserRecord, now_ms};

/// Why a request could not be authenticated. The client sees only "missing"
/// or "invalid"; the reason goes to the log and the audit trail.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No credentials were sent.
    #[error("authentication required: send `Authorization: Bearer <API key or token>`, or sign in")]
    Missing,
    /// Credentials were sent but are not valid.
    #[error("invalid credentials: {0}")]
    Invalid(String),
    /// The identity store could not be read.
    #[error(transparent)]
    Store(StoreError),
}

/// Why a sign-in failed.
#[derive(Debug, thiserror::Error)]
pub enum LoginFailure {
    /// Unknown user or wrong password (deliberately not told apart).
    #[error("invalid username or password")]
    BadCredentials,
    /// The user exists but is disabled.
    #[error("the account is disabled")]
    Disabled,
    /// Single sign-on named a user that is a local account with a
    /// password: the provider may not take it over.
    #[error(
        "`{0}` is a local account with a password; single sign-on cannot sign in as it (an admin can rename it, or recreate it with --no-password)"
    )]
    LocalAccount(String),
    /// The single sign-on exchange failed (the reason is for the audit
    /// trail and the log).
    #[error("single sign-on failed: {0}")]
    Sso(String),
    /// The identity store could not be read or written.
    #[error(transparent)]
    Store(StoreError),
}

/// A hash of a throwaway password, verified against when the user does not
/// exist, so that unknown and known users take the same time. A constant
/// with the same Argon2id parameters as [`crate::hash_password`] (checked by
/// a test), so there is nothing to fail at run time.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$zjwgLlGhhJmw+bwhhDzOYw$yTD+yQ5AgDlMrdjC/IZT4sx08fVG0T5mxXgN24LhF/A";

/// Authenticates requests against the identity store (and an OIDC
/// provider, when configured).
pub struct Authenticator {
    store: Arc<dyn IdentityStore>,
    session_ttl: Duration,
    oidc: Option<OidcVerifier>,
    sso: Option<SsoFlow>,
}

impl Authenticator {
    /// A new authenticator. Sessions last `session_ttl`.
    pub fn new(
        store: Arc<dyn IdentityStore>,
        session_ttl: Duration,
        oidc: Option<OidcVerifier>,
    ) -> Self {
        let sso = oidc.as_ref().and_then(|o| SsoFlow::new(o.config()));
        Self {
            store,
            session_ttl,
            oidc,
            sso,
        }
    }

    /// The browser sign-in flow, when configured (`auth.oidc.client_id`).
    pub fn sso(&self) -> Option<&SsoFlow> {
        self.sso.as_ref()
    }

    /// Finishes a browser sign-in (see [`crate::sso`]) and opens a session
    /// for the user the provider vouched for. The user is provisioned on
    /// first sign-in (without a password), and their roles and access
    /// groups are replaced by the provider's at every sign-in, so the
    /// provider stays the source of truth. A local account with a password
    /// is never taken over.
    ///
    /// # Errors
    /// [`LoginFailure`]; the caller audits it.
    pub async fn sso_login(
        &self,
        cookie: &str,
        state: &str,
        code: &str,
        client_addr: Option<String>,
    ) -> Result<(Principal, String, i64), LoginFailure> {
        let (Some(flow), Some(verifier)) = (&self.sso, &self.oidc) else {
            return Err(LoginFailure::Sso("single sign-on is not configured".into()));
        };
        let vouched = flow
            .finish(cookie, state, code, verifier)
            .await
            .map_err(LoginFailure::Sso)?;
        let user = match self.store.user_by_name(&vouched.username).await {
            Ok(u) if u.password_hash.is_some() => {
                return Err(LoginFailure::LocalAccount(u.username));
            }
            Ok(u) if u.disabled_at.is_some() => return Err(LoginFailure::Disabled),
            Ok(u) => self
                .store
                .set_user_access(&u.username, &vouched.roles, &vouched.groups)
                .await
                .map_err(LoginFailure::Store)?,
            Err(StoreError::NotFound { .. }) => self
                .store
                .create_user(&NewUser {
                    username: vouched.username.clone(),
                    display_name: vouched.username.clone(),
                    password_hash: None,
                    roles: vouched.roles.clone(),
                    access_groups: vouched.groups.clone(),
                })
                .await
                .map_err(LoginFailure::Store)?,
            Err(e) => return Err(LoginFailure::Store(e)),
        };
        self.open_session(user, client_addr).await
    }

    /// Whether OIDC bearer tokens are accepted.
    pub fn oidc_enabled(&self) -> bool {
        self.oidc.is_some()
    }

    /// Authenticates an `Authorization: Bearer` value: an API key, or an
    /// OIDC token when OIDC is configured.
    ///
    /// # Errors
    /// [`AuthError::Invalid`] for unknown, revoked or malformed credentials.
    pub async fn bearer(&self, token: &str) -> Result<Principal, AuthError> {
        if let Some(prefix) = api_key_prefix(token) {
            return self.api_key(prefix, token).await;
        }
        match &self.oidc {
            Some(oidc) if token.matches('.').count() == 2 => {
                oidc.verify(token).await.map_err(AuthError::Invalid)
            }
            Some(_) => Err(AuthError::Invalid("neither an API key nor a JWT".into())),
            None => Err(AuthError::Invalid(
                "not an API key (OIDC is not configured)".into(),
            )),
        }
    }

    async fn api_key(&self, prefix: &str, key: &str) -> Result<Principal, AuthError> {
        let record = match self.store.api_key_by_prefix(prefix).await {
            Ok(r) => r,
            Err(StoreError::NotFound { .. }) => {
                return Err(AuthError::Invalid(format!("unknown API key {prefix}")));
            }
            Err(e) => return Err(AuthError::Store(e)),
        };
        if !constant_time_eq(&record.key_hash, &sha256_hex(key)) {
            return Err(AuthError::Invalid(format!(
                "wrong secret for API key {prefix}"
            )));
        }
        if record.revoked_at.is_some() {
            return Err(AuthError::Invalid(format!("API key {prefix} is revoked")));
        }
        let user = self.active_user(&record.user_id).await?;
        // Best effort: a failure to record the use must not fail the request.
        if let Err(e) = self.store.touch_api_key(&record.id).await {
            tracing::warn!(error = %e, "cannot record API key use");
        }
        Ok(Principal {
            user_id: user.id,
            username: user.username,
            roles: record
                .roles
                .into_iter()
                .filter(|r| user.roles.contains(r))
                .collect(),
            groups: user.access_groups,
            method: AuthMethod::ApiKey,
            key_prefix: Some(record.prefix),
        })
    }

    async fn active_user(&self, id: &str) -> Result<UserRecord, AuthError> {
        let user = self.store.user_by_id(id).await.map_err(|e| match e {
            StoreError::NotFound { .. } => AuthError::Invalid("the owner no longer exists".into()),
            other => AuthError::Store(other),
        })?;
        if user.disabled_at.is_some() {
            return Err(AuthError::Invalid(format!(
                "user {} is disabled",
                user.username
            )));
        }
        Ok(user)
    }

    /// Authenticates a session token from the cookie.
    ///
    /// # Errors
    /// [`AuthError::Invalid`] for unknown, expired or signed-out sessions.
    pub async fn session(&self, token: &str) -> Result<Principal, AuthError> {
        let session = match self.store.session(&sha256_hex(token)).await {
            Ok(s) => s,
            Err(StoreError::NotFound { .. }) => {
                return Err(AuthError::Invalid("unknown session".into()));
            }
            Err(e) => return Err(AuthError::Store(e)),
        };
        if session.revoked_at.is_some() {
            return Err(AuthError::Invalid("the session was signed out".into()));
        }
        if session.expires_at <= now_ms() {
            return Err(AuthError::Invalid("the session expired".into()));
        }
        let user = self.active_user(&session.user_id).await?;
        Ok(Principal {
            user_id: user.id,
            username: user.username,
            roles: user.roles,
            groups: user.access_groups,
            method: AuthMethod::Session,
            key_prefix: None,
        })
    }

    /// Checks a password and opens a session. Returns the principal, the
    /// session token (for the cookie) and its expiry (ms).
    ///
    /// # Errors
    /// [`LoginFailure`]; the caller slows failures down and audits them.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        client_addr: Option<String>,
    ) -> Result<(Principal, String, i64), LoginFailure> {
        let user = match self.store.user_by_name(username).await {
            Ok(u) => Some(u),
            Err(StoreError::NotFound { .. }) => None,
            Err(e) => return Err(LoginFailure::Store(e)),
        };
        let hash = user
            .as_ref()
            .and_then(|u| u.password_hash.clone())
            .unwrap_or_else(|| DUMMY_HASH.to_owned());
        let password = password.to_string();
        let matches = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
            .await
            .unwrap_or(false);
        let user = match user {
            Some(u) if matches && u.password_hash.is_some() => u,
            _ => return Err(LoginFailure::BadCredentials),
        };
        if user.disabled_at.is_some() {
            return Err(LoginFailure::Disabled);
        }
        self.open_session(user, client_addr).await
    }

    /// Opens a session for a user: the principal, the token for the
    /// cookie, and its expiry (ms).
    async fn open_session(
        &self,
        user: UserRecord,
        client_addr: Option<String>,
    ) -> Result<(Principal, String, i64), LoginFailure> {
        let (token, token_hash) = new_session_token();
        let now = now_ms();
        let expires_at = now + i64::try_from(self.session_ttl.as_millis()).unwrap_or(i64::MAX / 2);
        self.store
            .create_session(&SessionRecord {
                token_hash,
                user_id: user.id.clone(),
                created_at: now,
                expires_at,
                revoked_at: None,
                client_addr,
            })
            .await
            .map_err(LoginFailure::Store)?;
        Ok((
            Principal {
                user_id: user.id,
                username: user.username,
                roles: user.roles,
                groups: user.access_groups,
                method: AuthMethod::Session,
                key_prefix: None,
            },
            token,
            expires_at,
        ))
    }

    /// Ends the session of this token.
    ///
    /// # Errors
    /// When the store cannot be written.
    pub async fn logout(&self, token: &str) -> Result<(), StoreError> {
        self.store.revoke_session(&sha256_hex(token)).await
    }
}

#[cfg(test)]
mod tests {
    use super::DUMMY_HASH;

    #[test]
    fn the_dummy_hash_is_valid_and_costs_what_a_real_one_does() {
        assert!(crate::verify_password("zhishu-dummy-password", DUMMY_HASH));
        let real = crate::hash_password("x").unwrap();
        let params = |h: &str| h.split('$').nth(3).map(str::to_owned);
        assert_eq!(params(DUMMY_HASH), params(&real), "same Argon2 parameters");
    }
}
