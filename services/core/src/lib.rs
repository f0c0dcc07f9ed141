//! Shared contract types of Zhishu.
//!
//! Every other crate depends on this one and on nothing above it, so the
//! types here are small and stable: the typed configuration tree, the roles a
//! principal can hold, and the errors that cross crate boundaries. Nothing in
//! this crate reads the process environment or touches the network: the
//! binary hands it what it needs (see [`config::ConfigLoader`]).
#![warn(missing_docs)]

pub mod config;
pub mod roles;

pub use config::{Config, ConfigError, ConfigLoader};
pub use roles::Role;
