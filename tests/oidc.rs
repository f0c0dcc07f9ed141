//! Single sign-on: OIDC access tokens signed by a locally generated RSA key
//! whose JWKS is served over HTTP, as an identity provider would.

mod common;

use common::idp::{ISSUER, Provider, id_claims, now, rsa_key, token};
use common::{Server, bearer, request};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use std::collections::HashMap;

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
    let provider = Provider::start(dir.path());
    let pem = provider.pem().to_vec();
    let (other_pem, _) = rsa_key(dir.path(), "attacker");
    let n = provider.modulus().to_owned();
    let jwks_url = format!("{}/certs", provider.url);
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
        &claims(&["compliance_officer", "uma_authorization"]),
    );
    let (status, _, body) = call(&good, "/v1/auth/me");
    assert_eq!(status, 200, "{body}");
    let me: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(me["username"], "carol");
    assert_eq!(me["auth"], "oidc");
    assert_eq!(me["roles"], serde_json::json!(["compliance_officer"]));
    assert_eq!(me["groups"], serde_json::json!(["legal", "法务"]));
    assert_eq!(call(&good, "/v1/audit/events").0, 200);

    let employee = token(&pem, "k1", &claims(&["employee"]));
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
        ("wrong audience", token(&pem, "k1", &wrong_aud)),
        ("wrong issuer", token(&pem, "k1", &wrong_iss)),
        ("expired", token(&pem, "k1", &expired)),
        (
            "signed by another key",
            token(&other_pem, "k1", &claims(&["admin"])),
        ),
        (
            "unknown key id",
            token(&other_pem, "k2", &claims(&["admin"])),
        ),
        ("HMAC with the public key as secret", forged_hmac),
        (
            "no Zhishu role",
            token(&pem, "k1", &claims(&["uma_authorization"])),
        ),
        ("garbage", "a.b.c".to_string()),
    ];
    for (what, t) in rejected {
        let (status, _, body) = call(&t, "/v1/auth/me");
        assert_eq!(status, 401, "{what}: {body}");
        assert!(!body.contains("carol"), "{what}: {body}");
    }

    let officer = token(&pem, "k1", &claims(&["compliance_officer"]));
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

/// A browser that does not follow redirects: returns status, headers and
/// body.
fn browse(url: &str, cookie: Option<&str>) -> (u16, Vec<(String, String)>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let mut r = agent.get(url);
    if let Some(c) = cookie {
        r = r.header("cookie", c);
    }
    let res = r.call().expect("HTTP request");
    let status = res.status().as_u16();
    let headers = res
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
        .collect();
    (status, headers)
}

/// The value of the cookie `name` among the response's `set-cookie`s.
fn set_cookie(headers: &[(String, String)], name: &str) -> Option<String> {
    headers
        .iter()
        .filter(|(k, _)| k == "set-cookie")
        .find_map(|(_, v)| v.strip_prefix(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap_or("").to_owned())
        .filter(|v| !v.is_empty())
}

fn location(headers: &[(String, String)]) -> String {
    common::header(headers, "location")
        .unwrap_or_default()
        .to_owned()
}

/// One started sign-in: the query the browser carries to the provider and
/// the cookie the server set.
struct Started {
    query: HashMap<String, String>,
    cookie: String,
}

fn start_sign_in(server: &Server, provider: &str) -> Started {
    let (status, headers) = browse(&server.url("/v1/auth/oidc/login"), None);
    assert_eq!(status, 302);
    let to = location(&headers);
    let query = to
        .strip_prefix(&format!("{provider}/auth?"))
        .unwrap_or_else(|| panic!("to the provider: {to}"))
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let cookie = set_cookie(&headers, "zhishu_sso").expect("the sign-in cookie");
    let raw = headers
        .iter()
        .find(|(k, v)| k == "set-cookie" && v.starts_with("zhishu_sso="))
        .map(|(_, v)| v.to_ascii_lowercase())
        .unwrap();
    assert!(
        raw.contains("httponly")
            && raw.contains("samesite=lax")
            && raw.contains("path=/v1/auth/oidc"),
        "{raw}"
    );
    Started { query, cookie }
}

#[test]
fn browser_single_sign_on_uses_pkce_and_opens_a_session() {
    let dir = tempfile::tempdir().unwrap();
    let idp = Provider::start(dir.path());
    let provider = idp.url.clone();
    let env = idp.env("http://zhishu.test/v1/auth/oidc/callback");
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let server = Server::start_env(&env);
    let (status, _, body) = request("GET", &server.url("/v1/auth/providers"), &[], None);
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap(),
        serde_json::json!({"password": true, "sso": true})
    );

    // A sign-in: the provider authenticates carol and sends her back.
    let flow = start_sign_in(&server, &provider);
    assert_eq!(flow.query["client_id"], "zhishu-web");
    assert_eq!(flow.query["code_challenge_method"], "S256");
    assert_eq!(flow.query["response_type"], "code");
    let sign_in = |flow: &Started, user: &str, roles: &[&str]| {
        let mut claims = id_claims(user, roles, &["legal", "法务"]);
        claims["nonce"] = flow.query["nonce"].clone().into();
        idp.expect(
            "code-123",
            &flow.query["code_challenge"],
            token(idp.pem(), "k1", &claims),
        );
        browse(
            &server.url(&format!(
                "/v1/auth/oidc/callback?code=code-123&state={}",
                flow.query["state"]
            )),
            Some(&format!("zhishu_sso={}", flow.cookie)),
        )
    };
    let (status, headers) = sign_in(&flow, "carol", &["compliance_officer"]);
    assert_eq!((status, location(&headers)), (302, "/".to_owned()));
    let session = set_cookie(&headers, "zhishu_session").expect("a session");
    let me = |session: &str| {
        let (status, _, body) = request(
            "GET",
            &server.url("/v1/auth/me"),
            &[("cookie", &format!("zhishu_session={session}"))],
            None,
        );
        assert_eq!(status, 200, "{body}");
        serde_json::from_str::<serde_json::Value>(&body).unwrap()
    };
    let carol = me(&session);
    assert_eq!(carol["username"], "carol");
    assert_eq!(carol["roles"], serde_json::json!(["compliance_officer"]));
    assert_eq!(carol["groups"], serde_json::json!(["legal", "法务"]));

    // The provider is the source of truth: new roles at the next sign-in.
    let again = start_sign_in(&server, &provider);
    assert_ne!(again.query["state"], flow.query["state"], "fresh state");
    let (_, headers) = sign_in(&again, "carol", &["employee"]);
    let demoted = set_cookie(&headers, "zhishu_session").expect("a session");
    assert_eq!(me(&demoted)["roles"], serde_json::json!(["employee"]));

    // What must fail, and fails without a session.
    let refused = |status: u16, headers: &[(String, String)], reason: &str, what: &str| {
        assert_eq!(status, 302, "{what}");
        assert_eq!(location(headers), format!("/?sso_error={reason}"), "{what}");
        assert!(set_cookie(headers, "zhishu_session").is_none(), "{what}");
    };
    let f = start_sign_in(&server, &provider);
    let (s, h) = browse(
        &server.url("/v1/auth/oidc/callback?code=code-123&state=forged"),
        Some(&format!("zhishu_sso={}", f.cookie)),
    );
    refused(s, &h, "failed", "a forged state");
    let (s, h) = browse(
        &server.url(&format!(
            "/v1/auth/oidc/callback?code=code-123&state={}",
            f.query["state"]
        )),
        None,
    );
    refused(s, &h, "failed", "no sign-in cookie (login CSRF)");
    let (s, h) = browse(
        &server.url(&format!(
            "/v1/auth/oidc/callback?code=stolen&state={}",
            f.query["state"]
        )),
        Some(&format!("zhishu_sso={}", f.cookie)),
    );
    refused(s, &h, "failed", "a code the provider refuses");
    let mut replayed = start_sign_in(&server, &provider);
    replayed
        .query
        .insert("nonce".into(), f.query["nonce"].clone());
    let (s, h) = sign_in(&replayed, "carol", &["admin"]);
    refused(s, &h, "failed", "an ID token with another sign-in's nonce");
    let (s, h) = browse(
        &server.url("/v1/auth/oidc/callback?error=access_denied&error_description=user+cancelled"),
        Some(&format!("zhishu_sso={}", f.cookie)),
    );
    refused(s, &h, "denied", "the provider's refusal");
    // A local account with a password is never taken over.
    let (code, _, err) = server.cli(
        &[
            "users",
            "add",
            "dave",
            "--role",
            "admin",
            "--password",
            "dave-password-1",
        ],
        "",
    );
    assert_eq!(code, 0, "{err}");
    let takeover = start_sign_in(&server, &provider);
    let (s, h) = sign_in(&takeover, "dave", &["admin"]);
    refused(s, &h, "local_account", "a local account");

    // Every attempt is in the audit trail.
    let officer = start_sign_in(&server, &provider);
    let (_, headers) = sign_in(&officer, "carol", &["compliance_officer"]);
    let session = set_cookie(&headers, "zhishu_session").unwrap();
    let (_, _, body) = request(
        "GET",
        &server.url("/v1/audit/events?action=auth.login&limit=50"),
        &[("cookie", &format!("zhishu_session={session}"))],
        None,
    );
    let page: serde_json::Value = serde_json::from_str(&body).unwrap();
    let events = page["events"].as_array().unwrap();
    let ok = events
        .iter()
        .filter(|e| e["outcome"] == "ok" && e["event"]["actor"]["auth"] == "oidc")
        .count();
    assert_eq!(ok, 3, "{body}");
    let errors: Vec<&str> = events
        .iter()
        .filter(|e| e["outcome"] == "refused")
        .map(|e| e["event"]["error"].as_str().unwrap_or(""))
        .collect();
    for needle in [
        "state",
        "no sign-in in progress",
        "refused the code",
        "nonce",
        "access_denied",
        "local account",
    ] {
        assert!(
            errors.iter().any(|e| e.contains(needle)),
            "{needle}: {errors:?}"
        );
    }
    assert!(
        !body.contains("s3cret") && !body.contains(&flow.cookie),
        "no secret in the audit trail"
    );
}
