//! Password hashing: Argon2id with OWASP's minimum parameters (19 MiB, 2 passes, 1 lane),
//! stored as a PHC string that carries its own parameters and salt, so they can be raised later
//! without invalidating existing hashes.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// The fewest characters a new password may have (NIST SP 800-63B's minimum for a secret its
/// holder chose). Only new passwords are held to it: an account made before keeps logging in.
pub const MIN_CHARS: usize = 8;

/// Whether `password` is too short to be set as an account's new password ([`MIN_CHARS`],
/// counted in characters, not bytes, so that no script is held to more than another).
pub fn too_short(password: &str) -> bool {
    password.chars().nth(MIN_CHARS - 1).is_none()
}

/// Why a password could not be hashed or checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashError {
    /// No randomness for the salt.
    Random(String),
    /// The stored hash is not a PHC string this build can read.
    Corrupt(String),
    /// Argon2 refused (an absurd parameter).
    Argon2(String),
}

impl std::fmt::Display for HashError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HashError::Random(e) => write!(f, "no randomness for a salt: {e}"),
            HashError::Corrupt(e) => write!(f, "stored password hash unreadable: {e}"),
            HashError::Argon2(e) => write!(f, "argon2: {e}"),
        }
    }
}

impl std::error::Error for HashError {}

fn argon2() -> Result<Argon2<'static>, HashError> {
    let params = Params::new(19 * 1024, 2, 1, None).map_err(|e| HashError::Argon2(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes `password` with a fresh random salt.
pub fn hash(password: &[u8]) -> Result<String, HashError> {
    let salt_bytes = crate::random::bytes::<16>().map_err(|e| HashError::Random(e.to_string()))?;
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| HashError::Argon2(e.to_string()))?;
    argon2()?
        .hash_password(password, &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError::Argon2(e.to_string()))
}

/// True if `password` matches the stored `hash` (in constant time for the comparison).
pub fn verify(password: &[u8], hash: &str) -> Result<bool, HashError> {
    let parsed = PasswordHash::new(hash).map_err(|e| HashError::Corrupt(e.to_string()))?;
    match argon2()?.verify_password(password, &parsed) {
        Ok(()) => Ok(true),
        Err(argon2::password_hash::Error::Password) => Ok(false),
        Err(e) => Err(HashError::Corrupt(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_accepts_its_password_only() {
        let h = hash(b"correct horse").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify(b"correct horse", &h).unwrap());
        assert!(!verify(b"correct horsf", &h).unwrap());
        assert_ne!(hash(b"correct horse").unwrap(), h, "salted");
        assert!(matches!(verify(b"x", "not a hash"), Err(HashError::Corrupt(_))));
    }
}
