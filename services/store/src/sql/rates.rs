//! Token buckets shared by every node (`rate_buckets`).

use super::now_sql;
use crate::{Backend, SqlStore, StoreError, now_ms};
use sqlx::Row;
use std::time::Duration;

/// One statement takes a token: a new bucket starts full, an existing one
/// is refilled for the time since it was last touched (never past the
/// burst) and gives a token when it holds one; a refusal changes nothing.
/// Two nodes taking at once are serialised by the row, so the bucket is
/// exact across nodes, and the time is the database's (one clock for every
/// node). `$1` key, `$2` burst, `$3` tokens per ms. `full_at` is when the
/// bucket is full again.
macro_rules! take {
    ($least:literal, $backend:ident) => {
        concat!(
            "INSERT INTO rate_buckets (key, tokens, updated_at, full_at) \
             VALUES ($1, $2 - 1, ",
            now_sql!($backend),
            ", ",
            now_sql!($backend),
            " + CAST(1 / $3 AS BIGINT)) \
             ON CONFLICT (key) DO UPDATE SET tokens = ",
            refilled!($least, $backend),
            " - 1, updated_at = ",
            now_sql!($backend),
            ", full_at = ",
            now_sql!($backend),
            " + CAST(($2 - ",
            refilled!($least, $backend),
            " + 1) / $3 AS BIGINT) WHERE ",
            refilled!($least, $backend),
            " >= 1 RETURNING tokens"
        )
    };
}

/// The bucket's tokens now: what it held, plus the refill since.
macro_rules! refilled {
    ($least:literal, $backend:ident) => {
        concat!(
            $least,
            "($2, rate_buckets.tokens + (",
            now_sql!($backend),
            " - rate_buckets.updated_at) * $3)"
        )
    };
}

/// A refused caller's bucket, and the database's clock to refill it by.
macro_rules! look {
    ($backend:ident) => {
        concat!(
            "SELECT tokens, updated_at, ",
            now_sql!($backend),
            " AS now FROM rate_buckets WHERE key = $1"
        )
    };
}

/// Drops buckets that are full again.
macro_rules! sweep {
    ($backend:ident) => {
        concat!(
            "DELETE FROM rate_buckets WHERE full_at < ",
            now_sql!($backend)
        )
    };
}

impl SqlStore {
    pub(crate) async fn take_token_impl(
        &self,
        key: &str,
        per_minute: u32,
        burst: u32,
    ) -> Result<Option<Duration>, StoreError> {
        if per_minute == 0 {
            return Ok(None);
        }
        let per_ms = f64::from(per_minute) / 60_000.0;
        let burst = f64::from(burst.max(1));
        let (take, look, sweep) = match self.backend() {
            Backend::Postgres => (take!("LEAST", Postgres), look!(Postgres), sweep!(Postgres)),
            Backend::Sqlite => (take!("MIN", Sqlite), look!(Sqlite), sweep!(Sqlite)),
        };
        let taken = sqlx::query(take)
            .bind(key)
            .bind(burst)
            .bind(per_ms)
            .fetch_optional(&self.pool)
            .await?;
        // Now and then (by the node's clock, which only needs to be
        // random here), drop buckets that are full again (each by its own
        // limit): the same as no bucket, so the table stays as small as
        // the set of recent callers.
        if now_ms() % 512 == 0 {
            sqlx::query(sweep).execute(&self.pool).await?;
        }
        if taken.is_some() {
            return Ok(None);
        }
        let row = sqlx::query(look)
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        let have = match row {
            Some(r) => {
                let tokens: f64 = r.try_get("tokens")?;
                let at: i64 = r.try_get("updated_at")?;
                let now: i64 = r.try_get("now")?;
                (tokens + (now - at).max(0) as f64 * per_ms).min(burst)
            }
            None => burst,
        };
        let wait_ms = ((1.0 - have) / per_ms).max(1.0);
        Ok(Some(Duration::from_secs_f64(wait_ms / 1000.0)))
    }
}
