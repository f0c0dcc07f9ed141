//! Connecting, migrating and checking the database.

use crate::StoreError;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor};
use std::time::Duration;
use zhishu_core::config::{DatabaseConfig, DatabaseKind};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../../migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../../migrations/postgres");

/// The relational backend behind a [`SqlStore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// The relational store over SQLite or PostgreSQL.
///
/// Cheap to clone: clones share one connection pool.
#[derive(Debug, Clone)]
pub struct SqlStore {
    pub(crate) pool: AnyPool,
    backend: Backend,
}

impl SqlStore {
    /// Begins a transaction that writes. On SQLite it takes the write lock
    /// up front (`BEGIN IMMEDIATE`): a deferred transaction that reads and
    /// then writes fails with `SQLITE_BUSY_SNAPSHOT` when another
    /// connection wrote in between, and the busy timeout does not retry
    /// that; waiting for the lock at the start does.
    pub(crate) async fn begin_write(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
    }

    /// Creates the pool without connecting: the first query connects. This
    /// lets a server start (and report "not ready") while the database is
    /// down. For SQLite the file's folder is created.
    ///
    /// # Errors
    /// [`StoreError::InvalidUrl`] for an unsupported scheme or a folder that
    /// cannot be created.
    pub fn connect_lazy(config: &DatabaseConfig) -> Result<Self, StoreError> {
        install_default_drivers();
        let (backend, url) = match config.kind() {
            Some(DatabaseKind::Sqlite) => (Backend::Sqlite, sqlite_url(&config.url)?),
            Some(DatabaseKind::Postgres) => (Backend::Postgres, config.url.clone()),
            None => {
                return Err(StoreError::InvalidUrl(format!(
                    "`{}`: use sqlite://PATH or postgres://USER@HOST/DB",
                    config.redacted_url()
                )));
            }
        };
        let pool = AnyPoolOptions::new()
            .max_connections(config.max_connections)
            .acquire_timeout(Duration::from_secs(config.connect_timeout_secs))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets readers proceed during writes; the busy
                        // timeout turns lock contention into waiting, not errors.
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA busy_timeout = 5000").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                    }
                    Ok(())
                })
            })
            .connect_lazy(&url)
            .map_err(|e| StoreError::InvalidUrl(format!("{}: {e}", config.redacted_url())))?;
        Ok(Self { pool, backend })
    }

    /// Connects and applies the pending migrations of this backend.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the database cannot be reached,
    /// [`StoreError::Migration`] when a migration fails.
    pub async fn connect(config: &DatabaseConfig) -> Result<Self, StoreError> {
        let store = Self::connect_lazy(config)?;
        store.migrate().await?;
        Ok(store)
    }

    /// Applies the pending migrations; already applied ones are skipped.
    ///
    /// # Errors
    /// See [`SqlStore::connect`].
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        let mut attempt = 0;
        loop {
            let result = migrator.run(&self.pool).await.map_err(|e| match e {
                sqlx::migrate::MigrateError::Execute(inner) => StoreError::from(inner),
                other => StoreError::Migration(other.to_string()),
            });
            match result {
                // SQLite has no migration lock: when two processes start
                // together, the loser's transaction fails on a table the
                // winner just created and rolls back. Running again then
                // finds the migration applied.
                Err(StoreError::Database(_) | StoreError::Migration(_))
                    if self.backend == Backend::Sqlite && attempt < 5 =>
                {
                    attempt += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(100 * attempt)).await;
                }
                other => return other,
            }
        }
    }

    /// The names of the migrations applied so far, in order.
    ///
    /// # Errors
    /// When the database cannot be queried.
    pub async fn applied_migrations(&self) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT description FROM _sqlx_migrations WHERE success = $1 ORDER BY version",
        )
        .bind(true)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// Runs a trivial query: the readiness check.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the database cannot be reached.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Which backend this store runs on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes every pooled connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Adds `mode=rwc` (create the file) and makes the folder exist.
fn sqlite_url(url: &str) -> Result<String, StoreError> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or_default();
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() {
        return Err(StoreError::InvalidUrl(format!("`{url}` names no file")));
    }
    if path != ":memory:"
        && let Some(parent) = std::path::Path::new(path).parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent).map_err(|e| {
            StoreError::InvalidUrl(format!(
                "cannot create the folder {}: {e}",
                parent.display()
            ))
        })?;
    }
    if query.contains("mode=") {
        Ok(url.to_string())
    } else if query.is_empty() {
        Ok(format!("sqlite://{path}?mode=rwc"))
    } else {
        Ok(format!("sqlite://{path}?{query}&mode=rwc"))
    }
}
