//! Documents and the chunk registry.

use super::{enum_col, enum_text, found, json_col, new_id, to_json};
use crate::{
    ChunkRecord, DocumentRecord, DocumentStatus, NewDocument, SqlStore, StoreError, Upsert, now_ms,
};
use sqlx::Row;
use sqlx::any::AnyRow;

macro_rules! columns {
    () => {
        "id, collection, source_path, title, mime_type, content_hash, version, size_bytes, \
     modified_at, access_groups, status, error, guard, created_at, updated_at"
    };
}

fn document(row: &AnyRow) -> Result<DocumentRecord, StoreError> {
    Ok(DocumentRecord {
        id: row.try_get("id")?,
        collection: row.try_get("collection")?,
        source_path: row.try_get("source_path")?,
        title: row.try_get("title")?,
        mime_type: row.try_get("mime_type")?,
        content_hash: row.try_get("content_hash")?,
        version: row.try_get("version")?,
        size_bytes: row.try_get("size_bytes")?,
        modified_at: row.try_get("modified_at")?,
        access_groups: json_col(row, "access_groups")?,
        status: enum_col(row, "status")?,
        error: row.try_get("error")?,
        guard: json_col(row, "guard")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn chunk(row: &AnyRow) -> Result<ChunkRecord, StoreError> {
    Ok(ChunkRecord {
        id: row.try_get("id")?,
        document_id: row.try_get("document_id")?,
        document_version: row.try_get("document_version")?,
        ordinal: row.try_get("ordinal")?,
        page: row.try_get("page")?,
        section_path: row.try_get("section_path")?,
        char_start: row.try_get("char_start")?,
        char_end: row.try_get("char_end")?,
        embed_tokens: row.try_get("embed_tokens")?,
        qwen_tokens: row.try_get("qwen_tokens")?,
        content_hash: row.try_get("content_hash")?,
        // A malformed value (never written by Zhishu) reads as no boxes:
        // the citation falls back to the whole page.
        boxes: serde_json::from_str(&row.try_get::<String, _>("boxes")?).unwrap_or_default(),
    })
}

impl SqlStore {
    pub(crate) async fn upsert_document_impl(
        &self,
        doc: &NewDocument,
    ) -> Result<(DocumentRecord, Upsert), StoreError> {
        let mut tx = self.begin_write().await?;
        let existing = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM documents WHERE collection = $1 AND source_path = $2"
        ))
        .bind(&doc.collection)
        .bind(&doc.source_path)
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| document(&r))
        .transpose()?;
        let now = now_ms();
        let groups = to_json(&doc.access_groups)?;
        let (id, outcome) = match existing {
            None => {
                let id = new_id();
                sqlx::query(concat!(
                    "INSERT INTO documents (",
                    columns!(),
                    ") VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $8, $9, $10, NULL, '[]', $11, $11)"
                ))
                .bind(&id)
                .bind(&doc.collection)
                .bind(&doc.source_path)
                .bind(&doc.title)
                .bind(&doc.mime_type)
                .bind(&doc.content_hash)
                .bind(doc.size_bytes)
                .bind(doc.modified_at)
                .bind(&groups)
                .bind(enum_text(&DocumentStatus::Pending)?)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                (id, Upsert::Created)
            }
            // Same content and the same access groups: nothing to re-index.
            // New groups must reach the chunks in both search stores, whose
            // scope filters read them there, so they count as a change.
            Some(old)
                if old.content_hash == doc.content_hash
                    && same_groups(&old.access_groups, &doc.access_groups) =>
            {
                sqlx::query(
                    "UPDATE documents SET title = $1, access_groups = $2, modified_at = $3, updated_at = $4 WHERE id = $5",
                )
                .bind(&doc.title)
                .bind(&groups)
                .bind(doc.modified_at)
                .bind(now)
                .bind(&old.id)
                .execute(&mut *tx)
                .await?;
                (old.id, Upsert::Unchanged)
            }
            Some(old) => {
                sqlx::query(
                    "UPDATE documents SET title = $1, mime_type = $2, content_hash = $3, version = version + 1, \
                     size_bytes = $4, modified_at = $5, access_groups = $6, status = $7, error = NULL, updated_at = $8 \
                     WHERE id = $9",
                )
                .bind(&doc.title)
                .bind(&doc.mime_type)
                .bind(&doc.content_hash)
                .bind(doc.size_bytes)
                .bind(doc.modified_at)
                .bind(&groups)
                .bind(enum_text(&DocumentStatus::Pending)?)
                .bind(now)
                .bind(&old.id)
                .execute(&mut *tx)
                .await?;
                (old.id, Upsert::Updated)
            }
        };
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM documents WHERE id = $1"
        ))
        .bind(&id)
        .fetch_one(&mut *tx)
        .await?;
        let record = document(&row)?;
        tx.commit().await?;
        Ok((record, outcome))
    }

    pub(crate) async fn document_impl(&self, id: &str) -> Result<DocumentRecord, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM documents WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        document(&found(row, "document", id)?)
    }

    pub(crate) async fn list_documents_impl(
        &self,
        collection: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<DocumentRecord>, StoreError> {
        let rows = match collection {
            Some(c) => {
                sqlx::query(concat!("SELECT ", columns!(), " FROM documents WHERE collection = $1 ORDER BY collection, source_path LIMIT $2 OFFSET $3"))
                .bind(c)
                .bind(limit)
                .bind(offset)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(concat!("SELECT ", columns!(), " FROM documents ORDER BY collection, source_path LIMIT $1 OFFSET $2"))
                .bind(limit)
                .bind(offset)
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.iter().map(document).collect()
    }

    pub(crate) async fn set_document_status_impl(
        &self,
        id: &str,
        status: DocumentStatus,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE documents SET status = $1, error = $2, updated_at = $3 WHERE id = $4",
        )
        .bind(enum_text(&status)?)
        .bind(error)
        .bind(now_ms())
        .bind(id)
        .execute(&self.pool)
        .await?;
        found((done.rows_affected() > 0).then_some(()), "document", id)
    }

    pub(crate) async fn set_document_guard_impl(
        &self,
        id: &str,
        notes: &[crate::GuardNote],
    ) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE documents SET guard = $1 WHERE id = $2")
            .bind(to_json(&notes)?)
            .bind(id)
            .execute(&self.pool)
            .await?;
        found((done.rows_affected() > 0).then_some(()), "document", id)
    }

    pub(crate) async fn collection_settings_impl(
        &self,
        collection: &str,
    ) -> Result<crate::CollectionSettings, StoreError> {
        let row = sqlx::query(
            "SELECT collection, downloads, updated_by, updated_at FROM collection_settings \
             WHERE collection = $1",
        )
        .bind(collection)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some(r) => crate::CollectionSettings {
                collection: r.try_get("collection")?,
                downloads: r.try_get::<i64, _>("downloads")? != 0,
                updated_by: r.try_get("updated_by")?,
                updated_at: r.try_get("updated_at")?,
            },
            None => crate::CollectionSettings {
                collection: collection.to_owned(),
                downloads: true,
                updated_by: String::new(),
                updated_at: 0,
            },
        })
    }

    pub(crate) async fn set_collection_downloads_impl(
        &self,
        collection: &str,
        downloads: bool,
        by: &str,
    ) -> Result<crate::CollectionSettings, StoreError> {
        let now = crate::now_ms();
        sqlx::query(
            "INSERT INTO collection_settings (collection, downloads, updated_by, updated_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (collection) DO UPDATE SET \
             downloads = excluded.downloads, updated_by = excluded.updated_by, \
             updated_at = excluded.updated_at",
        )
        .bind(collection)
        .bind(i64::from(downloads))
        .bind(by)
        .bind(now)
        .execute(&self.pool)
        .await?;
        self.collection_settings_impl(collection).await
    }

    pub(crate) async fn delete_document_impl(&self, id: &str) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM chunks WHERE document_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query("DELETE FROM documents WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        found((done.rows_affected() > 0).then_some(()), "document", id)?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn replace_chunks_impl(
        &self,
        document_id: &str,
        version: i64,
        chunks: &[ChunkRecord],
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let current: Option<(i64,)> = sqlx::query_as("SELECT version FROM documents WHERE id = $1")
            .bind(document_id)
            .fetch_optional(&mut *tx)
            .await?;
        let (current,) = found(current, "document", document_id)?;
        if current != version {
            return Err(StoreError::Conflict(format!(
                "document {document_id} is at version {current}, not {version}"
            )));
        }
        sqlx::query("DELETE FROM chunks WHERE document_id = $1")
            .bind(document_id)
            .execute(&mut *tx)
            .await?;
        for c in chunks {
            if c.document_id != document_id || c.document_version != version {
                return Err(StoreError::Conflict(format!(
                    "chunk {} belongs to {} v{}, not {document_id} v{version}",
                    c.id, c.document_id, c.document_version
                )));
            }
            sqlx::query(
                "INSERT INTO chunks (id, document_id, document_version, ordinal, page, section_path, \
                 char_start, char_end, embed_tokens, qwen_tokens, content_hash, boxes) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            )
            .bind(&c.id)
            .bind(&c.document_id)
            .bind(c.document_version)
            .bind(c.ordinal)
            .bind(c.page)
            .bind(&c.section_path)
            .bind(c.char_start)
            .bind(c.char_end)
            .bind(c.embed_tokens)
            .bind(c.qwen_tokens)
            .bind(&c.content_hash)
            .bind(serde_json::to_string(&c.boxes).unwrap_or_else(|_| "[]".into()))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn chunks_impl(
        &self,
        document_id: &str,
    ) -> Result<Vec<ChunkRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, document_id, document_version, ordinal, page, section_path, char_start, char_end, \
             embed_tokens, qwen_tokens, content_hash, boxes FROM chunks WHERE document_id = $1 ORDER BY ordinal",
        )
        .bind(document_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(chunk).collect()
    }
}

/// Whether two access-group lists grant the same groups, in any order.
fn same_groups(a: &[String], b: &[String]) -> bool {
    let mut a: Vec<&str> = a.iter().map(String::as_str).collect();
    let mut b: Vec<&str> = b.iter().map(String::as_str).collect();
    a.sort_unstable();
    a.dedup();
    b.sort_unstable();
    b.dedup();
    a == b
}
