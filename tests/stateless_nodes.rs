//! Query nodes keep no per-user state of their own: with PostgreSQL, two
//! `zhishu serve` processes behind a load balancer share one client's rate
//! limit and web session, so any request may go to any node.

mod common;

use common::{Server, bearer, fresh_database, request};

#[test]
fn two_nodes_share_a_clients_rate_limit_and_session() {
    let Ok(admin) = std::env::var("DATABASE_URL") else {
        eprintln!("DATABASE_URL not set: skipping (needs PostgreSQL)");
        return;
    };
    let url = fresh_database(&admin, &format!("zhishu_nodes_{}", std::process::id()));
    let limits = [
        ("ZHISHU_LIMITS__REQUESTS_PER_MINUTE", "6"),
        ("ZHISHU_LIMITS__BURST", "4"),
    ];
    let a = Server::start_with(tempfile::tempdir().unwrap(), &url, &limits);
    a.wait_ready(200);
    let b = Server::start_with(tempfile::tempdir().unwrap(), &url, &limits);
    b.wait_ready(200);
    let key = bearer(&a.user_with_key("roaming", &["employee"], &[]));

    // A web session opened on one node is valid on the other (and both
    // answer the key made through the first).
    let (status, headers, body) = request(
        "POST",
        &a.url("/v1/auth/login"),
        &[],
        Some(r#"{"username":"roaming","password":"password-of-test"}"#),
    );
    assert_eq!(status, 200, "{body}");
    let cookie = common::header(&headers, "set-cookie")
        .and_then(|c| c.split(';').next())
        .expect("a session cookie")
        .to_owned();
    let (status, _, body) = request(
        "GET",
        &b.url("/v1/conversations"),
        &[("cookie", &cookie)],
        None,
    );
    assert_eq!(status, 200, "the session reaches the other node: {body}");
    let (status, _, body) = request(
        "GET",
        &b.url("/v1/conversations"),
        &[("authorization", &key)],
        None,
    );
    assert_eq!(status, 200, "{body}");

    // A burst of 4 in all, whichever node each request reaches: the fifth
    // is refused, on either node (each node alone would allow 4).
    let mut statuses = vec![status];
    for i in 0..5 {
        let node = if i % 2 == 0 { &a } else { &b };
        let (status, _, _) = request(
            "GET",
            &node.url("/v1/conversations"),
            &[("authorization", &key)],
            None,
        );
        statuses.push(status);
    }
    assert_eq!(statuses, [200, 200, 200, 200, 429, 429], "{statuses:?}");
}
