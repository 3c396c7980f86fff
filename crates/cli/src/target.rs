//! Which masters a command talks to.
//!
//! A [`Target`] is one Helios cluster: a name (what messages print) and the
//! endpoints of its masters. Any master of a cluster can answer any request
//! (followers forward to the leader), so the client may pick any endpoint of a
//! target; commands run once per target.
//!
//! Helios's precedence is: (1) `-z` endpoints, (2) `-d` domains, (3) the config
//! file's / `HELIOS_MASTER`'s endpoints, (4) their domains. Only (1) exists so
//! far; [`MasterSources`] is the place where the others plug in, and
//! [`resolve_targets`] applies the precedence. This module does no network I/O.

use reqwest::Url;

/// The argparse-style message printed when no master is configured.
pub const NO_MASTERS_MESSAGE: &str = "no masters specified.  Use the -z or -d option to specify which helios cluster/master to connect to";

/// One cluster and the endpoints of its masters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// How messages name the cluster (`Request timed out to master in <name>`).
    pub name: String,
    /// Base URLs of the cluster's masters; never empty.
    pub endpoints: Vec<Url>,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}

/// Everything the user may have told us about where the masters are.
#[derive(Debug, Clone, Default)]
pub struct MasterSources {
    /// `-z/--master` values, in command-line order.
    pub explicit_endpoints: Vec<String>,
}

/// Why no target could be built.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TargetError {
    /// Nothing configured: the caller prints the argparse-style error.
    #[error("{NO_MASTERS_MESSAGE}")]
    NoMasters,
    /// An endpoint that is not an http:// URL.
    #[error("Invalid master endpoint: {0}")]
    InvalidEndpoint(String),
    /// An https:// endpoint: this build has no TLS support.
    #[error("Unsupported master endpoint {0}: only http:// endpoints are supported")]
    UnsupportedScheme(String),
}

/// Applies Helios's precedence to the configured sources.
///
/// All `-z` endpoints are one cluster: they become a single [`Target`] whose
/// endpoints the client rotates through.
pub fn resolve_targets(sources: &MasterSources) -> Result<Vec<Target>, TargetError> {
    if !sources.explicit_endpoints.is_empty() {
        let endpoints = sources
            .explicit_endpoints
            .iter()
            .map(|s| parse_endpoint(s))
            .collect::<Result<Vec<_>, _>>()?;
        let name = sources.explicit_endpoints.join(",");
        return Ok(vec![Target { name, endpoints }]);
    }
    Err(TargetError::NoMasters)
}

/// Parses one master endpoint. A bare `host:port` is taken as `http://host:port`.
pub fn parse_endpoint(raw: &str) -> Result<Url, TargetError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(TargetError::InvalidEndpoint(raw.to_string()));
    }
    let candidate = if trimmed.contains("://") {
        trimmed.to_string()
    } else {
        format!("http://{trimmed}")
    };
    let url = Url::parse(&candidate).map_err(|_| TargetError::InvalidEndpoint(raw.to_string()))?;
    match url.scheme() {
        "http" if url.host().is_some() => Ok(url),
        "https" => Err(TargetError::UnsupportedScheme(raw.to_string())),
        _ => Err(TargetError::InvalidEndpoint(raw.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(endpoints: &[&str]) -> MasterSources {
        MasterSources {
            explicit_endpoints: endpoints.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn nothing_configured_is_the_argparse_error() {
        let err = resolve_targets(&MasterSources::default()).unwrap_err();
        assert_eq!(err, TargetError::NoMasters);
        assert_eq!(
            err.to_string(),
            "no masters specified.  Use the -z or -d option to specify which helios cluster/master to connect to"
        );
    }

    #[test]
    fn several_endpoints_are_one_cluster() {
        let targets =
            resolve_targets(&sources(&["http://a:5801", "http://b:5801/"])).expect("targets");
        assert_eq!(targets.len(), 1);
        assert_eq!(targets[0].name, "http://a:5801,http://b:5801/");
        assert_eq!(targets[0].endpoints.len(), 2);
        assert_eq!(targets[0].endpoints[0].as_str(), "http://a:5801/");
    }

    #[test]
    fn single_endpoint_keeps_its_spelling_as_name() {
        let targets = resolve_targets(&sources(&["http://localhost:5801"])).expect("targets");
        assert_eq!(targets[0].to_string(), "http://localhost:5801");
    }

    #[test]
    fn bare_host_port_means_http() {
        let url = parse_endpoint("localhost:5801").expect("url");
        assert_eq!(url.as_str(), "http://localhost:5801/");
    }

    #[test]
    fn bad_endpoints_are_rejected() {
        assert_eq!(
            parse_endpoint("ftp://x").unwrap_err(),
            TargetError::InvalidEndpoint("ftp://x".into())
        );
        assert_eq!(
            parse_endpoint("https://x").unwrap_err(),
            TargetError::UnsupportedScheme("https://x".into())
        );
        assert!(parse_endpoint("").is_err());
        assert!(parse_endpoint("http://").is_err());
    }
}
