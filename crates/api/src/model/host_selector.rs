//! Host selectors (`hosts -s`, deployment groups): `label=value`, `label!=value`,
//! `label in (a, b)`, `label notin (a, b)`, matched against a host's labels.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How a selector compares a label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Operator {
    /// `label=value`
    Equals,
    /// `label!=value`
    NotEquals,
    /// `label in (a, b)`
    In,
    /// `label notin (a, b)`
    NotIn,
}

/// One selector. JSON: `{"label":…,"operand":"v"|["a","b"],"operator":…}` (Jackson's
/// alphabetical order).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HostSelector {
    /// The label's name.
    pub label: String,
    /// The value (`=`, `!=`) or values (`in`, `notin`).
    pub operand: Operand,
    /// The comparison.
    pub operator: Operator,
}

/// A selector's value or values.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum Operand {
    /// One value.
    One(String),
    /// Several values.
    Many(Vec<String>),
}

/// A string that is not a host selector.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid host selector: {0}")]
pub struct HostSelectorParseError(pub String);

fn grammar() -> &'static regex::Regex {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        regex::Regex::new(
            r"^([0-9A-Za-z._-]+)\s*(!=|=|notin|in)\s*([0-9A-Za-z._-]+|\([0-9A-Za-z.\s,_-]*\))$",
        )
        .expect("selector grammar compiles")
    })
}

impl FromStr for HostSelector {
    type Err = HostSelectorParseError;

    /// Helios's grammar: `^(LABEL)\s*(!=|=|in|notin)\s*(OPERAND)$`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || HostSelectorParseError(s.to_string());
        let caps = grammar().captures(s.trim()).ok_or_else(err)?;
        let label = caps[1].to_string();
        let raw = caps[3].trim();
        let list = || -> Vec<String> {
            let inner = raw.trim_start_matches('(').trim_end_matches(')');
            let mut items: Vec<String> = inner
                .split(',')
                .map(|i| i.split_whitespace().collect::<String>())
                .filter(|i| !i.is_empty())
                .collect();
            items.sort();
            items.dedup();
            items
        };
        let (operator, operand) = match &caps[2] {
            "=" if !raw.starts_with('(') => (Operator::Equals, Operand::One(raw.to_string())),
            "!=" if !raw.starts_with('(') => (Operator::NotEquals, Operand::One(raw.to_string())),
            "in" if raw.starts_with('(') => (Operator::In, Operand::Many(list())),
            "notin" if raw.starts_with('(') => (Operator::NotIn, Operand::Many(list())),
            _ => return Err(err()),
        };
        Ok(HostSelector {
            label,
            operator,
            operand,
        })
    }
}

impl HostSelector {
    /// Whether a host with these labels is selected. As in Helios, a host must have the
    /// label for any operator to match (`role!=x` does not select hosts without `role`).
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let Some(value) = labels.get(&self.label) else {
            return false;
        };
        let values: Vec<&str> = match &self.operand {
            Operand::One(v) => vec![v.as_str()],
            Operand::Many(vs) => vs.iter().map(String::as_str).collect(),
        };
        let found = values.contains(&value.as_str());
        match self.operator {
            Operator::Equals | Operator::In => found,
            Operator::NotEquals | Operator::NotIn => !found,
        }
    }
}

/// Helios's pretty form: `label = value`, `label != value`, `label in [a, b]`,
/// `label notin [a, b]`.
impl fmt::Display for HostSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let operator = match self.operator {
            Operator::Equals => "=",
            Operator::NotEquals => "!=",
            Operator::In => "in",
            Operator::NotIn => "notin",
        };
        match &self.operand {
            Operand::One(value) => write!(f, "{} {operator} {value}", self.label),
            Operand::Many(values) => {
                write!(f, "{} {operator} [{}]", self.label, values.join(", "))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_and_matches_every_operator() {
        let l = labels(&[("role", "web"), ("dc", "a")]);
        let s: HostSelector = "role=web".parse().unwrap();
        assert!(s.matches(&l));
        assert!(!"role!=web".parse::<HostSelector>().unwrap().matches(&l));
        assert!(!"zone!=x".parse::<HostSelector>().unwrap().matches(&l));
        assert!("dc in(b,a)".parse::<HostSelector>().unwrap().matches(&l));
        assert!("dc in (a, b)".parse::<HostSelector>().unwrap().matches(&l));
        assert!(
            !"dc notin (a,b)"
                .parse::<HostSelector>()
                .unwrap()
                .matches(&l)
        );
        assert!(
            !"zone notin (a)"
                .parse::<HostSelector>()
                .unwrap()
                .matches(&l)
        );
        assert!(!"zone in (a)".parse::<HostSelector>().unwrap().matches(&l));
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "role",
            "=web",
            "role=",
            "dc in a, b",
            "bad label=x",
            "a=(b)",
        ] {
            assert!(bad.parse::<HostSelector>().is_err(), "{bad}");
        }
    }

    #[test]
    fn json_shape() {
        let s: HostSelector = "dc in (a, b)".parse().unwrap();
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            r#"{"label":"dc","operand":["a","b"],"operator":"IN"}"#
        );
    }

    #[test]
    fn pretty_forms_are_helios_s() {
        let pretty = |raw: &str| raw.parse::<HostSelector>().unwrap().to_string();
        assert_eq!(pretty("role=web"), "role = web");
        assert_eq!(pretty("role!=web"), "role != web");
        assert_eq!(pretty("dc in (b, a)"), "dc in [a, b]");
        assert_eq!(pretty("dc notin (a, b)"), "dc notin [a, b]");
    }
}
