//! Join tokens: `HLJT-1-<role>-<CA fingerprint>-<secret>`.
//!
//! The fingerprint (SHA-256 of the CA certificate, 64 hex digits) lets the joiner trust the
//! cluster before it has a certificate (its first connection is pinned to it); the secret (32
//! hex digits, one per role, replicated, replaced by a rotation) is what the masters check.

use crate::PkiError;
use crate::identity::Role;

const PREFIX: &str = "HLJT-1-";

/// A parsed join token.
#[derive(Clone, PartialEq, Eq)]
pub struct JoinToken {
    /// The role it joins as.
    pub role: Role,
    /// The CA's fingerprint.
    pub ca_fingerprint: String,
    /// The role's current secret.
    pub secret: String,
}

impl std::fmt::Debug for JoinToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinToken")
            .field("role", &self.role)
            .field("ca_fingerprint", &self.ca_fingerprint)
            .field("secret", &"<secret>")
            .finish()
    }
}

impl JoinToken {
    /// A fresh secret for a role's tokens.
    pub fn new_secret() -> String {
        crate::authority::hex(&rand::random::<[u8; 16]>())
    }
}

impl std::fmt::Display for JoinToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{PREFIX}{}-{}-{}",
            self.role, self.ca_fingerprint, self.secret
        )
    }
}

impl std::str::FromStr for JoinToken {
    type Err = PkiError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad =
            |why: &str| PkiError::Token(format!("{why} (expected HLJT-1-ROLE-FINGERPRINT-SECRET)"));
        let rest = s
            .trim()
            .strip_prefix(PREFIX)
            .ok_or_else(|| bad("no HLJT-1- prefix"))?;
        let mut parts = rest.split('-');
        let (Some(role), Some(fingerprint), Some(secret), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("not four parts"));
        };
        let role: Role = role.parse().map_err(|e: String| bad(&e))?;
        let is_hex = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit());
        if !is_hex(fingerprint, 64) {
            return Err(bad("the fingerprint is not 64 hex digits"));
        }
        if !is_hex(secret, 32) {
            return Err(bad("the secret is not 32 hex digits"));
        }
        Ok(JoinToken {
            role,
            ca_fingerprint: fingerprint.to_ascii_lowercase(),
            secret: secret.to_ascii_lowercase(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_bad_ones_say_why() {
        let t = JoinToken {
            role: Role::Agent,
            ca_fingerprint: "a".repeat(64),
            secret: JoinToken::new_secret(),
        };
        let text = t.to_string();
        assert!(text.starts_with("HLJT-1-agent-"), "{text}");
        assert_eq!(text.parse::<JoinToken>().unwrap(), t);
        assert!(!format!("{t:?}").contains(&t.secret));
        for (bad, why) in [
            ("SWMTKN-1-x", "prefix"),
            ("HLJT-1-agent-abc", "four parts"),
            (
                &format!("HLJT-1-root-{}-{}", "a".repeat(64), "b".repeat(32)),
                "unknown role",
            ),
            (
                &format!("HLJT-1-agent-{}-{}", "a".repeat(63), "b".repeat(32)),
                "fingerprint",
            ),
            (
                &format!("HLJT-1-agent-{}-{}", "a".repeat(64), "z".repeat(32)),
                "secret",
            ),
        ] {
            let e = bad.parse::<JoinToken>().unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
