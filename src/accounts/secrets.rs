//! Passwords (argon2id, a salt per hash, PHC strings) and opaque tokens (random, shown once,
//! kept as SHA-256 digests).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::Rng;
use sha2::{Digest, Sha256};

/// The prefix of a login session's token; personal API tokens start with [`API_TOKEN_PREFIX`]
/// (tokens from the YAML of older versions have neither and are API tokens).
pub const SESSION_PREFIX: &str = "sbs_";
pub const API_TOKEN_PREFIX: &str = "sbt_";
/// The prefix of a one-time password (invite or reset) token.
pub const RESET_PREFIX: &str = "sbr_";

/// Shortest and longest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 10;
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// argon2id with OWASP's recommended minimum (19 MiB, 2 passes, 1 lane).
fn hasher() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::default())
}

/// Hash a password with a fresh random salt, as a PHC string (`$argon2id$v=19$...`).
pub fn hash_password(password: &str) -> Result<String, String> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// A hash of a password nobody knows, verified against when the email is unknown so that an
/// unknown email and a wrong password take the same time.
static DUMMY: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    hash_password("no one has this password, it only spends the time")
        .unwrap_or_else(|_| String::new())
});

/// Whether `password` matches the PHC string `hash` (with the parameters the hash names).
/// With no hash (an unknown email, a user without a password), spends the same time on a
/// dummy hash and answers false.
pub fn verify_password(password: &str, hash: Option<&str>) -> bool {
    let parsed = hash.and_then(|h| PasswordHash::new(h).ok());
    match parsed {
        Some(parsed) => hasher()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        None => {
            if let Ok(dummy) = PasswordHash::new(&DUMMY) {
                let _ = hasher().verify_password(password.as_bytes(), &dummy);
            }
            false
        }
    }
}

/// Whether a new password is acceptable; the reason when it is not.
pub fn check_new_password(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(format!(
            "a password needs at least {MIN_PASSWORD_CHARS} characters"
        ));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(format!("a password is at most {MAX_PASSWORD_BYTES} bytes"));
    }
    Ok(())
}

/// A new random token with `prefix` (256 bits, hex).
pub fn new_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", hex::encode(bytes))
}

/// The digest a token is stored and looked up by.
pub fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_round_trip_with_a_salt_each() {
        let a = hash_password("correct horse battery").expect("hash");
        let b = hash_password("correct horse battery").expect("hash");
        assert!(a.starts_with("$argon2id$v=19$"));
        assert_ne!(a, b, "a salt per hash");
        assert!(verify_password("correct horse battery", Some(&a)));
        assert!(!verify_password("correct horse battery!", Some(&a)));
        assert!(!verify_password("anything", None));
        assert!(!verify_password("anything", Some("not a phc string")));
    }

    #[test]
    fn tokens_are_random_and_prefixed() {
        let a = new_token(SESSION_PREFIX);
        assert!(a.starts_with(SESSION_PREFIX));
        assert_eq!(a.len(), SESSION_PREFIX.len() + 64);
        assert_ne!(a, new_token(SESSION_PREFIX));
        assert_eq!(digest(&a), digest(&a.clone()));
    }

    #[test]
    fn weak_passwords_are_refused() {
        assert!(check_new_password("short").is_err());
        assert!(check_new_password(&"x".repeat(2000)).is_err());
        assert!(check_new_password("long enough pass").is_ok());
    }
}
