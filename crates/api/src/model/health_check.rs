//! A job's health check, polymorphic on `type` (`http`, `tcp`, `exec`) as in Helios.
//!
//! Fields read as empty when missing so the validator can report them with Helios's
//! messages instead of failing to parse.

use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The `type` of an HTTP health check.
pub const HTTP: &str = "http";
/// The `type` of a TCP health check.
pub const TCP: &str = "tcp";
/// The `type` of a `docker exec` health check.
pub const EXEC: &str = "exec";

/// How the agent decides that a started container is healthy.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HealthCheck {
    /// `GET http://<container>:<port><path>` must answer 2xx/3xx.
    Http {
        /// Absolute URL path, such as `/healthcheck`.
        path: String,
        /// Name of a port in the job's `ports`.
        port: String,
    },
    /// A TCP connection to the port must succeed.
    Tcp {
        /// Name of a port in the job's `ports`.
        port: String,
    },
    /// `docker exec <command>` must exit 0.
    Exec {
        /// The command and its arguments.
        command: Vec<String>,
    },
}

impl HealthCheck {
    /// The JSON `type` tag.
    pub fn kind(&self) -> &'static str {
        match self {
            HealthCheck::Http { .. } => HTTP,
            HealthCheck::Tcp { .. } => TCP,
            HealthCheck::Exec { .. } => EXEC,
        }
    }

    /// The named port an HTTP or TCP check probes.
    pub fn port(&self) -> Option<&str> {
        match self {
            HealthCheck::Http { port, .. } | HealthCheck::Tcp { port } => Some(port),
            HealthCheck::Exec { .. } => None,
        }
    }
}

impl Serialize for HealthCheck {
    /// Keys in Jackson's alphabetical order, `type` included.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            HealthCheck::Http { path, port } => {
                let mut map = serializer.serialize_map(Some(3))?;
                map.serialize_entry("path", path)?;
                map.serialize_entry("port", port)?;
                map.serialize_entry("type", HTTP)?;
                map.end()
            }
            HealthCheck::Tcp { port } => {
                let mut map = serializer.serialize_map(Some(2))?;
                map.serialize_entry("port", port)?;
                map.serialize_entry("type", TCP)?;
                map.end()
            }
            HealthCheck::Exec { command } => {
                let mut map = serializer.serialize_map(Some(2))?;
                map.serialize_entry("command", command)?;
                map.serialize_entry("type", EXEC)?;
                map.end()
            }
        }
    }
}

/// Every field any variant may carry; unknown keys are ignored.
#[derive(Deserialize)]
struct RawHealthCheck {
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    port: Option<String>,
    #[serde(default)]
    command: Option<Vec<String>>,
}

impl<'de> Deserialize<'de> for HealthCheck {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<HealthCheck, D::Error> {
        let raw = RawHealthCheck::deserialize(deserializer)?;
        match raw.kind.as_deref() {
            Some(HTTP) => Ok(HealthCheck::Http {
                path: raw.path.unwrap_or_default(),
                port: raw.port.unwrap_or_default(),
            }),
            Some(TCP) => Ok(HealthCheck::Tcp {
                port: raw.port.unwrap_or_default(),
            }),
            Some(EXEC) => Ok(HealthCheck::Exec {
                command: raw.command.unwrap_or_default(),
            }),
            Some(other) => Err(serde::de::Error::custom(format!(
                "unknown health check type '{other}' (expected http, tcp or exec)"
            ))),
            None => Err(serde::de::Error::custom(
                "health check has no 'type' (expected http, tcp or exec)",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_each_variant() {
        for json in [
            r#"{"path":"/hello","port":"p","type":"http"}"#,
            r#"{"port":"p","type":"tcp"}"#,
            r#"{"command":["true"],"type":"exec"}"#,
        ] {
            let hc: HealthCheck = serde_json::from_str(json).unwrap();
            assert_eq!(serde_json::to_string(&hc).unwrap(), json);
        }
    }

    #[test]
    fn missing_fields_read_as_empty_and_unknown_type_fails() {
        let hc: HealthCheck = serde_json::from_str(r#"{"type":"tcp","extra":1}"#).unwrap();
        assert_eq!(
            hc,
            HealthCheck::Tcp {
                port: String::new()
            }
        );
        assert!(serde_json::from_str::<HealthCheck>(r#"{"type":"udp"}"#).is_err());
        assert!(serde_json::from_str::<HealthCheck>(r#"{"port":"p"}"#).is_err());
    }
}
