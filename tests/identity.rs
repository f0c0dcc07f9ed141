//! Authentication, roles, sessions, rate limits and the audit of refusals,
//! against a started server.

mod common;

use common::{Server, bearer, get, header, request};
use std::time::{Duration, Instant};
use zhishu_server::access::ROUTES;

const ROLES: [&str; 4] = ["employee", "knowledge_admin", "compliance_officer", "admin"];

fn concrete(path: &str) -> String {
    path.replace("{id}", "00000000-0000-0000-0000-000000000000")
        .replace("{chunk_id}", "00000000")
        .replace("{page}", "1")
}

#[test]
fn every_route_denies_the_roles_it_should() {
    let server = Server::start();
    let keys: Vec<(&str, String)> = ROLES
        .iter()
        .map(|role| {
            (
                *role,
                server.user_with_key(&format!("u_{role}"), &[role], &[]),
            )
        })
        .collect();

    // The table lists exactly what the OpenAPI document (generated from the
    // handlers) lists.
    let (_, doc) = get(&server.url("/openapi.json"));
    let mut documented: Vec<String> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    let mut table: Vec<String> = ROUTES
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    documented.sort();
    table.sort();
    assert_eq!(
        documented, table,
        "route table and OpenAPI document disagree"
    );

    for route in ROUTES {
        let url = server.url(&concrete(route.path));
        let Some(allowed) = route.roles else {
            let (status, _, body) = request(route.method, &url, &[], Some("{}"));
            assert_ne!(
                status, 401,
                "{} {} is public: {body}",
                route.method, route.path
            );
            continue;
        };
        let (status, headers, body) = request(route.method, &url, &[], Some("{}"));
        assert_eq!(
            status, 401,
            "{} {} without credentials: {body}",
            route.method, route.path
        );
        assert_eq!(header(&headers, "www-authenticate"), Some("Bearer"));
        let err: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(err["error"]["code"], "unauthorized");

        let (status, _, _) = request(
            route.method,
            &url,
            &[(
                "authorization",
                "Bearer zk_deadbeef_0000000000000000000000000000000000000000000000000000000000000000",
            )],
            Some("{}"),
        );
        assert_eq!(
            status, 401,
            "{} {} with an unknown key",
            route.method, route.path
        );

        for (role, key) in &keys {
            let auth = bearer(key);
            let (status, _, body) =
                request(route.method, &url, &[("authorization", &auth)], Some("{}"));
            let admitted = allowed.iter().any(|r| r.as_str() == *role);
            if admitted {
                assert!(
                    status != 401 && status != 403,
                    "{role} may call {} {}: {status} {body}",
                    route.method,
                    route.path
                );
            } else {
                assert_eq!(
                    status, 403,
                    "{role} may not call {} {}: {body}",
                    route.method, route.path
                );
                assert!(body.contains("needs the role"), "{body}");
            }
        }
    }

    // Every refusal was audited.
    let (_, out, _) = server.cli(
        &[
            "audit",
            "search",
            "--action",
            "access.denied",
            "--limit",
            "1000",
            "--json",
        ],
        "",
    );
    let denials = out.lines().count();
    let expected_401 = ROUTES.iter().filter(|r| r.roles.is_some()).count() * 2;
    let expected_403: usize = ROUTES
        .iter()
        .filter_map(|r| r.roles)
        .map(|a| 4 - a.len())
        .sum();
    assert_eq!(denials, expected_401 + expected_403, "{out}");
}

#[test]
fn sessions_sign_in_and_out() {
    let server = Server::start_env(&[("ZHISHU_AUTH__LOGIN_FAILURE_DELAY_MS", "400")]);
    let (code, _, err) = server.cli(
        &[
            "users", "add", "王芳", "--role", "employee", "--group", "finance",
        ],
        "correct-horse-电池\n",
    );
    assert_eq!(code, 0, "{err}");
    let login = server.url("/v1/auth/login");

    let started = Instant::now();
    let (status, _, body) = request(
        "POST",
        &login,
        &[],
        Some(r#"{"username":"王芳","password":"wrong-password"}"#),
    );
    assert_eq!(status, 401, "{body}");
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "failed sign-ins are slowed down"
    );
    assert!(body.contains("invalid username or password"));
    let (status, _, body) = request(
        "POST",
        &login,
        &[],
        Some(r#"{"username":"nobody","password":"x"}"#),
    );
    assert_eq!(status, 401);
    assert!(
        body.contains("invalid username or password"),
        "unknown users look the same: {body}"
    );

    let (status, _, body) = request("POST", &login, &[], Some("{not json"));
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("invalid_json"));
    let huge = format!(
        r#"{{"username":"王芳","password":"{}"}}"#,
        "x".repeat(64 * 1024)
    );
    let (status, _, body) = request("POST", &login, &[], Some(&huge));
    assert_eq!(status, 413, "sign-in bodies are capped at 16 KiB: {body}");
    assert!(body.contains("payload_too_large"), "{body}");

    let (status, headers, body) = request(
        "POST",
        &login,
        &[],
        Some(r#"{"username":"王芳","password":"correct-horse-电池"}"#),
    );
    assert_eq!(status, 200, "{body}");
    let me: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (me["username"].as_str(), me["groups"][0].as_str()),
        (Some("王芳"), Some("finance"))
    );
    let cookie = header(&headers, "set-cookie").unwrap().to_string();
    for attr in [
        "zhishu_session=",
        "HttpOnly",
        "SameSite=Strict",
        "Path=/",
        "Max-Age=",
    ] {
        assert!(cookie.contains(attr), "{attr} in {cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "Secure is off unless configured"
    );
    let session = cookie.split(';').next().unwrap().to_string();

    let (status, _, body) = request(
        "GET",
        &server.url("/v1/auth/me"),
        &[("cookie", &session)],
        None,
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"auth\":\"session\""));
    // An employee session cannot read the audit trail.
    let (status, _, _) = request(
        "GET",
        &server.url("/v1/audit/events"),
        &[("cookie", &session)],
        None,
    );
    assert_eq!(status, 403);

    let (status, headers, _) = request(
        "POST",
        &server.url("/v1/auth/logout"),
        &[("cookie", &session)],
        Some(""),
    );
    assert_eq!(status, 204);
    assert!(
        header(&headers, "set-cookie")
            .unwrap()
            .contains("Max-Age=0")
    );
    let (status, _, _) = request(
        "GET",
        &server.url("/v1/auth/me"),
        &[("cookie", &session)],
        None,
    );
    assert_eq!(status, 401, "a signed-out session is dead");

    // Disabling a user ends their sessions and sign-ins.
    let (_, headers, _) = request(
        "POST",
        &login,
        &[],
        Some(r#"{"username":"王芳","password":"correct-horse-电池"}"#),
    );
    let session = header(&headers, "set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let (code, _, err) = server.cli(&["users", "disable", "王芳"], "");
    assert_eq!(code, 0, "{err}");
    let (status, _, _) = request(
        "GET",
        &server.url("/v1/auth/me"),
        &[("cookie", &session)],
        None,
    );
    assert_eq!(status, 401);
    let (status, _, _) = request(
        "POST",
        &login,
        &[],
        Some(r#"{"username":"王芳","password":"correct-horse-电池"}"#),
    );
    assert_eq!(status, 401);

    let (_, out, _) = server.cli(&["audit", "search", "--action", "auth.", "--json"], "");
    let events: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let refused = events
        .iter()
        .filter(|e| e["action"] == "auth.login" && e["outcome"] == "refused")
        .count();
    let ok = events
        .iter()
        .filter(|e| e["action"] == "auth.login" && e["outcome"] == "ok")
        .count();
    assert_eq!((refused, ok), (3, 2), "{out}");
    assert!(events.iter().any(|e| e["action"] == "auth.logout"));
}

#[test]
fn api_keys_are_revocable_and_bounded_by_the_owner() {
    let server = Server::start();
    let key = server.user_with_key("ops", &["employee", "compliance_officer"], &["it"]);
    let auth = bearer(&key);
    let (status, _, body) = request(
        "GET",
        &server.url("/v1/auth/me"),
        &[("authorization", &auth)],
        None,
    );
    assert_eq!(status, 200);
    assert!(body.contains("\"auth\":\"api_key\""), "{body}");

    // A key cannot grant a role its owner lacks.
    let (code, _, err) = server.cli(&["keys", "create", "--user", "ops", "--role", "admin"], "");
    assert_eq!(code, 1);
    assert!(err.contains("does not hold the role admin"), "{err}");

    let prefix = &key[..11];
    let (_, out, _) = server.cli(&["keys", "list"], "");
    assert!(out.contains(prefix) && out.contains("active"), "{out}");
    assert!(!out.contains(&key), "the secret is never shown again");
    let (code, _, _) = server.cli(&["keys", "revoke", prefix], "");
    assert_eq!(code, 0);
    let (status, _, _) = request(
        "GET",
        &server.url("/v1/auth/me"),
        &[("authorization", &auth)],
        None,
    );
    assert_eq!(status, 401, "a revoked key is dead");
    // Tampering with the secret part fails too.
    let other = server.user_with_key("ops2", &["employee"], &[]);
    let forged = format!(
        "{}{}",
        &other[..other.len() - 1],
        if other.ends_with('0') { '1' } else { '0' }
    );
    let (status, _, _) = request(
        "GET",
        &server.url("/v1/auth/me"),
        &[("authorization", &bearer(&forged))],
        None,
    );
    assert_eq!(status, 401);
}

#[test]
fn rate_limits_answer_429_with_retry_after() {
    let server = Server::start_env(&[
        ("ZHISHU_LIMITS__REQUESTS_PER_MINUTE", "6"),
        ("ZHISHU_LIMITS__BURST", "3"),
        ("ZHISHU_LIMITS__LOGINS_PER_MINUTE", "2"),
        ("ZHISHU_AUTH__LOGIN_FAILURE_DELAY_MS", "0"),
    ]);
    let key = server.user_with_key("busy", &["employee"], &[]);
    let auth = bearer(&key);
    let statuses: Vec<u16> = (0..4)
        .map(|_| {
            request(
                "GET",
                &server.url("/v1/auth/me"),
                &[("authorization", &auth)],
                None,
            )
            .0
        })
        .collect();
    assert_eq!(statuses, vec![200, 200, 200, 429]);
    let (_, headers, body) = request(
        "GET",
        &server.url("/v1/auth/me"),
        &[("authorization", &auth)],
        None,
    );
    let retry: u64 = header(&headers, "retry-after").unwrap().parse().unwrap();
    assert!((1..=10).contains(&retry), "{retry}");
    assert!(body.contains("rate_limited"), "{body}");
    // Another principal is not affected.
    let other = server.user_with_key("calm", &["employee"], &[]);
    assert_eq!(
        request(
            "GET",
            &server.url("/v1/auth/me"),
            &[("authorization", &bearer(&other))],
            None
        )
        .0,
        200
    );

    let login = server.url("/v1/auth/login");
    let attempts: Vec<u16> = (0..3)
        .map(|_| {
            request(
                "POST",
                &login,
                &[],
                Some(r#"{"username":"busy","password":"guess"}"#),
            )
            .0
        })
        .collect();
    assert_eq!(
        attempts,
        vec![401, 401, 429],
        "sign-in attempts are limited per address"
    );

    let (_, out, _) = server.cli(
        &[
            "audit",
            "search",
            "--outcome",
            "refused",
            "--json",
            "--limit",
            "100",
        ],
        "",
    );
    assert!(out.contains("\"policy\":\"rate_limit\""), "{out}");
    assert!(out.contains("\"policy\":\"login_rate_limit\""), "{out}");
}

#[test]
fn behind_a_trusted_proxy_sign_in_limits_follow_the_forwarded_client() {
    let server = Server::start_env(&[
        ("ZHISHU_LIMITS__LOGINS_PER_MINUTE", "2"),
        ("ZHISHU_AUTH__LOGIN_FAILURE_DELAY_MS", "0"),
        ("ZHISHU_SERVER__TRUSTED_PROXIES", "[\"127.0.0.1\"]"),
    ]);
    server.user_with_key("roamer", &["employee"], &[]);
    let login = server.url("/v1/auth/login");
    let attempt = |forwarded: &str| {
        request(
            "POST",
            &login,
            &[("x-forwarded-for", forwarded)],
            Some(r#"{"username":"roamer","password":"guess"}"#),
        )
        .0
    };
    // The proxy (this test, on 127.0.0.1) forwards two clients: each has
    // its own sign-in budget, as it would without the proxy.
    let first: Vec<u16> = (0..3).map(|_| attempt("203.0.113.7")).collect();
    assert_eq!(first, vec![401, 401, 429]);
    assert_eq!(
        attempt("198.51.100.2"),
        401,
        "another client is not limited"
    );
    // An address a client put in front of the proxy's own is not believed
    // over the proxy's view of who connected (the right-most untrusted).
    assert_eq!(attempt("198.51.100.99, 203.0.113.7"), 429);

    // The audit trail names the forwarded clients, not the proxy.
    let (_, out, _) = server.cli(&["audit", "search", "--json", "--limit", "100"], "");
    assert!(
        out.contains("203.0.113.7") && out.contains("198.51.100.2"),
        "{out}"
    );
}
