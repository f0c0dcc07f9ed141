//! Audit events written per second on PostgreSQL with 1, 8 and 32
//! concurrent writers, and the latency each request waits for its event,
//! against a bare INSERT of the same row (no chain, no lock) in the same run.
//!
//!     DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
//!         cargo bench -p zhishu-audit --bench chain_throughput
//!
//! Prints a Markdown table for docs/benchmarks.md.

use sqlx::Executor;
use std::sync::Arc;
use std::time::{Duration, Instant};
use zhishu_audit::{Actor, AuditEvent, AuditLog, Outcome, RetrievedSource};
use zhishu_store::{Repository, SqlStore};

const EVENTS_PER_RUN: usize = 3200;

fn event(i: usize) -> AuditEvent {
    let mut e = AuditEvent::new(
        Actor {
            user: format!("user{}", i % 50),
            auth: "api_key".into(),
            groups: vec!["hr".into(), "all".into()],
            ..Default::default()
        },
        "chat.completion",
        Outcome::Ok,
    );
    e.question = Some(format!(
        "出差住宿标准是多少？ What is the hotel limit for trip {i}?"
    ));
    e.answer = Some("The limit is 600 CNY per night in tier-1 cities [1].".into());
    e.retrieved = (0..8)
        .map(|k| RetrievedSource {
            chunk_id: format!("doc{k}:3:{i}"),
            document_id: format!("doc{k}"),
            document_version: 3,
            score: 0.9 - k as f64 * 0.05,
            title: None,
            path: None,
            page: None,
            section: None,
        })
        .collect();
    e.latency_ms = Some(1234);
    e
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

struct Run {
    per_second: f64,
    p50: Duration,
    p99: Duration,
}

fn summarise(mut latencies: Vec<Duration>, elapsed: Duration) -> Run {
    latencies.sort_unstable();
    Run {
        per_second: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50: percentile(&latencies, 0.50),
        p99: percentile(&latencies, 0.99),
    }
}

async fn chained(log: &AuditLog, writers: usize) -> Run {
    let per = EVENTS_PER_RUN / writers;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(per);
            for i in 0..per {
                let t = Instant::now();
                log.record(event(w * per + i)).await.expect("audit write");
                lat.push(t.elapsed());
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("writer"));
    }
    summarise(all, started.elapsed())
}

async fn bare(pool: &sqlx::AnyPool, writers: usize, round: usize) -> Run {
    let per = EVENTS_PER_RUN / writers;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(per);
            for i in 0..per {
                let e = event(w * per + i);
                let seq = (round * EVENTS_PER_RUN + w * per + i) as i64;
                let t = Instant::now();
                sqlx::query(
                    "INSERT INTO audit_bare (seq, id, occurred_at, actor, action, outcome, client_addr, payload, \
                     prev_hash, hash, search_text, document_ids) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                )
                .bind(seq)
                .bind(uuid::Uuid::new_v4().to_string())
                .bind(zhishu_store::now_ms())
                .bind(e.actor.user.clone())
                .bind(e.action.clone())
                .bind("ok")
                .bind(Option::<String>::None)
                .bind(serde_json::to_string(&e).expect("json"))
                .bind("0".repeat(64))
                .bind("1".repeat(64))
                .bind(e.question.clone().unwrap_or_default())
                .bind(String::new())
                .execute(&pool)
                .await
                .expect("bare insert");
                lat.push(t.elapsed());
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("writer"));
    }
    summarise(all, started.elapsed())
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let Some(db) = zhishu_store::testing::postgres().await else {
        eprintln!("set DATABASE_URL to a PostgreSQL database to run this benchmark");
        std::process::exit(2);
    };
    let mut config = zhishu_store::testing::config(&db.url);
    config.max_connections = 32;
    let store = SqlStore::connect(&config).await.expect("store");
    let log = AuditLog::start(Arc::new(store.clone()) as Arc<dyn Repository>, 1024);
    sqlx::any::install_default_drivers();
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(32)
        .connect(&db.url)
        .await
        .expect("pool");
    pool.execute("CREATE TABLE audit_bare (LIKE audit_events INCLUDING DEFAULTS)")
        .await
        .expect("bare table");
    pool.execute("ALTER TABLE audit_bare ADD PRIMARY KEY (seq)")
        .await
        .expect("bare key");

    // Warm both paths (connections, plans).
    chained(&log, 8).await;
    bare(&pool, 8, 99).await;

    println!(
        "| writers | chained events/s | bare inserts/s | chained ÷ bare time | chained p50 / p99 ms | bare p50 / p99 ms | added p50 / p99 ms |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for (round, writers) in [1usize, 8, 32].into_iter().enumerate() {
        let c = chained(&log, writers).await;
        let b = bare(&pool, writers, round).await;
        println!(
            "| {writers} | {:.0} | {:.0} | {:.2}× | {} / {} | {} / {} | {} / {} |",
            c.per_second,
            b.per_second,
            b.per_second / c.per_second,
            ms(c.p50),
            ms(c.p99),
            ms(b.p50),
            ms(b.p99),
            ms(c.p50.saturating_sub(b.p50)),
            ms(c.p99.saturating_sub(b.p99)),
        );
    }
    let v = zhishu_audit::verify(&store).await.expect("verify");
    println!(
        "\nchain verified after the run: {} events, ok = {}",
        v.events_checked, v.ok
    );
    drop(log);
    store.close().await;
    pool.close().await;
    db.cleanup().await;
}
