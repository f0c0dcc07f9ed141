//! Conversations and their messages. Every statement filters by owner: a
//! conversation id alone never reaches a row.

use super::{found, json_col, new_id, to_json};
use crate::{ConversationRecord, MessageRecord, NewMessage, SqlStore, StoreError, now_ms};
use sqlx::Row;
use sqlx::any::AnyRow;

fn conversation(row: &AnyRow) -> Result<ConversationRecord, StoreError> {
    Ok(ConversationRecord {
        id: row.try_get("id")?,
        owner: row.try_get("owner")?,
        title: row.try_get("title")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn message(row: &AnyRow) -> Result<MessageRecord, StoreError> {
    Ok(MessageRecord {
        seq: row.try_get("seq")?,
        role: row.try_get("role")?,
        content: row.try_get("content")?,
        reasoning: row.try_get("reasoning")?,
        citations: json_col(row, "citations")?,
        audit_event_id: row.try_get("audit_event_id")?,
        created_at: row.try_get("created_at")?,
    })
}

impl SqlStore {
    pub(crate) async fn create_conversation_impl(
        &self,
        owner: &str,
        title: &str,
    ) -> Result<ConversationRecord, StoreError> {
        let id = new_id();
        let now = now_ms();
        sqlx::query(
            "INSERT INTO conversations (id, owner, title, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&id)
        .bind(owner)
        .bind(title)
        .bind(now)
        .bind(now)
        .execute(&self.pool)
        .await?;
        self.conversation_impl(owner, &id).await
    }

    pub(crate) async fn conversation_impl(
        &self,
        owner: &str,
        id: &str,
    ) -> Result<ConversationRecord, StoreError> {
        let row = sqlx::query(
            "SELECT id, owner, title, created_at, updated_at FROM conversations \
             WHERE id = $1 AND owner = $2",
        )
        .bind(id)
        .bind(owner)
        .fetch_optional(&self.pool)
        .await?;
        conversation(&found(row, "conversation", id)?)
    }

    pub(crate) async fn list_conversations_impl(
        &self,
        owner: &str,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<ConversationRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, owner, title, created_at, updated_at FROM conversations \
             WHERE owner = $1 ORDER BY updated_at DESC, id LIMIT $2 OFFSET $3",
        )
        .bind(owner)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(conversation).collect()
    }

    pub(crate) async fn messages_impl(
        &self,
        owner: &str,
        id: &str,
    ) -> Result<Vec<MessageRecord>, StoreError> {
        self.conversation_impl(owner, id).await?;
        let rows = sqlx::query(
            "SELECT seq, role, content, reasoning, citations, audit_event_id, created_at \
             FROM conversation_messages WHERE conversation_id = $1 ORDER BY seq",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(message).collect()
    }

    pub(crate) async fn append_messages_impl(
        &self,
        owner: &str,
        id: &str,
        messages: &[NewMessage],
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let now = now_ms();
        let updated =
            sqlx::query("UPDATE conversations SET updated_at = $1 WHERE id = $2 AND owner = $3")
                .bind(now)
                .bind(id)
                .bind(owner)
                .execute(&mut *tx)
                .await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                what: "conversation",
                id: id.to_owned(),
            });
        }
        let (last,): (i64,) = sqlx::query_as(
            "SELECT COALESCE(MAX(seq), 0) FROM conversation_messages WHERE conversation_id = $1",
        )
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        for (i, m) in messages.iter().enumerate() {
            sqlx::query(
                "INSERT INTO conversation_messages \
                 (conversation_id, seq, role, content, reasoning, citations, audit_event_id, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(id)
            .bind(last + 1 + i as i64)
            .bind(&m.role)
            .bind(&m.content)
            .bind(&m.reasoning)
            .bind(to_json(&m.citations)?)
            .bind(&m.audit_event_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
