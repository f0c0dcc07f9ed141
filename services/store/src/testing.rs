//! For tests only. Fresh test databases: an SQLite file per test, and a PostgreSQL
//! database per test when `DATABASE_URL` is set (created, then dropped).

use crate::SqlStore;
use sqlx::Executor;
use zhishu_core::config::DatabaseConfig;

/// A store plus what it needs to stay alive and be cleaned up.
pub struct TestDb {
    /// The store, migrated.
    pub store: SqlStore,
    /// Its URL, for raw connections in tests.
    pub url: String,
    admin_url: Option<String>,
    name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

/// A database configuration for tests.
pub fn config(url: &str) -> DatabaseConfig {
    DatabaseConfig {
        url: url.to_string(),
        max_connections: 4,
        connect_timeout_secs: 5,
    }
}

/// A migrated store on a fresh SQLite file.
pub async fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}/nested/zhishu.db", dir.path().display());
    let store = SqlStore::connect(&config(&url))
        .await
        .expect("sqlite store");
    TestDb {
        store,
        url,
        admin_url: None,
        name: None,
        _dir: Some(dir),
    }
}

/// `None` (and a note on stderr) when `DATABASE_URL` is not set.
pub async fn postgres() -> Option<TestDb> {
    let Ok(admin_url) = std::env::var("DATABASE_URL") else {
        eprintln!("DATABASE_URL not set: skipping the PostgreSQL half of this test");
        return None;
    };
    sqlx::any::install_default_drivers();
    let name = format!("zhishu_t_{}", uuid::Uuid::new_v4().simple());
    let mut admin = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin_url)
        .await
        .expect("connect to DATABASE_URL");
    admin
        .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await
        .expect("create test database");
    let base = admin_url
        .rsplit_once('/')
        .map(|(b, _)| b)
        .expect("URL with a database");
    let url = format!("{base}/{name}");
    let store = SqlStore::connect(&config(&url))
        .await
        .expect("postgres store");
    Some(TestDb {
        store,
        url,
        admin_url: Some(admin_url),
        name: Some(name),
        _dir: None,
    })
}

impl TestDb {
    /// Closes the store and drops the PostgreSQL database.
    pub async fn cleanup(self) {
        self.store.close().await;
        if let (Some(admin_url), Some(name)) = (self.admin_url, self.name) {
            let mut admin = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin_url)
                .await
                .expect("connect to DATABASE_URL");
            admin
                .execute(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .await
                .expect("drop test database");
        }
    }
}

/// Runs one async test body on SQLite, then on PostgreSQL when available.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident;)*) => {
        $(
            mod $name {
                #[tokio::test]
                async fn sqlite() {
                    let db = $crate::testing::sqlite().await;
                    super::$name(&db).await;
                    db.cleanup().await;
                }

                #[tokio::test]
                async fn postgres() {
                    if let Some(db) = $crate::testing::postgres().await {
                        super::$name(&db).await;
                        db.cleanup().await;
                    }
                }
            }
        )*
    };
}
