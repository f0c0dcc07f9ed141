//! A fake OIDC identity provider over real HTTP, for the single-sign-on
//! tests: a locally generated RSA key, its JWKS at `/certs`, a token
//! endpoint at `/token` that redeems one code and checks the PKCE verifier
//! against the challenge, and an authorization endpoint at `/auth` that,
//! once told who is signed in at the provider, sends the browser straight
//! back with a code (as a provider does for a user with a live session).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

/// The issuer the fake provider signs as.
pub const ISSUER: &str = "https://sso.example.test/realms/acme";
/// The client id Zhishu is registered with.
pub const CLIENT_ID: &str = "zhishu-web";

/// A new RSA key: its PEM and its modulus, base64url (for a JWK).
pub fn rsa_key(dir: &Path, name: &str) -> (Vec<u8>, String) {
    let pem = dir.join(format!("{name}.pem"));
    let ok = Command::new("openssl")
        .args(["genrsa", "-out"])
        .arg(&pem)
        .arg("2048")
        .output()
        .expect("run openssl");
    assert!(
        ok.status.success(),
        "openssl genrsa: {}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let out = Command::new("openssl")
        .args(["rsa", "-noout", "-modulus", "-in"])
        .arg(&pem)
        .output()
        .expect("run openssl");
    let hex = String::from_utf8(out.stdout)
        .expect("modulus")
        .trim()
        .trim_start_matches("Modulus=")
        .to_string();
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect();
    (
        std::fs::read(&pem).expect("pem"),
        URL_SAFE_NO_PAD.encode(bytes),
    )
}

/// A JWT signed with `pem` (RS256) under key id `kid`.
pub fn token(pem: &[u8], kid: &str, claims: &serde_json::Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.into());
    encode(
        &header,
        claims,
        &EncodingKey::from_rsa_pem(pem).expect("RSA key"),
    )
    .expect("sign")
}

/// Seconds since the epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// The one code the token endpoint redeems, and what it answers.
#[derive(Default)]
struct Grant {
    code: String,
    challenge: String,
    id_token: String,
}

struct Inner {
    pem: Vec<u8>,
    modulus: String,
    jwks: String,
    grant: Mutex<Grant>,
    /// Claims of the user signed in at the provider (for `/auth`).
    signed_in: Mutex<Option<serde_json::Value>>,
}

/// A running fake provider.
pub struct Provider {
    /// Its base URL.
    pub url: String,
    inner: Arc<Inner>,
}

impl Provider {
    /// Starts a provider with a fresh key (key id `k1`).
    pub fn start(dir: &Path) -> Provider {
        let (pem, n) = rsa_key(dir, "provider");
        let jwks = serde_json::json!({"keys": [{"kty": "RSA", "kid": "k1", "use": "sig", "alg": "RS256", "n": n, "e": "AQAB"}]});
        let inner = Arc::new(Inner {
            pem,
            modulus: n,
            jwks: jwks.to_string(),
            grant: Mutex::new(Grant::default()),
            signed_in: Mutex::new(None),
        });
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let shared = inner.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                handle(conn, &shared);
            }
        });
        Provider { url, inner }
    }

    /// The public key's modulus, base64url (as in the JWKS).
    pub fn modulus(&self) -> &str {
        &self.inner.modulus
    }

    /// The provider's private key (PEM).
    pub fn pem(&self) -> &[u8] {
        &self.inner.pem
    }

    /// The environment that points Zhishu at this provider, for bearer
    /// tokens and browser sign-in; `redirect` is Zhishu's callback URL.
    pub fn env(&self, redirect: &str) -> Vec<(String, String)> {
        [
            ("ZHISHU_AUTH__OIDC__ISSUER", ISSUER.to_owned()),
            ("ZHISHU_AUTH__OIDC__AUDIENCE", "zhishu".to_owned()),
            ("ZHISHU_AUTH__OIDC__JWKS_URL", format!("{}/certs", self.url)),
            (
                "ZHISHU_AUTH__OIDC__ROLES_CLAIM",
                "realm_access.roles".to_owned(),
            ),
            ("ZHISHU_AUTH__OIDC__CLIENT_ID", CLIENT_ID.to_owned()),
            ("ZHISHU_AUTH__OIDC__CLIENT_SECRET", "s3cret".to_owned()),
            (
                "ZHISHU_AUTH__OIDC__AUTHORIZATION_ENDPOINT",
                format!("{}/auth", self.url),
            ),
            (
                "ZHISHU_AUTH__OIDC__TOKEN_ENDPOINT",
                format!("{}/token", self.url),
            ),
            ("ZHISHU_AUTH__OIDC__REDIRECT_URL", redirect.to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// Makes the token endpoint redeem `code` for `id_token`, when the
    /// verifier matches `challenge`.
    pub fn expect(&self, code: &str, challenge: &str, id_token: String) {
        *self.inner.grant.lock().expect("grant") = Grant {
            code: code.into(),
            challenge: challenge.into(),
            id_token,
        };
    }

    /// Signs a user in at the provider: `/auth` then approves at once,
    /// with an ID token of these claims (plus the request's nonce).
    pub fn sign_in(&self, claims: serde_json::Value) {
        *self.inner.signed_in.lock().expect("user") = Some(claims);
    }
}

/// ID-token claims for a user with these roles and groups.
pub fn id_claims(user: &str, roles: &[&str], groups: &[&str]) -> serde_json::Value {
    serde_json::json!({
        "iss": ISSUER,
        "aud": CLIENT_ID,
        "sub": format!("sub-{user}"),
        "exp": now() + 300,
        "iat": now(),
        "preferred_username": user,
        "realm_access": {"roles": roles},
        "groups": groups,
    })
}

fn query(s: &str) -> HashMap<String, String> {
    form_urlencoded::parse(s.as_bytes()).into_owned().collect()
}

fn read_request(conn: &mut TcpStream) -> (String, String) {
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = conn.read(&mut buf).unwrap_or(0);
        raw.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&raw).to_string();
        match text.find("\r\n\r\n") {
            Some(end) => {
                let length = text[..end]
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                    })
                    .unwrap_or(0);
                if raw.len() >= end + 4 + length || n == 0 {
                    let (head, body) = text.split_at(end);
                    return (head.to_owned(), body[4..].to_owned());
                }
            }
            None if n == 0 => return (text, String::new()),
            None => {}
        }
    }
}

fn handle(mut conn: TcpStream, p: &Inner) {
    let (head, body) = read_request(&mut conn);
    let target = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let (path, qs) = target.split_once('?').unwrap_or((&target, ""));
    let json = |status: u16, body: String| {
        format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    let reply = match (head.split_whitespace().next().unwrap_or(""), path) {
        ("GET", "/certs") => json(200, p.jwks.clone()),
        ("POST", "/token") => {
            let form = query(&body);
            let g = p.grant.lock().expect("grant");
            let verifier = form.get("code_verifier").cloned().unwrap_or_default();
            let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
            if form.get("grant_type").map(String::as_str) == Some("authorization_code")
                && !g.code.is_empty()
                && form.get("code") == Some(&g.code)
                && form.get("client_id").map(String::as_str) == Some(CLIENT_ID)
                && challenge == g.challenge
            {
                json(
                    200,
                    serde_json::json!({"id_token": g.id_token, "access_token": "opaque", "token_type": "Bearer"})
                        .to_string(),
                )
            } else {
                json(
                    400,
                    r#"{"error":"invalid_grant","error_description":"code or verifier not valid"}"#
                        .to_owned(),
                )
            }
        }
        ("GET", "/auth") => {
            let q = query(qs);
            let user = p.signed_in.lock().expect("user").clone();
            match user {
                Some(mut claims) => {
                    claims["nonce"] = q.get("nonce").cloned().unwrap_or_default().into();
                    let code = format!("code-{}", now());
                    *p.grant.lock().expect("grant") = Grant {
                        code: code.clone(),
                        challenge: q.get("code_challenge").cloned().unwrap_or_default(),
                        id_token: token(&p.pem, "k1", &claims),
                    };
                    let back = format!(
                        "{}?code={code}&state={}",
                        q.get("redirect_uri").cloned().unwrap_or_default(),
                        q.get("state").cloned().unwrap_or_default()
                    );
                    format!(
                        "HTTP/1.1 302 Found\r\nlocation: {back}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    )
                }
                None => json(401, r#"{"error":"login_required"}"#.to_owned()),
            }
        }
        _ => json(404, "{}".to_owned()),
    };
    let _ = conn.write_all(reply.as_bytes());
}
