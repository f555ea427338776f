//! Random values, all from the operating system's source: the keys that must not be guessed
//! (conversation ids, session and CSRF tokens, API keys the demo makes) and ids of records and
//! errors.

use argon2::password_hash::rand_core::{OsRng, RngCore};

/// `bytes` random bytes from the OS, as lowercase hex (twice as many characters).
pub fn hex(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    OsRng.fill_bytes(&mut buffer);
    buffer.iter().map(|b| format!("{b:02x}")).collect()
}

/// 32 random bytes from the OS, as hex: a secret token.
pub fn token() -> String {
    hex(32)
}

/// A random positive 63-bit number from the OS.
pub fn positive_i64() -> i64 {
    (OsRng.next_u64() >> 1) as i64
}

#[cfg(test)]
mod tests {
    #[test]
    fn values_are_random_and_of_their_length() {
        assert_eq!(super::token().len(), 64);
        assert_ne!(super::token(), super::token());
        assert_eq!(super::hex(8).len(), 16);
        assert!(super::positive_i64() >= 0);
        assert_ne!(super::positive_i64(), super::positive_i64());
    }
}
