//! Loading the configuration: file → environment → validation.
//!
//! Errors matter more than the happy path here: an operator who mistypes a
//! key must be told which key, in which file, on which line; a missing value
//! must say where it can be set. So the file is parsed with spans kept, and
//! every serde error is mapped back to the key path and its source (a line of
//! the file, or the environment variable that set it).

use super::Config;
use serde_path_to_error::Segment;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml::de::{DeTable, DeValue};

/// Prefix of the environment variables that override configuration keys:
/// `ZHISHU_SERVER__LISTEN=0.0.0.0:8080` sets `server.listen`.
pub const ENV_PREFIX: &str = "ZHISHU_";

/// Separator between key path segments in an environment variable name.
const ENV_NESTING: &str = "__";

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("{origin}:{line}:{column}: TOML syntax error: {message}")]
    Syntax {
        /// The file.
        origin: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the parser said.
        message: String,
    },
    /// A key has a value of the wrong type or an unacceptable value, or is
    /// not a known key.
    #[error("{origin}: invalid value for `{key}`: {message}")]
    Invalid {
        /// Where the value came from: `FILE:LINE:COLUMN`, `environment variable
        /// NAME`, or `configuration` for rules spanning several keys.
        origin: String,
        /// The dotted key path, e.g. `server.listen`.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A required key has no value.
    #[error("{}", missing_message(key, reason))]
    Missing {
        /// The dotted key path, e.g. `database.url`.
        key: String,
        /// Why it is needed, or where it should be set.
        reason: String,
    },
}

fn missing_message(key: &str, reason: &str) -> String {
    format!("missing required value `{key}`: {reason}")
}

/// Where to set `key`: the table in the file and the environment variable.
fn where_to_set(key: &str, file: &str) -> String {
    let (section, leaf) = key.rsplit_once('.').unwrap_or(("", key));
    let place = if section.is_empty() {
        format!("set `{leaf} = …` at the top of {file}")
    } else {
        format!("set `{leaf} = …` under [{section}] in {file}")
    };
    format!("{place}, or the environment variable {}", env_var_for(key))
}

/// The environment variable that overrides `key` (`database.url` →
/// `ZHISHU_DATABASE__URL`).
pub fn env_var_for(key: &str) -> String {
    format!(
        "{ENV_PREFIX}{}",
        key.split('.')
            .map(str::to_ascii_uppercase)
            .collect::<Vec<_>>()
            .join(ENV_NESTING)
    )
}

/// Builds a [`Config`] from a TOML document and environment overrides.
///
/// The loader never reads the process environment itself: the binary passes
/// `std::env::vars()`, tests pass what they need.
#[derive(Debug, Default, Clone)]
pub struct ConfigLoader {
    env: BTreeMap<String, String>,
}

impl ConfigLoader {
    /// A loader with no environment overrides.
    pub fn new() -> Self {
        Self::default()
    }

    /// Uses these variables: `ZHISHU_SECTION__KEY` ones override keys, and
    /// `HOME` expands a leading `~` in `models.dir`. Others are ignored.
    pub fn with_env<I, K, V>(mut self, vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        self.env = vars
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        self
    }

    /// Loads a configuration file.
    ///
    /// # Errors
    /// See [`ConfigError`]; every variant names the key and where it came from.
    pub fn load_file(&self, path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        self.load_str(&text, &path.display().to_string())
    }

    /// Loads the single-box configuration compiled into the binary
    /// ([`super::EMBEDDED_DEFAULT`]).
    ///
    /// # Errors
    /// Only through environment overrides; the embedded file itself is tested.
    pub fn load_embedded(&self) -> Result<Config, ConfigError> {
        self.load_str(super::EMBEDDED_DEFAULT, "configs/zhishu.toml (embedded)")
    }

    /// Loads configuration text; `origin` names it in errors.
    ///
    /// # Errors
    /// See [`ConfigError`].
    pub fn load_str(&self, text: &str, origin: &str) -> Result<Config, ConfigError> {
        let spanned = DeTable::parse(text).map_err(|e| {
            let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
            ConfigError::Syntax {
                origin: origin.to_string(),
                line,
                column,
                message: e.message().trim().to_string(),
            }
        })?;
        let mut table: toml::Table = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            origin: origin.to_string(),
            line: 1,
            column: 1,
            message: e.message().trim().to_string(),
        })?;

        let overrides = self.apply_env(&mut table)?;
        let mut config = deserialize(table, &overrides, &spanned.into_inner(), text, origin)?;
        self.expand_home(&mut config);
        config.validate().map_err(|e| match e {
            ConfigError::Missing { key, reason } => ConfigError::Missing {
                reason: format!("{reason}; {}", where_to_set(&key, origin)),
                key,
            },
            other => other,
        })?;
        Ok(config)
    }

    /// Writes every `ZHISHU_A__B` variable into the table at `a.b` and
    /// returns which variable set which key.
    fn apply_env(
        &self,
        table: &mut toml::Table,
    ) -> Result<BTreeMap<String, Override>, ConfigError> {
        let mut overrides = BTreeMap::new();
        for (var, raw) in &self.env {
            let Some(rest) = var.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            if !rest.contains(ENV_NESTING) {
                // ZHISHU_CONFIG and friends: not key overrides.
                continue;
            }
            let path: Vec<String> = rest
                .split(ENV_NESTING)
                .map(str::to_ascii_lowercase)
                .collect();
            let key = path.join(".");
            if path.iter().any(String::is_empty) {
                return Err(ConfigError::Invalid {
                    origin: format!("environment variable {var}"),
                    key,
                    message: "empty key segment: use ZHISHU_SECTION__KEY".into(),
                });
            }
            let mut node = &mut *table;
            for segment in &path[..path.len() - 1] {
                let entry = node
                    .entry(segment.clone())
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()));
                node = match entry {
                    toml::Value::Table(t) => t,
                    _ => {
                        return Err(ConfigError::Invalid {
                            origin: format!("environment variable {var}"),
                            key,
                            message: format!("`{segment}` is a value, not a table"),
                        });
                    }
                };
            }
            let leaf = &path[path.len() - 1];
            let existing_is_string = matches!(node.get(leaf), Some(toml::Value::String(_)));
            let value = if existing_is_string {
                toml::Value::String(raw.clone())
            } else {
                parse_env_value(raw)
            };
            node.insert(leaf.clone(), value);
            overrides.insert(
                key,
                Override {
                    var: var.clone(),
                    raw: raw.clone(),
                },
            );
        }
        Ok(overrides)
    }

    fn expand_home(&self, config: &mut Config) {
        let Some(home) = self.env.get("HOME") else {
            return;
        };
        if let Ok(rest) = config.models.dir.strip_prefix("~") {
            config.models.dir = Path::new(home).join(rest);
        }
    }
}

/// A key set from the environment.
#[derive(Debug, Clone)]
struct Override {
    var: String,
    raw: String,
}

/// Environment values are TOML when they parse as a TOML value (numbers,
/// booleans, arrays), and plain strings otherwise.
fn parse_env_value(raw: &str) -> toml::Value {
    let doc = format!("v = {raw}");
    match toml::from_str::<toml::Table>(&doc) {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(raw.to_string())),
        Err(_) => toml::Value::String(raw.to_string()),
    }
}

/// Deserializes the merged table, mapping any error to the key and its
/// source. An environment value that was read as a number or boolean but is
/// wanted as a string is retried as a string.
fn deserialize(
    mut table: toml::Table,
    overrides: &BTreeMap<String, Override>,
    spans: &DeTable<'_>,
    text: &str,
    origin: &str,
) -> Result<Config, ConfigError> {
    for _ in 0..=overrides.len() {
        let err = match serde_path_to_error::deserialize::<_, Config>(toml::Value::Table(
            table.clone(),
        )) {
            Ok(config) => return Ok(config),
            Err(err) => err,
        };
        let message = err.inner().message().trim().to_string();
        let mut segments: Vec<String> = err
            .path()
            .iter()
            .filter_map(|s| match s {
                Segment::Map { key } => Some(key.clone()),
                Segment::Seq { index } => Some(index.to_string()),
                Segment::Enum { variant } => Some(variant.clone()),
                Segment::Unknown => None,
            })
            .collect();
        let missing = message.starts_with("missing field");
        if (missing || message.starts_with("unknown field"))
            && let Some(field) = message.split('`').nth(1)
            && segments.last().map(String::as_str) != Some(field)
        {
            segments.push(field.to_string());
        }
        let key = segments.join(".");

        if let Some(o) = overrides.get(&key) {
            if message.contains("expected a string")
                && !matches!(parse_env_value(&o.raw), toml::Value::String(_))
            {
                set_path(&mut table, &segments, toml::Value::String(o.raw.clone()));
                continue;
            }
            return Err(ConfigError::Invalid {
                origin: format!("environment variable {}", o.var),
                key,
                message,
            });
        }
        if missing {
            return Err(ConfigError::Missing {
                reason: where_to_set(&key, origin),
                key,
            });
        }
        let location = span_of(spans, &segments)
            .map(|start| {
                let (line, column) = line_col(text, start);
                format!("{origin}:{line}:{column}")
            })
            .unwrap_or_else(|| origin.to_string());
        return Err(ConfigError::Invalid {
            origin: location,
            key,
            message,
        });
    }
    Err(ConfigError::Invalid {
        origin: origin.to_string(),
        key: String::new(),
        message: "environment overrides do not converge".into(),
    })
}

fn set_path(table: &mut toml::Table, segments: &[String], value: toml::Value) {
    let Some((leaf, parents)) = segments.split_last() else {
        return;
    };
    let mut node = table;
    for s in parents {
        match node.get_mut(s) {
            Some(toml::Value::Table(t)) => node = t,
            _ => return,
        }
    }
    node.insert(leaf.clone(), value);
}

/// Byte offset of the key at `segments` in the source, or of the deepest
/// table on the way that exists.
fn span_of(root: &DeTable<'_>, segments: &[String]) -> Option<usize> {
    let mut table = root;
    let mut found = None;
    for segment in segments {
        let (key, value) = table
            .iter()
            .find(|(k, _)| k.get_ref().as_ref() == segment.as_str())?;
        found = Some(key.span().start);
        match value.get_ref() {
            DeValue::Table(t) => table = t,
            _ => break,
        }
    }
    found
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}
