//! Token buckets shared by every node (`rate_buckets`).

use crate::{Backend, SqlStore, StoreError, now_ms};
use sqlx::Row;
use std::time::Duration;

/// One statement takes a token: a new bucket starts full, an existing one
/// is refilled for the time since it was last touched (never past the
/// burst) and gives a token when it holds one; a refusal changes nothing.
/// Two nodes taking at once are serialised by the row, so the bucket is
/// exact across nodes. `$1` key, `$2` burst, `$3` now (ms), `$4` tokens
/// per ms. `full_at` is when the bucket is full again.
macro_rules! take {
    ($least:literal) => {
        concat!(
            "INSERT INTO rate_buckets (key, tokens, updated_at, full_at) \
             VALUES ($1, $2 - 1, $3, $3 + CAST(1 / $4 AS BIGINT)) \
             ON CONFLICT (key) DO UPDATE SET \
             tokens = ",
            $least,
            "($2, rate_buckets.tokens + ($3 - rate_buckets.updated_at) * $4) - 1, \
             updated_at = $3, \
             full_at = $3 + CAST(($2 - ",
            $least,
            "($2, rate_buckets.tokens + ($3 - rate_buckets.updated_at) * $4) + 1) / $4 AS BIGINT) \
             WHERE ",
            $least,
            "($2, rate_buckets.tokens + ($3 - rate_buckets.updated_at) * $4) >= 1 \
             RETURNING tokens"
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
        let now = now_ms();
        let per_ms = f64::from(per_minute) / 60_000.0;
        let burst = f64::from(burst.max(1));
        let sql = match self.backend() {
            Backend::Postgres => take!("LEAST"),
            Backend::Sqlite => take!("MIN"),
        };
        let taken = sqlx::query(sql)
            .bind(key)
            .bind(burst)
            .bind(now)
            .bind(per_ms)
            .fetch_optional(&self.pool)
            .await?;
        // Now and then, drop buckets that are full again (each by its own
        // limit): the same as no bucket, so the table stays as small as the
        // set of recent callers.
        if now % 512 == 0 {
            sqlx::query("DELETE FROM rate_buckets WHERE full_at < $1")
                .bind(now)
                .execute(&self.pool)
                .await?;
        }
        if taken.is_some() {
            return Ok(None);
        }
        let row = sqlx::query("SELECT tokens, updated_at FROM rate_buckets WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        let have = match row {
            Some(r) => {
                let tokens: f64 = r.try_get("tokens")?;
                let at: i64 = r.try_get("updated_at")?;
                (tokens + (now - at).max(0) as f64 * per_ms).min(burst)
            }
            None => burst,
        };
        let wait_ms = ((1.0 - have) / per_ms).max(1.0);
        Ok(Some(Duration::from_secs_f64(wait_ms / 1000.0)))
    }
}
