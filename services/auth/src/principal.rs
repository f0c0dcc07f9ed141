//! The authenticated caller.

use serde::Serialize;
use zhishu_core::Role;

/// How a principal authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// A web session cookie.
    Session,
    /// An API key.
    ApiKey,
    /// An OIDC bearer token.
    Oidc,
}

impl AuthMethod {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Session => "session",
            AuthMethod::ApiKey => "api_key",
            AuthMethod::Oidc => "oidc",
        }
    }
}

/// An authenticated caller: who, with which roles and access groups.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Principal {
    /// User id (the token's subject for OIDC).
    pub user_id: String,
    /// User name.
    pub username: String,
    /// Roles in effect for this request (for a key: the key's roles).
    pub roles: Vec<Role>,
    /// Access groups: the document filter.
    pub groups: Vec<String>,
    /// How they authenticated.
    pub method: AuthMethod,
    /// The API key's public prefix, when a key was used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_prefix: Option<String>,
}

impl Principal {
    /// Whether the principal holds any of `roles`.
    pub fn has_any(&self, roles: &[Role]) -> bool {
        self.roles.iter().any(|r| roles.contains(r))
    }

    /// The key rate limits and quotas are counted under.
    pub fn rate_key(&self) -> String {
        match &self.key_prefix {
            Some(prefix) => format!("key:{prefix}"),
            None => format!("user:{}", self.user_id),
        }
    }
}
