//! Users and API keys.

use super::{found, json_col, new_id, to_json};
use crate::{
    ApiKeyRecord, NewApiKey, NewUser, SessionRecord, SqlStore, StoreError, UserRecord, now_ms,
};
use sqlx::Row;
use sqlx::any::AnyRow;

macro_rules! user_columns {
    () => {
        "id, username, display_name, password_hash, roles, access_groups, created_at, disabled_at"
    };
}
macro_rules! key_columns {
    () => {
        "id, user_id, name, prefix, key_hash, roles, created_at, last_used_at, revoked_at"
    };
}

fn user(row: &AnyRow) -> Result<UserRecord, StoreError> {
    Ok(UserRecord {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        display_name: row.try_get("display_name")?,
        password_hash: row.try_get("password_hash")?,
        roles: json_col(row, "roles")?,
        access_groups: json_col(row, "access_groups")?,
        created_at: row.try_get("created_at")?,
        disabled_at: row.try_get("disabled_at")?,
    })
}

fn api_key(row: &AnyRow) -> Result<ApiKeyRecord, StoreError> {
    Ok(ApiKeyRecord {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        name: row.try_get("name")?,
        prefix: row.try_get("prefix")?,
        key_hash: row.try_get("key_hash")?,
        roles: json_col(row, "roles")?,
        created_at: row.try_get("created_at")?,
        last_used_at: row.try_get("last_used_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

impl SqlStore {
    pub(crate) async fn create_user_impl(&self, u: &NewUser) -> Result<UserRecord, StoreError> {
        let id = new_id();
        sqlx::query(concat!(
            "INSERT INTO users (",
            user_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, NULL)"
        ))
        .bind(&id)
        .bind(&u.username)
        .bind(&u.display_name)
        .bind(u.password_hash.as_deref())
        .bind(to_json(&u.roles)?)
        .bind(to_json(&u.access_groups)?)
        .bind(now_ms())
        .execute(&self.pool)
        .await
        .map_err(|e| match StoreError::from(e) {
            StoreError::Conflict(_) => {
                StoreError::Conflict(format!("user `{}` exists", u.username))
            }
            other => other,
        })?;
        self.user_by_name_impl(&u.username).await
    }

    pub(crate) async fn user_by_name_impl(&self, username: &str) -> Result<UserRecord, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE username = $1"
        ))
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        user(&found(row, "user", username)?)
    }

    pub(crate) async fn list_users_impl(&self) -> Result<Vec<UserRecord>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users ORDER BY username"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(user).collect()
    }

    pub(crate) async fn disable_user_impl(&self, username: &str) -> Result<UserRecord, StoreError> {
        sqlx::query("UPDATE users SET disabled_at = COALESCE(disabled_at, $1) WHERE username = $2")
            .bind(now_ms())
            .bind(username)
            .execute(&self.pool)
            .await?;
        self.user_by_name_impl(username).await
    }

    pub(crate) async fn set_user_access_impl(
        &self,
        username: &str,
        roles: &[zhishu_core::Role],
        groups: &[String],
    ) -> Result<UserRecord, StoreError> {
        let done =
            sqlx::query("UPDATE users SET roles = $1, access_groups = $2 WHERE username = $3")
                .bind(to_json(&roles)?)
                .bind(to_json(&groups)?)
                .bind(username)
                .execute(&self.pool)
                .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                what: "user",
                id: username.to_owned(),
            });
        }
        self.user_by_name_impl(username).await
    }

    pub(crate) async fn create_api_key_impl(
        &self,
        k: &NewApiKey,
    ) -> Result<ApiKeyRecord, StoreError> {
        let id = new_id();
        sqlx::query(concat!(
            "INSERT INTO api_keys (",
            key_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, NULL)"
        ))
        .bind(&id)
        .bind(&k.user_id)
        .bind(&k.name)
        .bind(&k.prefix)
        .bind(&k.key_hash)
        .bind(to_json(&k.roles)?)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        self.api_key_by_prefix_impl(&k.prefix).await
    }

    pub(crate) async fn api_key_by_prefix_impl(
        &self,
        prefix: &str,
    ) -> Result<ApiKeyRecord, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            key_columns!(),
            " FROM api_keys WHERE prefix = $1"
        ))
        .bind(prefix)
        .fetch_optional(&self.pool)
        .await?;
        api_key(&found(row, "API key", prefix)?)
    }

    pub(crate) async fn revoke_api_key_impl(&self, id: &str) -> Result<(), StoreError> {
        let done =
            sqlx::query("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2")
                .bind(now_ms())
                .bind(id)
                .execute(&self.pool)
                .await?;
        found((done.rows_affected() > 0).then_some(()), "API key", id)
    }
}

impl SqlStore {
    pub(crate) async fn user_by_id_impl(&self, id: &str) -> Result<UserRecord, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        user(&found(row, "user", id)?)
    }

    pub(crate) async fn list_api_keys_impl(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            key_columns!(),
            " FROM api_keys ORDER BY created_at DESC, id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(api_key).collect()
    }

    pub(crate) async fn touch_api_key_impl(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
            .bind(now_ms())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(crate) async fn create_session_impl(&self, s: &SessionRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, created_at, expires_at, revoked_at, client_addr) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&s.token_hash)
        .bind(&s.user_id)
        .bind(s.created_at)
        .bind(s.expires_at)
        .bind(s.revoked_at)
        .bind(s.client_addr.as_deref())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(crate) async fn session_impl(&self, token_hash: &str) -> Result<SessionRecord, StoreError> {
        let row = sqlx::query(
            "SELECT token_hash, user_id, created_at, expires_at, revoked_at, client_addr FROM sessions WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        let row = found(row, "session", "(token)")?;
        Ok(SessionRecord {
            token_hash: row.try_get("token_hash")?,
            user_id: row.try_get("user_id")?,
            created_at: row.try_get("created_at")?,
            expires_at: row.try_get("expires_at")?,
            revoked_at: row.try_get("revoked_at")?,
            client_addr: row.try_get("client_addr")?,
        })
    }

    pub(crate) async fn revoke_session_impl(&self, token_hash: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE sessions SET revoked_at = COALESCE(revoked_at, $1) WHERE token_hash = $2",
        )
        .bind(now_ms())
        .bind(token_hash)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
