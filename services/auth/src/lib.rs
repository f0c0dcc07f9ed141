//! Identity: who is calling, and what may they do.
//!
//! Three ways in, one [`Principal`] out:
//! - API keys for programs (`Authorization: Bearer zk_…`): high-entropy
//!   secrets, so they are stored as a SHA-256 hash and found by their public
//!   prefix;
//! - local users with argon2id passwords, who get a session token in an
//!   HTTP-only cookie (stored as a hash, expiring, revocable);
//! - OIDC bearer tokens from the company's identity provider, verified
//!   against its JWKS (see [`oidc`]).
//!
//! Roles decide which endpoints a principal may call; access groups decide
//! which documents it may see. [`RateLimiter`] bounds how fast each principal
//! may go.
#![warn(missing_docs)]

mod authenticator;
pub mod oidc;
mod principal;
mod rate;
mod secrets;
pub mod sso;

pub use authenticator::{AuthError, Authenticator, LoginFailure};
pub use principal::{AuthMethod, Principal};
pub use rate::RateLimiter;
pub use secrets::{
    ApiKeySecret, hash_password, new_api_key, new_session_token, sha256_hex, verify_password,
};
