//! OIDC bearer tokens.
//!
//! The identity provider signs access tokens with keys it publishes as a
//! JWKS. A token is accepted when its signature verifies with the key its
//! header names (`kid`), its issuer and audience are the configured ones,
//! and it has not expired. Only asymmetric algorithms are accepted: a token
//! signed with HMAC or `none` is refused whatever its claims say. Keys are
//! cached; an unknown `kid` triggers one refetch (at most every 30 s), so key
//! rotation works without a restart.

use crate::{AuthMethod, Principal};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;
use zhishu_core::Role;
use zhishu_core::config::OidcConfig;

/// Least time between two JWKS fetches.
const REFETCH_AFTER: Duration = Duration::from_secs(30);

/// Verifies OIDC access tokens.
pub struct OidcVerifier {
    config: OidcConfig,
    keys: Mutex<Option<(JwkSet, Instant)>>,
}

impl OidcVerifier {
    /// A verifier for this provider; keys are fetched on first use.
    pub fn new(config: OidcConfig) -> Self {
        Self {
            config,
            keys: Mutex::new(None),
        }
    }

    /// The provider's configuration.
    pub fn config(&self) -> &OidcConfig {
        &self.config
    }

    /// Verifies a token and maps its claims to a principal.
    ///
    /// # Errors
    /// A reason for the log and audit trail (never shown to the client).
    pub async fn verify(&self, token: &str) -> Result<Principal, String> {
        let claims = self.claims(token, &self.config.audience).await?;
        self.principal(&claims)
    }

    /// Verifies an ID token from the browser sign-in: signed by the
    /// provider, issued to this client (`aud` = `client_id`), carrying the
    /// nonce this server sent, and maps its claims to a principal.
    ///
    /// # Errors
    /// A reason for the log and audit trail (never shown to the client).
    pub async fn verify_id_token(&self, token: &str, nonce: &str) -> Result<Principal, String> {
        let client = self
            .config
            .client_id
            .as_deref()
            .ok_or("browser sign-in is not configured (auth.oidc.client_id)")?;
        let claims = self.claims(token, client).await?;
        let sent = claims.get("nonce").and_then(|v| v.as_str()).unwrap_or("");
        if !crate::secrets::constant_time_eq(sent, nonce) {
            return Err("the ID token's nonce is not the one this sign-in sent".into());
        }
        self.principal(&claims)
    }

    async fn claims(&self, token: &str, audience: &str) -> Result<serde_json::Value, String> {
        let header = decode_header(token).map_err(|e| format!("malformed token header: {e}"))?;
        if !matches!(
            header.alg,
            Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512
                | Algorithm::ES256
                | Algorithm::ES384
                | Algorithm::EdDSA
        ) {
            return Err(format!("algorithm {:?} is not accepted", header.alg));
        }
        let kid = header.kid.ok_or("the token names no signing key (kid)")?;
        let key = self.key(&kid).await?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.config.issuer]);
        validation.set_audience(&[audience]);
        validation.leeway = 30;
        let data = decode::<serde_json::Value>(token, &key, &validation)
            .map_err(|e| format!("token rejected: {e}"))?;
        Ok(data.claims)
    }

    fn principal(&self, claims: &serde_json::Value) -> Result<Principal, String> {
        let sub = claims
            .get("sub")
            .and_then(|v| v.as_str())
            .ok_or("the token has no subject")?;
        let username = claim(claims, &self.config.username_claim)
            .and_then(|v| v.as_str())
            .unwrap_or(sub)
            .to_string();
        let strings = |path: &str| -> Vec<String> {
            claim(claims, path)
                .and_then(|v| v.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default()
        };
        let roles: Vec<Role> = strings(&self.config.roles_claim)
            .iter()
            .filter_map(|r| r.parse().ok())
            .collect();
        if roles.is_empty() {
            return Err(format!(
                "the token grants no Zhishu role in claim `{}`",
                self.config.roles_claim
            ));
        }
        Ok(Principal {
            user_id: format!("oidc:{sub}"),
            username,
            roles,
            groups: strings(&self.config.groups_claim),
            method: AuthMethod::Oidc,
            key_prefix: None,
        })
    }

    async fn key(&self, kid: &str) -> Result<DecodingKey, String> {
        let mut cache = self.keys.lock().await;
        if let Some((set, _)) = cache.as_ref()
            && let Some(jwk) = set.find(kid)
        {
            return DecodingKey::from_jwk(jwk).map_err(|e| format!("unusable key {kid}: {e}"));
        }
        let stale = cache
            .as_ref()
            .is_none_or(|(_, at)| at.elapsed() >= REFETCH_AFTER);
        if !stale {
            return Err(format!("unknown signing key {kid}"));
        }
        let set = fetch_jwks(self.config.jwks_url.clone()).await?;
        let found = set
            .find(kid)
            .map(|jwk| DecodingKey::from_jwk(jwk).map_err(|e| format!("unusable key {kid}: {e}")));
        *cache = Some((set, Instant::now()));
        found.unwrap_or_else(|| Err(format!("unknown signing key {kid}")))
    }
}

/// A claim by dotted path (`realm_access.roles`).
fn claim<'a>(claims: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    path.split('.').try_fold(claims, |v, k| v.get(k))
}

async fn fetch_jwks(url: String) -> Result<JwkSet, String> {
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(5)))
            .build()
            .into();
        let mut res = agent
            .get(&url)
            .call()
            .map_err(|e| format!("cannot fetch the JWKS from {url}: {e}"))?;
        res.body_mut()
            .read_json::<JwkSet>()
            .map_err(|e| format!("the JWKS at {url} is not valid: {e}"))
    })
    .await
    .map_err(|e| format!("JWKS fetch panicked: {e}"))?
}
