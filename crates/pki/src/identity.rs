//! Who a cluster-port certificate names: the holder's role (the organisational unit), its name
//! (the common name: an agent's host name, a master's name), its cluster (the organisation:
//! the cluster id) and the certificate's serial number.

use x509_parser::prelude::{FromDer, X509Certificate};

use crate::PkiError;
use crate::authority::hex;

/// What a certificate allows on the cluster port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Raft between masters, and issuing certificates.
    Master,
    /// One agent session, for the host the certificate names.
    Agent,
}

impl Role {
    /// The organisational unit that carries the role.
    pub fn unit(self) -> &'static str {
        match self {
            Role::Master => "helios-master",
            Role::Agent => "helios-agent",
        }
    }

    /// The role's word in join tokens and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Master => "master",
            Role::Agent => "agent",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "master" => Ok(Role::Master),
            "agent" => Ok(Role::Agent),
            other => Err(format!("unknown role {other:?}: expected agent or master")),
        }
    }
}

/// The holder a certificate names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Its role.
    pub role: Role,
    /// Its name.
    pub name: String,
    /// The cluster id it was issued in.
    pub cluster: String,
    /// The certificate's serial number, hex.
    pub serial: String,
}

impl Identity {
    /// The identity in a DER certificate; an error when it names no role of ours.
    pub fn of(der: &[u8]) -> Result<Identity, PkiError> {
        let (_, cert) = X509Certificate::from_der(der)
            .map_err(|e| PkiError::Certificate(format!("cannot read a peer certificate: {e}")))?;
        let subject = cert.subject();
        let first = |it: &mut dyn Iterator<Item = &x509_parser::x509::AttributeTypeAndValue>| {
            it.next().and_then(|a| a.as_str().ok()).map(str::to_string)
        };
        let unit = first(&mut subject.iter_organizational_unit()).unwrap_or_default();
        let role = [Role::Master, Role::Agent]
            .into_iter()
            .find(|r| r.unit() == unit)
            .ok_or_else(|| {
                PkiError::Certificate(format!("the certificate names no helios role ({unit:?})"))
            })?;
        Ok(Identity {
            role,
            name: first(&mut subject.iter_common_name()).unwrap_or_default(),
            cluster: first(&mut subject.iter_organization()).unwrap_or_default(),
            serial: hex(cert.raw_serial()),
        })
    }
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {:?} (serial {})", self.role, self.name, self.serial)
    }
}
