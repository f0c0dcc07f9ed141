//! Who may see what (the [`Scope`]) and what the caller asked to narrow to
//! (the [`SearchFilter`]).
//!
//! The two are kept apart on purpose. A scope comes from the authenticated
//! principal, never from a request body; a filter comes from the request and
//! has no field that names access groups (unknown fields are refused), so
//! nothing a caller sends can widen what the scope allows. Both stores turn
//! the pair into `scope AND filter` in their own query language.

use crate::RetrievalError;
use serde::{Deserialize, Serialize};

/// The access groups a search may read. A chunk is visible when it shares
/// at least one group with the scope; an empty scope sees nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    groups: Vec<String>,
}

impl Scope {
    /// The scope of a caller in these groups.
    pub fn of_groups<I, S>(groups: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut groups: Vec<String> = groups.into_iter().map(Into::into).collect();
        groups.sort();
        groups.dedup();
        Self { groups }
    }

    /// The groups, sorted and without duplicates.
    pub fn groups(&self) -> &[String] {
        &self.groups
    }

    /// True when the caller may see nothing at all.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }
}

/// Most values one filter list may hold.
pub const MAX_FILTER_VALUES: usize = 256;

/// Metadata a search is narrowed to. Every field is optional; set fields
/// are combined with AND, values within a list with OR.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SearchFilter {
    /// Only these collections.
    pub collections: Vec<String>,
    /// Only these documents.
    pub document_ids: Vec<String>,
    /// Only documents whose path is this file or lies under this folder.
    pub path_prefix: Option<String>,
    /// Only documents modified after this time (ms since the epoch).
    pub modified_after: Option<i64>,
}

impl SearchFilter {
    /// Checks sizes.
    ///
    /// # Errors
    /// [`RetrievalError::InvalidFilter`] naming the field.
    pub fn validate(&self) -> Result<(), RetrievalError> {
        for (name, list) in [
            ("collections", &self.collections),
            ("document_ids", &self.document_ids),
        ] {
            if list.len() > MAX_FILTER_VALUES {
                return Err(RetrievalError::InvalidFilter(format!(
                    "{name} holds {} values; at most {MAX_FILTER_VALUES}",
                    list.len()
                )));
            }
        }
        if let Some(p) = &self.path_prefix
            && p.trim().is_empty()
        {
            return Err(RetrievalError::InvalidFilter(
                "path_prefix is empty; leave it out to search every path".into(),
            ));
        }
        Ok(())
    }

    /// The path prefix as it is indexed (no trailing separator).
    pub(crate) fn normalised_prefix(&self) -> Option<String> {
        self.path_prefix.as_ref().map(|p| {
            let t = p.trim_end_matches('/');
            if t.is_empty() {
                "/".to_owned()
            } else {
                t.to_owned()
            }
        })
    }
}

/// A path and every folder above it (`/a/b/c.md` → `/`, `/a`, `/a/b`,
/// `/a/b/c.md`): indexed with each chunk so that a path-prefix filter is an
/// exact keyword match in both stores, with no prefix scan.
pub fn ancestors(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    if path.starts_with('/') {
        out.push("/".to_owned());
    }
    let mut at = 0;
    while let Some(i) = path[at..].find('/') {
        let end = at + i;
        if end > 0 {
            out.push(path[..end].to_owned());
        }
        at = end + 1;
    }
    if !path.ends_with('/') && !path.is_empty() {
        out.push(path.to_owned());
    }
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ancestors_cover_every_folder() {
        assert_eq!(
            ancestors("/srv/docs/hr/policy.md"),
            [
                "/",
                "/srv",
                "/srv/docs",
                "/srv/docs/hr",
                "/srv/docs/hr/policy.md"
            ]
        );
        assert_eq!(ancestors("upload/a.txt"), ["upload", "upload/a.txt"]);
    }

    #[test]
    fn a_filter_cannot_name_access_groups() {
        let err = serde_json::from_str::<SearchFilter>(r#"{"access_groups":["hr"]}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `access_groups`"), "{err}");
    }

    #[test]
    fn scopes_are_sorted_sets() {
        let s = Scope::of_groups(["b", "a", "b"]);
        assert_eq!(s.groups(), ["a", "b"]);
        assert!(Scope::of_groups(Vec::<String>::new()).is_empty());
    }
}
