//! Passwords, API keys and session tokens.
//!
//! Passwords are low-entropy, so they get argon2id (memory-hard, salted).
//! API keys and session tokens are 256 random bits, so a plain SHA-256 is
//! enough to make a stolen database useless, and it keeps every request's
//! authentication cheap.

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use sha2::{Digest, Sha256};

/// Hex SHA-256 of a secret.
pub fn sha256_hex(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// An argon2id PHC string for `password` (random salt, default parameters).
///
/// # Errors
/// When the password cannot be hashed (e.g. absurdly long).
pub fn hash_password(password: &str) -> Result<String, String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| format!("cannot hash the password: {e}"))
}

/// Whether `password` matches the PHC string `hash`; a malformed hash never
/// matches.
pub fn verify_password(password: &str, hash: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), hash)
        .is_ok()
}

pub(crate) fn random_hex(bytes: usize) -> String {
    let mut out = String::with_capacity(bytes * 2);
    while out.len() < bytes * 2 {
        let chunk: [u8; 32] = rand::random();
        out.push_str(&hex::encode(chunk));
    }
    out.truncate(bytes * 2);
    out
}

/// A new API key: the secret shown once, its public prefix and its hash.
#[derive(Debug, Clone)]
pub struct ApiKeySecret {
    /// The whole key, `zk_<prefix>_<secret>`; shown to the user once.
    pub key: String,
    /// The public part used to find it, `zk_<8 hex>`.
    pub prefix: String,
    /// SHA-256 of the whole key, which is what is stored.
    pub hash: String,
}

/// Generates an API key.
pub fn new_api_key() -> ApiKeySecret {
    let prefix = format!("zk_{}", random_hex(4));
    let key = format!("{prefix}_{}", random_hex(32));
    ApiKeySecret {
        hash: sha256_hex(&key),
        key,
        prefix,
    }
}

/// The prefix of something shaped like an API key.
pub(crate) fn api_key_prefix(key: &str) -> Option<&str> {
    let rest = key.strip_prefix("zk_")?;
    let (id, secret) = rest.split_once('_')?;
    (id.len() == 8 && secret.len() == 64).then(|| &key[..11])
}

/// A new session token and the hash to store.
pub fn new_session_token() -> (String, String) {
    let token = random_hex(32);
    let hash = sha256_hex(&token);
    (token, hash)
}

/// Compares two strings in time independent of where they differ.
pub(crate) fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_round_trip_and_are_salted() {
        let h1 = hash_password("correct horse 电池").unwrap();
        let h2 = hash_password("correct horse 电池").unwrap();
        assert!(h1.starts_with("$argon2id$"));
        assert_ne!(h1, h2, "salted");
        assert!(verify_password("correct horse 电池", &h1));
        assert!(!verify_password("correct horse", &h1));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn api_keys_have_a_findable_prefix() {
        let k = new_api_key();
        assert_eq!(api_key_prefix(&k.key), Some(k.prefix.as_str()));
        assert_eq!(k.hash, sha256_hex(&k.key));
        assert_ne!(new_api_key().key, k.key);
        assert_eq!(api_key_prefix("zk_short_x"), None);
        assert_eq!(api_key_prefix("eyJhbGciOi.x.y"), None);
    }

    #[test]
    fn constant_time_comparison() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "ab"));
    }
}
