//! The job identifier `name:version:hash`, parsed and printed exactly as Helios's `JobId`.
//!
//! This module only knows the string form; computing the hash of a job lives in
//! [`crate::hash`], and checking the name/version character set lives in [`crate::validate`].

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Length of a fully-qualified hash: a lowercase hex SHA-1.
pub const HASH_LENGTH: usize = 40;

/// Number of hash characters kept by [`JobId::to_short_string`].
const SHORT_HASH_LENGTH: usize = 7;

/// Identifies a job: `name:version:hash`.
///
/// Ordering is by name, then version, then hash, with absent values first, as in Helios.
/// The JSON form is the [`Display`](fmt::Display) string; JSON input must have 2 or 3 parts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId {
    /// The job name; never contains `:` when parsed.
    pub name: String,
    /// The job version; absent only for a name-only id given to [`FromStr`].
    pub version: Option<String>,
    /// The hash; absent for a job the master has not hashed yet.
    pub hash: Option<String>,
}

/// The error for a string that is not a job id, worded as Helios's `JobIdParseException`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid Job id: {0}")]
pub struct JobIdParseError(pub String);

impl JobId {
    /// An id with a name and version and no hash (the form clients send).
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> JobId {
        JobId {
            name: name.into(),
            version: Some(version.into()),
            hash: None,
        }
    }

    /// An id with all three parts.
    pub fn full(
        name: impl Into<String>,
        version: impl Into<String>,
        hash: impl Into<String>,
    ) -> JobId {
        JobId {
            name: name.into(),
            version: Some(version.into()),
            hash: Some(hash.into()),
        }
    }

    /// True when version and hash are present and the hash is 40 characters long;
    /// most REST endpoints reject ids that are not.
    pub fn is_fully_qualified(&self) -> bool {
        self.version.is_some()
            && self
                .hash
                .as_deref()
                .is_some_and(|h| h.chars().count() == HASH_LENGTH)
    }

    /// `name:version:<first 7 hash chars>`, or `name:version` without a hash.
    pub fn to_short_string(&self) -> String {
        match &self.hash {
            None => format!("{}:{}", self.name, self.version_str()),
            Some(hash) => {
                let short: String = hash.chars().take(SHORT_HASH_LENGTH).collect();
                format!("{}:{}:{}", self.name, self.version_str(), short)
            }
        }
    }

    /// The version, or `null` as Java's string concatenation prints a missing one.
    fn version_str(&self) -> &str {
        self.version.as_deref().unwrap_or("null")
    }

    /// Parses the JSON form, which Helios accepts only with 2 or 3 parts.
    pub fn parse_json_form(s: &str) -> Result<JobId, JobIdParseError> {
        let parts = java_split(s, ':');
        match parts.as_slice() {
            [name, version] => Ok(JobId::new(*name, *version)),
            [name, version, hash] => Ok(JobId::full(*name, *version, *hash)),
            _ => Err(JobIdParseError(s.to_string())),
        }
    }
}

/// Splits like Java's `String.split(sep)`: trailing empty parts are dropped, and a string
/// with no separator at all (even an empty one) is a single part.
pub(crate) fn java_split(s: &str, sep: char) -> Vec<&str> {
    if !s.contains(sep) {
        return vec![s];
    }
    let mut parts: Vec<&str> = s.split(sep).collect();
    while parts.last().is_some_and(|p| p.is_empty()) {
        parts.pop();
    }
    parts
}

impl FromStr for JobId {
    type Err = JobIdParseError;

    /// Helios's `JobId.parse`: 1 part is a name only, 2 parts name and version, 3 parts
    /// name, version and hash; anything else (or an empty name alone) is an error.
    fn from_str(s: &str) -> Result<JobId, JobIdParseError> {
        let parts = java_split(s, ':');
        match parts.as_slice() {
            [name] if !name.is_empty() => Ok(JobId {
                name: name.to_string(),
                version: None,
                hash: None,
            }),
            [name, version] => Ok(JobId::new(*name, *version)),
            [name, version, hash] => Ok(JobId::full(*name, *version, *hash)),
            _ => Err(JobIdParseError(s.to_string())),
        }
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.hash {
            None => write!(f, "{}:{}", self.name, self.version_str()),
            Some(hash) => write!(f, "{}:{}:{}", self.name, self.version_str(), hash),
        }
    }
}

impl Serialize for JobId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for JobId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<JobId, D::Error> {
        struct JobIdVisitor;

        impl Visitor<'_> for JobIdVisitor {
            type Value = JobId;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a job id string name:version[:hash]")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<JobId, E> {
                JobId::parse_json_form(v).map_err(E::custom)
            }
        }

        deserializer.deserialize_str(JobIdVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "3f5c6e4aef30e1ab68931dbd66a83226410b87e9";

    #[test]
    fn parse_one_two_three_parts() {
        let one: JobId = "foo".parse().unwrap();
        assert_eq!(one.version, None);
        assert_eq!(one.to_string(), "foo:null");

        let two: JobId = "foo:bar".parse().unwrap();
        assert_eq!(two, JobId::new("foo", "bar"));
        assert_eq!(two.to_string(), "foo:bar");

        let three: JobId = format!("foo:bar:{HASH}").parse().unwrap();
        assert_eq!(three, JobId::full("foo", "bar", HASH));
        assert_eq!(three.to_string(), format!("foo:bar:{HASH}"));
    }

    #[test]
    fn parse_errors_use_helios_wording() {
        for bad in ["a:b:c:d", "", ":", "::"] {
            let err = bad.parse::<JobId>().unwrap_err();
            assert_eq!(err.to_string(), format!("Invalid Job id: {bad}"));
        }
    }

    #[test]
    fn trailing_separators_are_dropped_like_java() {
        assert_eq!(
            "foo:bar:".parse::<JobId>().unwrap(),
            JobId::new("foo", "bar")
        );
        assert_eq!(":bar".parse::<JobId>().unwrap(), JobId::new("", "bar"));
    }

    #[test]
    fn fully_qualified_needs_forty_char_hash() {
        assert!(JobId::full("a", "b", HASH).is_fully_qualified());
        assert!(!JobId::full("a", "b", "abc").is_fully_qualified());
        assert!(!JobId::new("a", "b").is_fully_qualified());
    }

    #[test]
    fn short_string_keeps_seven_hash_chars() {
        assert_eq!(JobId::full("a", "b", HASH).to_short_string(), "a:b:3f5c6e4");
        assert_eq!(JobId::new("a", "b").to_short_string(), "a:b");
    }

    #[test]
    fn json_accepts_only_two_or_three_parts() {
        let id: JobId = serde_json::from_str("\"foo:bar\"").unwrap();
        assert_eq!(id, JobId::new("foo", "bar"));
        let err = serde_json::from_str::<JobId>("\"foo\"").unwrap_err();
        assert!(err.to_string().contains("Invalid Job id: foo"), "{err}");
        assert!(serde_json::from_str::<JobId>("\"a:b:c:d\"").is_err());
        let json = serde_json::to_string(&JobId::full("foo", "bar", HASH)).unwrap();
        assert_eq!(json, format!("\"foo:bar:{HASH}\""));
    }

    #[test]
    fn usable_as_json_map_key() {
        let mut map = std::collections::BTreeMap::new();
        map.insert(JobId::full("foo", "bar", HASH), 1);
        let json = serde_json::to_string(&map).unwrap();
        assert_eq!(json, format!("{{\"foo:bar:{HASH}\":1}}"));
        let back: std::collections::BTreeMap<JobId, i32> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, map);
    }

    #[test]
    fn ordering_is_name_version_hash_with_missing_first() {
        let mut ids = [
            JobId::full("b", "1", "x"),
            JobId::full("a", "2", "x"),
            JobId::full("a", "1", "y"),
            JobId::new("a", "1"),
        ];
        ids.sort();
        let printed: Vec<String> = ids.iter().map(ToString::to_string).collect();
        assert_eq!(printed, ["a:1", "a:1:y", "a:2:x", "b:1:x"]);
    }
}
