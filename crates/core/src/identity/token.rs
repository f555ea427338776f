//! Signed identity from the store's site: a JSON Web Token signed with HMAC-SHA256 (`HS256`)
//! under a secret the store's backend shares with clerk. Its claims: `sub`, the customer's user
//! id; `exp`, when it expires (Unix seconds, at most [`MAX_LIFETIME`] ahead); `jti`, an id unique
//! to the token (it starts one conversation; a replay is refused). `nbf` and `iat` are honoured
//! when present. Any JWT library makes one; [`sign`] is the same in Rust.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};

/// How far ahead a token may expire: a token is made for one page, not kept.
pub const MAX_LIFETIME_SECONDS: i64 = 3600;
/// The clock difference tolerated between the store's servers and clerk's, seconds.
pub const LEEWAY_SECONDS: i64 = 60;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// Why a token is refused. The shopper's page is told only that it is not valid; the reason goes
/// to the merchant's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not three base64url parts of JSON, or a claim missing or of the wrong type.
    #[error("not a JWT with the claims sub, exp and jti")]
    Malformed,
    /// Signed with another algorithm than HS256 (`none` included).
    #[error("not signed with HS256")]
    Algorithm,
    /// The signature does not match the secret.
    #[error("the signature does not match")]
    Signature,
    /// `exp` has passed.
    #[error("expired")]
    Expired,
    /// `nbf` has not come yet.
    #[error("not valid yet")]
    NotYetValid,
    /// `exp` is further ahead than [`MAX_LIFETIME_SECONDS`].
    #[error("expires more than {MAX_LIFETIME_SECONDS} seconds ahead")]
    TooLongLived,
}

/// What a valid token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The customer's user id.
    pub sub: String,
    /// When it expires, Unix seconds.
    pub exp: i64,
    /// The token's own id.
    pub jti: String,
    /// When it starts to be valid, Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// When it was made, Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
}

fn mac(secret: &[u8]) -> HmacSha256 {
    // HMAC takes a key of any length.
    <HmacSha256 as KeyInit>::new_from_slice(secret).expect("HMAC accepts any key length")
}

/// Signs `claims` with `secret`: what the store's backend does (in any language) for its
/// logged-in customer.
pub fn sign(claims: &Claims, secret: &[u8]) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
    let signing_input = format!("{header}.{payload}");
    let mut mac = mac(secret);
    mac.update(signing_input.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{signing_input}.{signature}")
}

/// Checks a token's form, algorithm, signature (in constant time) and times at `now` (Unix
/// seconds); its claims when all hold. Whether it was used before is the caller's to check.
pub fn verify(token: &str, secret: &[u8], now: i64) -> Result<Claims, TokenError> {
    let mut parts = token.trim().split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    let decode = |part: &str| {
        URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| TokenError::Malformed)
    };
    let parsed: Header =
        serde_json::from_slice(&decode(header)?).map_err(|_| TokenError::Malformed)?;
    if parsed.alg != "HS256" {
        return Err(TokenError::Algorithm);
    }
    let mut mac = mac(secret);
    mac.update(header.as_bytes());
    mac.update(b".");
    mac.update(payload.as_bytes());
    mac.verify_slice(&decode(signature)?)
        .map_err(|_| TokenError::Signature)?;
    let claims: Claims =
        serde_json::from_slice(&decode(payload)?).map_err(|_| TokenError::Malformed)?;
    if claims.sub.trim().is_empty() || claims.jti.is_empty() || claims.jti.len() > 200 {
        return Err(TokenError::Malformed);
    }
    // Saturating: the claims are numbers of any size the signer chose.
    if claims.exp.saturating_add(LEEWAY_SECONDS) <= now {
        return Err(TokenError::Expired);
    }
    if claims
        .nbf
        .is_some_and(|nbf| nbf > now.saturating_add(LEEWAY_SECONDS))
    {
        return Err(TokenError::NotYetValid);
    }
    if claims.exp > now.saturating_add(MAX_LIFETIME_SECONDS + LEEWAY_SECONDS) {
        return Err(TokenError::TooLongLived);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"the store's shared secret";
    const NOW: i64 = 1_800_000_000;

    fn claims() -> Claims {
        Claims {
            sub: "yusuf_rossi_9620".into(),
            exp: NOW + 300,
            jti: "page-1".into(),
            nbf: None,
            iat: Some(NOW),
        }
    }

    #[test]
    fn a_signed_token_gives_back_its_claims() {
        let token = sign(&claims(), SECRET);
        assert_eq!(verify(&token, SECRET, NOW), Ok(claims()));
    }

    /// A token made outside clerk verifies: this one was made by Python's standard library
    /// (`hmac`, `hashlib`, `base64`, `json` with compact separators), as a store's backend
    /// without a JWT library would, for {"sub": "u1", "exp": 1800000300, "jti": "j1"} under
    /// the secret "secret".
    #[test]
    fn a_token_made_elsewhere_verifies() {
        let token = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.\
                     eyJzdWIiOiJ1MSIsImV4cCI6MTgwMDAwMDMwMCwianRpIjoiajEifQ.\
                     WbC2v-tgMmyZhUfeiMlRPQ1_F6-tuBuw4tBlGpnWssQ";
        let claims = verify(token, b"secret", NOW).unwrap();
        assert_eq!((claims.sub.as_str(), claims.jti.as_str()), ("u1", "j1"));
    }

    #[test]
    fn a_wrong_secret_an_edited_payload_or_another_algorithm_is_refused() {
        let token = sign(&claims(), SECRET);
        assert_eq!(verify(&token, b"guess", NOW), Err(TokenError::Signature));
        let mut other = claims();
        other.sub = "someone_else".into();
        let forged_payload = sign(&other, b"guess");
        let parts: Vec<&str> = token.split('.').collect();
        let forged: Vec<&str> = forged_payload.split('.').collect();
        let edited = format!("{}.{}.{}", parts[0], forged[1], parts[2]);
        assert_eq!(verify(&edited, SECRET, NOW), Err(TokenError::Signature));
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#),
            parts[1]
        );
        assert_eq!(verify(&none, SECRET, NOW), Err(TokenError::Algorithm));
        assert_eq!(verify("a.b", SECRET, NOW), Err(TokenError::Malformed));
        assert_eq!(verify("", SECRET, NOW), Err(TokenError::Malformed));
    }

    #[test]
    fn times_are_checked_with_a_little_leeway() {
        let token = sign(&claims(), SECRET);
        assert!(verify(&token, SECRET, NOW + 300 + LEEWAY_SECONDS - 1).is_ok());
        assert_eq!(
            verify(&token, SECRET, NOW + 300 + LEEWAY_SECONDS),
            Err(TokenError::Expired)
        );
        let mut later = claims();
        later.nbf = Some(NOW + 600);
        later.exp = NOW + 900;
        assert_eq!(
            verify(&sign(&later, SECRET), SECRET, NOW),
            Err(TokenError::NotYetValid)
        );
        let mut kept = claims();
        kept.exp = NOW + 30 * 86_400;
        assert_eq!(
            verify(&sign(&kept, SECRET), SECRET, NOW),
            Err(TokenError::TooLongLived)
        );
        // Extreme numbers are refused, not overflowed.
        kept.exp = i64::MAX;
        assert_eq!(
            verify(&sign(&kept, SECRET), SECRET, NOW),
            Err(TokenError::TooLongLived)
        );
        kept.exp = i64::MIN;
        assert_eq!(
            verify(&sign(&kept, SECRET), SECRET, NOW),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn claims_must_name_a_customer_and_the_token() {
        let mut nobody = claims();
        nobody.sub = " ".into();
        assert_eq!(
            verify(&sign(&nobody, SECRET), SECRET, NOW),
            Err(TokenError::Malformed)
        );
        let payload = URL_SAFE_NO_PAD.encode(br#"{"sub":"u1","exp":1800000300}"#);
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256"}"#);
        let mut m = mac(SECRET);
        m.update(format!("{header}.{payload}").as_bytes());
        let token = format!(
            "{header}.{payload}.{}",
            URL_SAFE_NO_PAD.encode(m.finalize().into_bytes())
        );
        assert_eq!(verify(&token, SECRET, NOW), Err(TokenError::Malformed));
    }
}
