//! Secrets: random values, all from the operating system's source — the keys that must not be
//! guessed (conversation ids, session and CSRF tokens, API keys the demo makes) and ids of records
//! and errors — and the one comparison of a secret a client sent with the one clerk holds
//! ([`same`]), in constant time.

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

/// The symbols of [`code`]: digits and capital letters without I, L, O and U (Crockford's base
/// 32), so that a code read aloud or typed from a screen is not mistaken.
pub const CODE_SYMBOLS: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// `length` random symbols of [`CODE_SYMBOLS`] (5 bits each) from the OS: a code for people to
/// type.
pub fn code(length: usize) -> String {
    let mut buffer = vec![0u8; length];
    OsRng.fill_bytes(&mut buffer);
    // 256 is a multiple of 32: every symbol is as likely.
    buffer
        .iter()
        .map(|b| char::from(CODE_SYMBOLS[usize::from(b % 32)]))
        .collect()
}

/// A random positive 63-bit number from the OS.
pub fn positive_i64() -> i64 {
    (OsRng.next_u64() >> 1) as i64
}

/// Whether two secrets are the same, compared without returning early (a session's CSRF token,
/// Telegram's webhook secret).
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
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
        let code = super::code(8);
        assert_eq!(code.len(), 8);
        assert!(code.bytes().all(|b| super::CODE_SYMBOLS.contains(&b)));
        assert_ne!(super::code(8), super::code(8));
    }

    #[test]
    fn secrets_are_the_same_only_when_every_byte_is() {
        assert!(super::same("abc", "abc"));
        assert!(!super::same("abc", "abd") && !super::same("ab", "abc") && !super::same("", "a"));
    }
}
