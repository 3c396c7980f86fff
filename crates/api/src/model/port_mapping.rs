//! A container port exposed on the agent (Helios's `PortMapping`).
//!
//! Range and protocol checks are the validator's job ([`crate::validate`]); only the `ip`
//! literal is checked here, because Helios rejects a bad one while reading the JSON.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// The default protocol of a port mapping.
pub const TCP: &str = "tcp";
/// The other protocol a port mapping may use.
pub const UDP: &str = "udp";

/// Maps a port inside the container to one on the agent.
///
/// Always serialized with all four keys (`externalPort` and `ip` may be `null`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", try_from = "RawPortMapping")]
pub struct PortMapping {
    /// Port on the agent; `None` means the agent allocates one dynamically.
    pub external_port: Option<i32>,
    /// Port inside the container. An `i32` so that out-of-range input reaches the validator.
    pub internal_port: i32,
    /// Host IP to bind on; always an IP literal.
    pub ip: Option<String>,
    /// `tcp` (the default) or `udp`.
    pub protocol: String,
}

impl PortMapping {
    /// A TCP mapping with a dynamically allocated external port.
    pub fn of(internal_port: i32) -> PortMapping {
        PortMapping {
            external_port: None,
            internal_port,
            ip: None,
            protocol: TCP.to_string(),
        }
    }

    /// A TCP mapping with a static external port.
    pub fn with_external(internal_port: i32, external_port: i32) -> PortMapping {
        PortMapping {
            external_port: Some(external_port),
            ..PortMapping::of(internal_port)
        }
    }

    /// The same mapping with another external port (used when the agent allocates one).
    pub fn with_external_port(&self, external_port: Option<i32>) -> PortMapping {
        PortMapping {
            external_port,
            ..self.clone()
        }
    }
}

/// The wire form before the `ip` check and the protocol default are applied.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPortMapping {
    #[serde(default)]
    external_port: Option<i32>,
    #[serde(default)]
    internal_port: Option<i32>,
    #[serde(default)]
    ip: Option<String>,
    #[serde(default)]
    protocol: Option<String>,
}

/// The error for an `ip` that is not an IP literal, worded as Helios's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0} is not a valid IP address.")]
pub struct InvalidIpError(pub String);

impl TryFrom<RawPortMapping> for PortMapping {
    type Error = InvalidIpError;

    fn try_from(raw: RawPortMapping) -> Result<PortMapping, InvalidIpError> {
        if let Some(ip) = &raw.ip
            && ip.parse::<IpAddr>().is_err()
        {
            return Err(InvalidIpError(ip.clone()));
        }
        Ok(PortMapping {
            external_port: raw.external_port,
            internal_port: raw.internal_port.unwrap_or(0),
            ip: raw.ip,
            protocol: raw.protocol.unwrap_or_else(|| TCP.to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_all_four_keys() {
        let json = serde_json::to_string(&PortMapping::of(80)).unwrap();
        assert_eq!(
            json,
            r#"{"externalPort":null,"internalPort":80,"ip":null,"protocol":"tcp"}"#
        );
    }

    #[test]
    fn protocol_defaults_to_tcp() {
        let p: PortMapping = serde_json::from_str(r#"{"internalPort":80}"#).unwrap();
        assert_eq!(p, PortMapping::of(80));
        let p: PortMapping =
            serde_json::from_str(r#"{"internalPort":80,"protocol":null,"externalPort":8080}"#)
                .unwrap();
        assert_eq!(p, PortMapping::with_external(80, 8080));
    }

    #[test]
    fn ip_must_be_a_literal() {
        let ok: PortMapping =
            serde_json::from_str(r#"{"internalPort":1,"ip":"127.0.0.1"}"#).unwrap();
        assert_eq!(ok.ip.as_deref(), Some("127.0.0.1"));
        assert!(serde_json::from_str::<PortMapping>(r#"{"internalPort":1,"ip":"::1"}"#).is_ok());
        let err = serde_json::from_str::<PortMapping>(r#"{"internalPort":1,"ip":"localhost"}"#)
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("localhost is not a valid IP address."),
            "{err}"
        );
    }
}
