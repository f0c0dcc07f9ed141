//! Helpers shared by the audit crate's tests.

use sqlx::Executor;
use zhishu_store::testing::TestDb;

/// A raw connection to the test database, as an attacker with database
/// rights would have.
pub async fn raw(db: &TestDb) -> sqlx::AnyConnection {
    sqlx::any::install_default_drivers();
    <sqlx::AnyConnection as sqlx::Connection>::connect(&db.url)
        .await
        .expect("connect to the test database")
}

/// Removes the append-only triggers, as an attacker with database rights could.
pub async fn disarm(db: &TestDb, conn: &mut sqlx::AnyConnection) {
    if db.url.starts_with("sqlite") {
        conn.execute("DROP TRIGGER audit_events_no_update")
            .await
            .unwrap();
        conn.execute("DROP TRIGGER audit_events_no_delete")
            .await
            .unwrap();
    } else {
        conn.execute("DROP TRIGGER audit_events_no_update ON audit_events")
            .await
            .unwrap();
    }
}
