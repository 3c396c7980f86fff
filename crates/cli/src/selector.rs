//! Host selector expressions, as `helios hosts -s` (and later the
//! deployment-group commands) accept them: `label=value`, `label!=value`,
//! `label in (a, b)` and `label notin (a, b)`.
//!
//! The grammar is Helios's `HostSelector.parse` regex, so the CLI rejects
//! exactly what Helios's CLI rejects, before asking a master. The CLI still
//! sends the expression as the user typed it (`GET /hosts?selector=…`): the
//! master parses and evaluates it. Nothing here matches labels.

use std::fmt;
use std::sync::LazyLock;

use regex::Regex;

/// `^(label)\s*(!=|=|in|notin)\s*(operand)$` with Helios's character classes
/// (Java's `\p{Alnum}` is ASCII-only).
static SELECTOR_PATTERN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^([0-9A-Za-z._-]+)\s*(!=|=|in|notin)\s*([0-9A-Za-z._-]+|\([0-9A-Za-z.\s,_-]*\))$")
        // A literal pattern, compiled by every selector test: it cannot fail at run time.
        .expect("valid selector regex")
});

/// How a selector compares a host's label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    /// `=`
    Equals,
    /// `!=`
    NotEquals,
    /// `in`
    In,
    /// `notin`
    NotIn,
}

/// What a selector compares the label with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operand {
    /// The value of `=` and `!=`.
    Value(String),
    /// The values of `in` and `notin`, duplicates removed, first occurrence
    /// first.
    Values(Vec<String>),
}

/// One parsed selector expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostSelector {
    /// The label's name.
    pub label: String,
    /// The comparison.
    pub operator: Operator,
    /// The value or values.
    pub operand: Operand,
}

/// An expression that is not a selector; the message is Helios's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Bad host selector expression: '{0}'")]
pub struct BadSelector(pub String);

impl HostSelector {
    /// Parses one expression the way Helios does: `in`/`notin` lists lose
    /// their parentheses and spaces and are split on commas.
    pub fn parse(expression: &str) -> Result<HostSelector, BadSelector> {
        let caps = SELECTOR_PATTERN
            .captures(expression)
            .ok_or_else(|| BadSelector(expression.to_string()))?;
        let label = caps[1].to_string();
        let value = &caps[3];
        let (operator, operand) = match &caps[2] {
            "=" => (Operator::Equals, Operand::Value(value.to_string())),
            "!=" => (Operator::NotEquals, Operand::Value(value.to_string())),
            op => {
                let operator = if op == "in" {
                    Operator::In
                } else {
                    Operator::NotIn
                };
                (operator, Operand::Values(split_list(value)))
            }
        };
        Ok(HostSelector {
            label,
            operator,
            operand,
        })
    }
}

/// `(a, b, a)` → `[a, b]`: Java's `replaceAll("\\(|\\)| ", "").split(",")`
/// (trailing empty parts dropped, but `()` is one empty value), deduplicated.
fn split_list(value: &str) -> Vec<String> {
    let stripped: String = value
        .chars()
        .filter(|c| !matches!(c, '(' | ')' | ' '))
        .collect();
    let mut parts: Vec<&str> = stripped.split(',').collect();
    if parts.len() > 1 {
        while parts.last() == Some(&"") {
            parts.pop();
        }
    }
    let mut values: Vec<String> = Vec::new();
    for part in parts {
        if !values.iter().any(|v| v == part) {
            values.push(part.to_string());
        }
    }
    values
}

/// Helios's `toPrettyString`: `label = value`, `label in [a, b]`.
impl fmt::Display for HostSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.operator {
            Operator::Equals => "=",
            Operator::NotEquals => "!=",
            Operator::In => "in",
            Operator::NotIn => "notin",
        };
        match &self.operand {
            Operand::Value(v) => write!(f, "{} {op} {v}", self.label),
            Operand::Values(vs) => write!(f, "{} {op} [{}]", self.label, vs.join(", ")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(expression: &str, expected: &str) {
        let parsed = HostSelector::parse(expression)
            .map(|s| s.to_string())
            .unwrap_or_else(|e| e.to_string());
        assert_eq!(parsed, expected, "{expression:?}");
    }

    #[test]
    fn every_operator() {
        check("site=foo", "site = foo");
        check("site = foo", "site = foo");
        check("bar!=yes", "bar != yes");
        check("role in (web, api)", "role in [web, api]");
        check("role in(web,api,web)", "role in [web, api]");
        check("role notin (a.b, c-d, e_f)", "role notin [a.b, c-d, e_f]");
        check("role in ()", "role in []");
        check("x.y-z_1=v.2", "x.y-z_1 = v.2");
    }

    #[test]
    fn operands_are_kept_as_typed() {
        let s = HostSelector::parse("role in (b, a,)").expect("parses");
        assert_eq!(s.operator, Operator::In);
        assert_eq!(s.operand, Operand::Values(vec!["b".into(), "a".into()]));
        let s = HostSelector::parse("role!=web").expect("parses");
        assert_eq!(
            (s.label.as_str(), s.operator, s.operand),
            ("role", Operator::NotEquals, Operand::Value("web".into()))
        );
    }

    #[test]
    fn bad_expressions() {
        for bad in [
            "",
            "site",
            "site=",
            "=foo",
            "site==foo",
            "site=foo bar",
            "site = (a, b)x",
            "role in a, b",
            "role in (a;b)",
            "lab/el=x",
            "site<foo",
            " site=foo",
        ] {
            assert_eq!(
                HostSelector::parse(bad),
                Err(BadSelector(bad.to_string())),
                "{bad:?}"
            );
        }
        check("x", "Bad host selector expression: 'x'");
    }
}
