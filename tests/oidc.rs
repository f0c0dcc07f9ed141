//! Single sign-on: OIDC access tokens signed by a locally generated RSA key
//! whose JWKS is served over HTTP, as an identity provider would.

mod common;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{Server, bearer, request};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

const ISSUER: &str = "https://sso.example.test/realms/acme";

fn rsa_key(dir: &Path, name: &str) -> (Vec<u8>, String) {
    let pem = dir.join(format!("{name}.pem"));
    let ok = Command::new("openssl")
        .args(["genrsa", "-out"])
        .arg(&pem)
        .arg("2048")
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "openssl genrsa: {}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let out = Command::new("openssl")
        .args(["rsa", "-noout", "-modulus", "-in"])
        .arg(&pem)
        .output()
        .unwrap();
    let hex = String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .trim_start_matches("Modulus=")
        .to_string();
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    (std::fs::read(&pem).unwrap(), URL_SAFE_NO_PAD.encode(bytes))
}

/// Serves `body` as JSON to every request, like a provider's JWKS endpoint.
fn serve_jwks(body: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            let reply = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = conn.write_all(reply.as_bytes());
        }
    });
    format!("http://{addr}/protocol/openid-connect/certs")
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn token(pem: &[u8], kid: &str, claims: serde_json::Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.into());
    encode(&header, &claims, &EncodingKey::from_rsa_pem(pem).unwrap()).unwrap()
}

fn claims(roles: &[&str]) -> serde_json::Value {
    serde_json::json!({
        "iss": ISSUER,
        "aud": "zhishu",
        "sub": "c0ffee",
        "exp": now() + 300,
        "iat": now(),
        "preferred_username": "carol",
        "realm_access": {"roles": roles},
        "groups": ["legal", "法务"],
    })
}

#[test]
fn oidc_tokens_are_verified_against_the_providers_keys() {
    let dir = tempfile::tempdir().unwrap();
    let (pem, n) = rsa_key(dir.path(), "provider");
    let (other_pem, _) = rsa_key(dir.path(), "attacker");
    let jwks = serde_json::json!({"keys": [{"kty": "RSA", "kid": "k1", "use": "sig", "alg": "RS256", "n": n, "e": "AQAB"}]});
    let jwks_url = serve_jwks(jwks.to_string());
    let server = Server::start_env(&[
        ("ZHISHU_AUTH__OIDC__ISSUER", ISSUER),
        ("ZHISHU_AUTH__OIDC__AUDIENCE", "zhishu"),
        ("ZHISHU_AUTH__OIDC__JWKS_URL", &jwks_url),
        ("ZHISHU_AUTH__OIDC__ROLES_CLAIM", "realm_access.roles"),
    ]);
    let call = |token: &str, path: &str| {
        request(
            "GET",
            &server.url(path),
            &[("authorization", &bearer(token))],
            None,
        )
    };

    let good = token(
        &pem,
        "k1",
        claims(&["compliance_officer", "uma_authorization"]),
    );
    let (status, _, body) = call(&good, "/v1/auth/me");
    assert_eq!(status, 200, "{body}");
    let me: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(me["username"], "carol");
    assert_eq!(me["auth"], "oidc");
    assert_eq!(me["roles"], serde_json::json!(["compliance_officer"]));
    assert_eq!(me["groups"], serde_json::json!(["legal", "法务"]));
    assert_eq!(call(&good, "/v1/audit/events").0, 200);

    let employee = token(&pem, "k1", claims(&["employee"]));
    assert_eq!(
        call(&employee, "/v1/audit/events").0,
        403,
        "roles come from the token"
    );

    let mut wrong_aud = claims(&["employee"]);
    wrong_aud["aud"] = "another-app".into();
    let mut wrong_iss = claims(&["employee"]);
    wrong_iss["iss"] = "https://evil.example".into();
    let mut expired = claims(&["employee"]);
    expired["exp"] = (now() - 3600).into();
    let mut hs256 = Header::new(Algorithm::HS256);
    hs256.kid = Some("k1".into());
    let forged_hmac = encode(
        &hs256,
        &claims(&["admin"]),
        &EncodingKey::from_secret(n.as_bytes()).unwrap(),
    )
    .unwrap();
    let rejected = [
        ("wrong audience", token(&pem, "k1", wrong_aud)),
        ("wrong issuer", token(&pem, "k1", wrong_iss)),
        ("expired", token(&pem, "k1", expired)),
        (
            "signed by another key",
            token(&other_pem, "k1", claims(&["admin"])),
        ),
        (
            "unknown key id",
            token(&other_pem, "k2", claims(&["admin"])),
        ),
        ("HMAC with the public key as secret", forged_hmac),
        (
            "no Zhishu role",
            token(&pem, "k1", claims(&["uma_authorization"])),
        ),
        ("garbage", "a.b.c".to_string()),
    ];
    for (what, t) in rejected {
        let (status, _, body) = call(&t, "/v1/auth/me");
        assert_eq!(status, 401, "{what}: {body}");
        assert!(!body.contains("carol"), "{what}: {body}");
    }

    let officer = token(&pem, "k1", claims(&["compliance_officer"]));
    let (_, _, body) = call(&officer, "/v1/audit/events?action=access.denied&limit=50");
    let page: serde_json::Value = serde_json::from_str(&body).unwrap();
    let reasons: Vec<String> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"]["error"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        reasons.iter().any(|r| r.contains("InvalidAudience")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("not accepted")),
        "HS256 refused by policy: {reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("grants no Zhishu role")),
        "{reasons:?}"
    );
    let oidc_actor = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["event"]["actor"]["auth"] == "oidc");
    assert!(
        oidc_actor,
        "the 403 for the employee token names the OIDC user"
    );
}
