//! Client versions against ours (reference §3): the comparison behind the REST version
//! headers and the gRPC `Version` call.

/// This master's version.
pub const SERVER_VERSION: &str = env!("CARGO_PKG_VERSION");

/// How a client's version compares with ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionStatus {
    /// No `Helios-Version` header.
    Missing,
    /// Not `n.n.n`.
    Invalid,
    /// The same version.
    Equal,
    /// Same major, client minor not newer.
    Compatible,
    /// Same major, client minor newer: it may use what we lack.
    Maybe,
    /// Another major version.
    Incompatible,
}

impl VersionStatus {
    /// Helios's word for the status.
    pub fn as_str(self) -> &'static str {
        match self {
            VersionStatus::Missing => "MISSING",
            VersionStatus::Invalid => "INVALID",
            VersionStatus::Equal => "EQUAL",
            VersionStatus::Compatible => "COMPATIBLE",
            VersionStatus::Maybe => "MAYBE",
            VersionStatus::Incompatible => "INCOMPATIBLE",
        }
    }
}

/// Parses `major.minor.patch`, allowing a `-SNAPSHOT`-style suffix on the patch.
pub fn parse_version(v: &str) -> Option<(u64, u64, u64)> {
    let mut parts = v.trim().splitn(3, '.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    let patch_part = parts.next()?;
    let digits: String = patch_part
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    let patch = digits.parse().ok()?;
    Some((major, minor, patch))
}

/// Compares a client's version string with ours.
pub fn check(client: Option<&str>) -> VersionStatus {
    let Some(client) = client else {
        return VersionStatus::Missing;
    };
    let (Some(c), Some(s)) = (parse_version(client), parse_version(SERVER_VERSION)) else {
        return VersionStatus::Invalid;
    };
    if c == s {
        VersionStatus::Equal
    } else if c.0 != s.0 {
        VersionStatus::Incompatible
    } else if c.1 <= s.1 {
        VersionStatus::Compatible
    } else {
        VersionStatus::Maybe
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_rules() {
        let (ma, mi, pa) = parse_version(SERVER_VERSION).unwrap();
        assert_eq!(check(None), VersionStatus::Missing);
        assert_eq!(check(Some("bogus")), VersionStatus::Invalid);
        assert_eq!(check(Some(SERVER_VERSION)), VersionStatus::Equal);
        assert_eq!(
            check(Some(&format!("{ma}.{mi}.{}", pa + 1))),
            VersionStatus::Compatible
        );
        assert_eq!(
            check(Some(&format!("{ma}.{}.0", mi + 1))),
            VersionStatus::Maybe
        );
        assert_eq!(
            check(Some(&format!("{}.0.0", ma + 1))),
            VersionStatus::Incompatible
        );
        assert_eq!(parse_version("0.9.283-SNAPSHOT"), Some((0, 9, 283)));
    }
}
