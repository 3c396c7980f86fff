//! Service-discovery registration: the `"name/protocol"` endpoint key and its port list.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::iter;
use std::str::FromStr;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The protocol of an endpoint parsed from a string without `/`.
pub const DEFAULT_PROTOCOL: &str = "http";

/// A registered service, written `name/protocol` (the key of a job's `registration` map).
///
/// Equality, ordering and hashing follow the string form, as Helios compares by `toString`.
#[derive(Debug, Clone)]
pub struct ServiceEndpoint {
    /// The service name.
    pub name: String,
    /// The protocol, `http` when the string had none.
    pub protocol: String,
}

impl ServiceEndpoint {
    /// An endpoint from its two parts.
    pub fn new(name: impl Into<String>, protocol: impl Into<String>) -> ServiceEndpoint {
        ServiceEndpoint {
            name: name.into(),
            protocol: protocol.into(),
        }
    }

    /// The bytes of the string form, without allocating.
    fn key_bytes(&self) -> impl Iterator<Item = u8> + '_ {
        self.name
            .bytes()
            .chain(iter::once(b'/'))
            .chain(self.protocol.bytes())
    }
}

impl From<&str> for ServiceEndpoint {
    /// Splits at the first `/`; without one the protocol is `http`.
    fn from(s: &str) -> ServiceEndpoint {
        match s.split_once('/') {
            Some((name, protocol)) => ServiceEndpoint::new(name, protocol),
            None => ServiceEndpoint::new(s, DEFAULT_PROTOCOL),
        }
    }
}

impl FromStr for ServiceEndpoint {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<ServiceEndpoint, Self::Err> {
        Ok(ServiceEndpoint::from(s))
    }
}

impl fmt::Display for ServiceEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.name, self.protocol)
    }
}

impl PartialEq for ServiceEndpoint {
    fn eq(&self, other: &Self) -> bool {
        self.key_bytes().eq(other.key_bytes())
    }
}

impl Eq for ServiceEndpoint {}

impl PartialOrd for ServiceEndpoint {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ServiceEndpoint {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key_bytes().cmp(other.key_bytes())
    }
}

impl Hash for ServiceEndpoint {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for b in self.key_bytes() {
            state.write_u8(b);
        }
    }
}

impl Serialize for ServiceEndpoint {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ServiceEndpoint {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<ServiceEndpoint, D::Error> {
        struct EndpointVisitor;

        impl Visitor<'_> for EndpointVisitor {
            type Value = ServiceEndpoint;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a service endpoint string name/protocol")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<ServiceEndpoint, E> {
                Ok(ServiceEndpoint::from(v))
            }
        }

        deserializer.deserialize_str(EndpointVisitor)
    }
}

/// Per-port registration options; Helios keeps only optional `tags`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServicePortParameters {
    /// Tags for the registration; omitted from JSON when absent (Helios's `NON_NULL`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
}

/// The ports registered for one service endpoint: `{"ports": {"<portName>": {…}}}`.
///
/// `ports` is `None` for a malformed entry (no `ports` key, or a `null` value), which the
/// validator reports as `registration for '<svc>' is malformed: …`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(from = "Option<RawServicePorts>")]
pub struct ServicePorts {
    /// Port names (keys of the job's `ports`) to register, with their options.
    pub ports: Option<BTreeMap<String, ServicePortParameters>>,
}

impl ServicePorts {
    /// Registers the given port names with no options.
    pub fn of<I, S>(port_names: I) -> ServicePorts
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ServicePorts {
            ports: Some(
                port_names
                    .into_iter()
                    .map(|n| (n.into(), ServicePortParameters::default()))
                    .collect(),
            ),
        }
    }

    /// The registered port names (none for a malformed entry).
    pub fn port_names(&self) -> impl Iterator<Item = &str> {
        self.ports.iter().flat_map(|p| p.keys().map(String::as_str))
    }
}

/// The wire form of [`ServicePorts`]; a `null` entry reads as a malformed one.
#[derive(Deserialize)]
struct RawServicePorts {
    #[serde(default)]
    ports: Option<BTreeMap<String, ServicePortParameters>>,
}

impl From<Option<RawServicePorts>> for ServicePorts {
    fn from(raw: Option<RawServicePorts>) -> ServicePorts {
        ServicePorts {
            ports: raw.and_then(|r| r.ports),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_defaults_to_http() {
        assert_eq!(
            ServiceEndpoint::from("svc"),
            ServiceEndpoint::new("svc", "http")
        );
        assert_eq!(ServiceEndpoint::from("svc/tcp").to_string(), "svc/tcp");
        assert_eq!(ServiceEndpoint::from("a/b/c").protocol, "b/c");
    }

    #[test]
    fn endpoint_compares_by_string_form() {
        assert_eq!(
            ServiceEndpoint::new("a/b", "c"),
            ServiceEndpoint::new("a", "b/c")
        );
        // "a-b/a" < "a/z" as strings ('-' < '/'), although "a" < "a-b" as names.
        assert!(ServiceEndpoint::new("a-b", "a") < ServiceEndpoint::new("a", "z"));
    }

    #[test]
    fn service_ports_round_trip() {
        let json = r#"{"svc/tcp":{"ports":{"p":{},"q":{"tags":["t"]}}}}"#;
        let map: BTreeMap<ServiceEndpoint, ServicePorts> = serde_json::from_str(json).unwrap();
        assert_eq!(serde_json::to_string(&map).unwrap(), json);
        let names: Vec<&str> = map.values().next().unwrap().port_names().collect();
        assert_eq!(names, ["p", "q"]);
    }

    #[test]
    fn malformed_service_ports_have_no_ports() {
        let sp: ServicePorts = serde_json::from_str(r#"{"/foo":"/bar"}"#).unwrap();
        assert_eq!(sp.ports, None);
        let sp: ServicePorts = serde_json::from_str("null").unwrap();
        assert_eq!(sp.ports, None);
    }
}
