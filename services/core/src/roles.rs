//! Roles a principal can hold.
//!
//! Roles gate *what* a caller may do (endpoints); access groups gate *which
//! documents* they may see. Both travel with every request.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A role granted to a user or an API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Role {
    /// Chat, search and read their own conversations.
    Employee,
    /// Ingest folders, manage documents and access groups.
    KnowledgeAdmin,
    /// Read, export and verify the audit trail.
    ComplianceOfficer,
    /// Manage users, keys and settings.
    Admin,
}

impl Role {
    /// Every role, in order of increasing privilege over the system itself.
    pub const ALL: [Role; 4] = [
        Role::Employee,
        Role::KnowledgeAdmin,
        Role::ComplianceOfficer,
        Role::Admin,
    ];

    /// The role's wire name, as used in configuration, tokens and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Employee => "employee",
            Role::KnowledgeAdmin => "knowledge_admin",
            Role::ComplianceOfficer => "compliance_officer",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for a role name that does not exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role `{0}`: expected one of employee, knowledge_admin, compliance_officer, admin")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_round_trip() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        let err = "root".parse::<Role>().unwrap_err();
        assert!(err.to_string().contains("unknown role `root`"));
    }
}
