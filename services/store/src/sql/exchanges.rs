//! Exchanges that have started and not yet closed.

use crate::{OpenExchange, SqlStore, StoreError};
use sqlx::Row;

impl SqlStore {
    pub(crate) async fn open_exchange_impl(&self, e: &OpenExchange) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO open_exchanges (exchange_id, node, action, actor, started_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&e.exchange_id)
        .bind(&e.node)
        .bind(&e.action)
        .bind(&e.actor)
        .bind(e.started_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(crate) async fn close_exchange_impl(&self, exchange_id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM open_exchanges WHERE exchange_id = $1")
            .bind(exchange_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub(crate) async fn open_exchanges_impl(&self) -> Result<Vec<OpenExchange>, StoreError> {
        let rows = sqlx::query(
            "SELECT exchange_id, node, action, actor, started_at FROM open_exchanges ORDER BY started_at",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(OpenExchange {
                    exchange_id: r.try_get("exchange_id")?,
                    node: r.try_get("node")?,
                    action: r.try_get("action")?,
                    actor: r.try_get("actor")?,
                    started_at: r.try_get("started_at")?,
                })
            })
            .collect()
    }
}
