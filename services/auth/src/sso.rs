//! Single sign-on in the browser: the OIDC authorization code flow with
//! PKCE (RFC 7636).
//!
//! [`SsoFlow::start`] sends the browser to the provider with a fresh
//! `state` (against login CSRF), `nonce` (binds the ID token to this
//! sign-in) and PKCE challenge (a stolen code is useless without the
//! verifier). The three secrets travel in a short-lived HTTP-only cookie
//! rather than in server memory, so any instance behind a load balancer
//! can finish the flow. [`SsoFlow::finish`] checks the returned `state`
//! against the cookie, redeems the code with the verifier at the token
//! endpoint, and verifies the ID token (signature, issuer, audience =
//! `client_id`, expiry, nonce) before trusting any claim.

use crate::Principal;
use crate::oidc::OidcVerifier;
use crate::secrets::{constant_time_eq, random_hex};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use std::time::Duration;
use zhishu_core::config::OidcConfig;

/// How long a started sign-in may take at the provider.
pub const FLOW_TTL: Duration = Duration::from_secs(600);

/// A browser sign-in with the configured provider.
pub struct SsoFlow {
    client_id: String,
    client_secret: Option<String>,
    authorization_endpoint: String,
    token_endpoint: String,
    redirect_url: String,
    scopes: String,
}

/// Where to send the browser, and the cookie that must come back with it.
#[derive(Debug)]
pub struct SsoStart {
    /// The provider's authorization URL with this sign-in's parameters.
    pub authorize_url: String,
    /// `state.nonce.verifier`, for an HTTP-only cookie.
    pub cookie: String,
}

impl SsoFlow {
    /// The flow of this provider; `None` unless browser sign-in is
    /// configured (`client_id` and the endpoints; validated with the
    /// configuration).
    pub fn new(config: &OidcConfig) -> Option<Self> {
        Some(Self {
            client_id: config.client_id.clone()?,
            client_secret: config.client_secret.clone(),
            authorization_endpoint: config.authorization_endpoint.clone()?,
            token_endpoint: config.token_endpoint.clone()?,
            redirect_url: config.redirect_url.clone()?,
            scopes: config.scopes.clone(),
        })
    }

    /// Starts a sign-in.
    pub fn start(&self) -> SsoStart {
        let state = random_hex(16);
        let nonce = random_hex(16);
        let verifier = random_hex(32);
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.client_id)
            .append_pair("redirect_uri", &self.redirect_url)
            .append_pair("scope", &self.scopes)
            .append_pair("state", &state)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &challenge(&verifier))
            .append_pair("code_challenge_method", "S256")
            .finish();
        let sep = if self.authorization_endpoint.contains('?') {
            '&'
        } else {
            '?'
        };
        SsoStart {
            authorize_url: format!("{}{sep}{query}", self.authorization_endpoint),
            cookie: format!("{state}.{nonce}.{verifier}"),
        }
    }

    /// Finishes a sign-in: the provider sent the browser back with `code`
    /// and `state`; `cookie` is what [`SsoFlow::start`] set.
    ///
    /// # Errors
    /// A reason for the log and the audit trail: a state that does not
    /// match (or no cookie: the sign-in expired or was not started here),
    /// a code the provider refuses, an ID token that does not verify.
    pub async fn finish(
        &self,
        cookie: &str,
        state: &str,
        code: &str,
        verifier: &OidcVerifier,
    ) -> Result<Principal, String> {
        let mut parts = cookie.splitn(3, '.');
        let (Some(expected), Some(nonce), Some(code_verifier)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err("no sign-in in progress in this browser (or it expired)".into());
        };
        if state.is_empty() || !constant_time_eq(expected, state) {
            return Err("the state returned by the provider does not match this sign-in".into());
        }
        if code.is_empty() {
            return Err("the provider returned no authorization code".into());
        }
        let id_token = self.redeem(code, code_verifier).await?;
        verifier.verify_id_token(&id_token, nonce).await
    }

    /// Exchanges the code (with the PKCE verifier) for the ID token.
    async fn redeem(&self, code: &str, code_verifier: &str) -> Result<String, String> {
        let url = self.token_endpoint.clone();
        let mut form = vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", code.to_owned()),
            ("redirect_uri", self.redirect_url.clone()),
            ("client_id", self.client_id.clone()),
            ("code_verifier", code_verifier.to_owned()),
        ];
        if let Some(secret) = &self.client_secret {
            form.push(("client_secret", secret.clone()));
        }
        tokio::task::spawn_blocking(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .timeout_global(Some(Duration::from_secs(10)))
                .http_status_as_error(false)
                .build()
                .into();
            let mut res = agent
                .post(&url)
                .send_form(form.iter().map(|(k, v)| (*k, v.as_str())))
                .map_err(|e| format!("cannot reach the token endpoint {url}: {e}"))?;
            let status = res.status().as_u16();
            let body: serde_json::Value = res
                .body_mut()
                .read_json()
                .map_err(|e| format!("the token endpoint answered {status} without JSON: {e}"))?;
            if status != 200 {
                let error = body.get("error").and_then(|v| v.as_str()).unwrap_or("");
                let detail = body
                    .get("error_description")
                    .and_then(|v| v.as_str())
                    .unwrap_or("");
                return Err(format!(
                    "the token endpoint refused the code ({status} {error}: {detail})"
                ));
            }
            body.get("id_token")
                .and_then(|v| v.as_str())
                .map(str::to_owned)
                .ok_or_else(|| {
                    "the token endpoint returned no id_token (is `openid` among auth.oidc.scopes?)"
                        .to_owned()
                })
        })
        .await
        .map_err(|e| format!("token exchange panicked: {e}"))?
    }
}

/// The PKCE S256 challenge of a verifier.
fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> OidcConfig {
        OidcConfig {
            issuer: "https://sso.example.test".into(),
            audience: "zhishu".into(),
            jwks_url: "https://sso.example.test/certs".into(),
            username_claim: "preferred_username".into(),
            roles_claim: "roles".into(),
            groups_claim: "groups".into(),
            client_id: Some("zhishu-web".into()),
            client_secret: None,
            authorization_endpoint: Some("https://sso.example.test/auth?kc_idp_hint=corp".into()),
            token_endpoint: Some("https://sso.example.test/token".into()),
            redirect_url: Some("https://zhishu.example.test/v1/auth/oidc/callback".into()),
            scopes: "openid profile".into(),
        }
    }

    #[test]
    fn the_challenge_is_base64url_sha256_without_padding() {
        // Computed independently with Python's hashlib and base64.
        assert_eq!(
            challenge("dBjftJeZ4CVP-mJ0aiZjI2S8xdLdqiQ9dLCuJakS9vb"),
            "wBx8F9tMe3eNZKvU1x5h_vEc5S9yDaDaiona9WXVwxI"
        );
    }

    #[test]
    fn each_start_has_fresh_secrets_and_a_complete_request() {
        let flow = SsoFlow::new(&config()).expect("configured");
        let (a, b) = (flow.start(), flow.start());
        assert_ne!(a.cookie, b.cookie);
        let url = &a.authorize_url;
        assert!(
            url.starts_with("https://sso.example.test/auth?kc_idp_hint=corp&"),
            "{url}"
        );
        for part in [
            "response_type=code",
            "client_id=zhishu-web",
            "redirect_uri=https%3A%2F%2Fzhishu.example.test%2Fv1%2Fauth%2Foidc%2Fcallback",
            "scope=openid+profile",
            "code_challenge_method=S256",
        ] {
            assert!(url.contains(part), "{part} in {url}");
        }
        let [state, _nonce, verifier] = a.cookie.split('.').collect::<Vec<_>>()[..] else {
            panic!("cookie {}", a.cookie)
        };
        assert!(url.contains(&format!("state={state}")));
        assert!(url.contains(&format!("code_challenge={}", challenge(verifier))));
        assert!(
            !url.contains(verifier),
            "the verifier never leaves the server"
        );
    }

    #[test]
    fn no_flow_without_a_client_id() {
        let mut c = config();
        c.client_id = None;
        assert!(SsoFlow::new(&c).is_none());
    }

    #[tokio::test]
    async fn a_state_that_does_not_match_is_refused_before_any_exchange() {
        let flow = SsoFlow::new(&config()).expect("configured");
        let started = flow.start();
        let verifier = OidcVerifier::new(config());
        let e = flow
            .finish(&started.cookie, "forged", "code", &verifier)
            .await
            .unwrap_err();
        assert!(e.contains("state"), "{e}");
        let e = flow.finish("", "x", "code", &verifier).await.unwrap_err();
        assert!(e.contains("no sign-in in progress"), "{e}");
    }
}
