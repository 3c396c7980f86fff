//! The cluster's certificate authority and join tokens (issue 13): creating the CA once, join
//! tokens per role and their rotation, and certificates issued for a join token.
//!
//! The CA lives in the replicated state ([`crate::state::ClusterPki`]), so any master can
//! issue and check, and a new leader needs nothing from the old one.

use std::time::Duration;

use helios_pki::{Authority, Identity, JoinToken, Material, Role};
use sha2::{Digest, Sha256};

use super::{Error, Freshness, read};
use crate::exactly_once::WriteKey;
use crate::node::Node;
use crate::state::{ClusterPki, Command, CommandResult, Secret};

/// The longest certificate name accepted (a DNS name's limit).
const MAX_NAME: usize = 253;

fn missing() -> Error {
    Error::not_found(
        "PKI_MISSING",
        "this cluster has no certificate authority: no master ran with --security on yet",
    )
}

/// The join token of `role` in `pki`.
fn token_of(pki: &ClusterPki, role: Role) -> Result<JoinToken, Error> {
    let ca_fingerprint = helios_pki::fingerprint(&pki.ca_cert_pem)
        .map_err(|e| Error::Node(crate::node::NodeError::Unavailable(e.to_string())))?;
    let secret = match role {
        Role::Agent => pki.agent_secret.clone(),
        Role::Master => pki.master_secret.clone(),
    };
    Ok(JoinToken {
        role,
        ca_fingerprint,
        secret,
    })
}

/// The current join token of `role`.
pub async fn join_token(node: &Node, role: Role, freshness: Freshness) -> Result<JoinToken, Error> {
    let pki = read(node, freshness, |s| s.pki.clone()).await?;
    token_of(&pki.ok_or_else(missing)?, role)
}

/// Replaces the join secret of `role`; answers the new token. Tokens with the old secret no
/// longer join; certificates they got stay valid.
pub async fn rotate(node: &Node, key: &WriteKey, role: Role) -> Result<JoinToken, Error> {
    let command = Command::RotateJoinSecret {
        role: role.as_str().to_string(),
        secret: Secret(JoinToken::new_secret()),
    };
    match node.write_keyed(key, command).await? {
        CommandResult::Ok => join_token(node, role, Freshness::Local).await,
        CommandResult::PkiMissing => Err(missing()),
        other => Err(Error::Unexpected(other)),
    }
}

/// The CA certificate, PEM, if the cluster has one (this member's applied state).
pub fn ca_pem(node: &Node) -> Result<Option<String>, Error> {
    Ok(node.read_local(|s| s.pki.as_ref().map(|p| p.ca_cert_pem.clone()))?)
}

/// Checks a certificate name: a host name (letters, digits, `-`, `.`, `_`).
fn check_name(name: &str) -> Result<(), Error> {
    let fine = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_');
    if name.is_empty() || name.len() > MAX_NAME || !name.chars().all(fine) {
        return Err(Error::invalid(
            "INVALID_NAME",
            format!(
                "bad certificate name {name:?}: a host name of letters, digits, '-', '.' or '_'"
            ),
        ));
    }
    Ok(())
}

/// Whether two secrets are equal, compared through their digests (no early exit on the first
/// differing byte of the secret).
fn same_secret(a: &str, b: &str) -> bool {
    Sha256::digest(a.as_bytes()) == Sha256::digest(b.as_bytes())
}

/// A certificate for `name` (and `sans`) of the key in `csr_pem`, if `token` is a current join
/// token of this cluster: its role is the token's. An agent name whose host has a certificate
/// in force is refused until the host is deregistered. Answers the chain (certificate, then
/// CA) and the CA, PEM.
pub fn issue(
    node: &Node,
    token: &str,
    name: &str,
    sans: &[String],
    csr_pem: &str,
    validity: Duration,
) -> Result<(String, String), Error> {
    let token: JoinToken = token
        .parse()
        .map_err(|e: helios_pki::PkiError| Error::invalid("INVALID_JOIN_TOKEN", e.to_string()))?;
    check_name(name)?;
    for san in sans {
        check_name(
            san.trim_start_matches('[')
                .trim_end_matches(']')
                .replace(':', "-")
                .as_str(),
        )?;
    }
    let (pki, cluster_id, bound) = node.read_local(|s| {
        (
            s.pki.clone(),
            s.cluster_id.clone(),
            s.host_certificates.contains_key(name),
        )
    })?;
    let pki = pki.ok_or_else(missing)?;
    let current = token_of(&pki, token.role)?;
    if token.ca_fingerprint != current.ca_fingerprint {
        return Err(Error::Denied {
            word: "JOIN_REFUSED",
            message: "the join token is for another cluster (its CA fingerprint differs)".into(),
        });
    }
    if !same_secret(&token.secret, &current.secret) {
        return Err(Error::Denied {
            word: "JOIN_REFUSED",
            message: format!("the {} join token is not (or no longer) valid", token.role),
        });
    }
    if token.role == Role::Agent && bound {
        // Another agent holds this host's name: a join token does not take it over.
        return Err(Error::Denied {
            word: "HOST_CERTIFIED",
            message: format!(
                "host {name:?} already has an agent certificate in force; deregister the host \
                 (`helios deregister {name}`) before it joins again"
            ),
        });
    }
    let sans = match token.role {
        Role::Master => sans.to_vec(),
        Role::Agent => Vec::new(),
    };
    sign(&pki, cluster_id, csr_pem, token.role, name, &sans, validity)
}

/// Signs the key in `csr_pem` for `role` and `name` with the cluster's CA; answers the chain
/// (certificate, then CA) and the CA, PEM.
fn sign(
    pki: &ClusterPki,
    cluster_id: Option<String>,
    csr_pem: &str,
    role: Role,
    name: &str,
    sans: &[String],
    validity: Duration,
) -> Result<(String, String), Error> {
    let authority = Authority {
        cert_pem: pki.ca_cert_pem.clone(),
        key_pem: pki.ca_key_pem.clone(),
    };
    let cert = authority
        .issue(
            csr_pem,
            role,
            name,
            sans,
            &cluster_id.unwrap_or_default(),
            validity,
        )
        .map_err(|e| Error::invalid("INVALID_REQUEST", e.to_string()))?;
    Ok((
        format!("{cert}{}", pki.ca_cert_pem),
        pki.ca_cert_pem.clone(),
    ))
}

/// A new certificate for the agent whose certificate (still valid: the TLS layer checked it)
/// is `caller`, of the key in `csr_pem`, with the same name. Refused for a revoked certificate
/// or one that is no longer the host's; the new serial is recorded so that the agent's next
/// session may use it (see [`crate::state::State::certificate_in_force`]). Masters renew
/// their own from the CA they hold. On the leader only (it records the serial).
pub async fn renew(
    node: &Node,
    caller: &Identity,
    csr_pem: &str,
    validity: Duration,
) -> Result<(String, String), Error> {
    if caller.role != Role::Agent {
        return Err(Error::Denied {
            word: "RENEW_REFUSED",
            message: format!("{caller} renews its certificate from the CA it holds"),
        });
    }
    let (pki, cluster_id, revoked, in_force) = node.read_local(|s| {
        (
            s.pki.clone(),
            s.cluster_id.clone(),
            s.revoked_certificates.contains(&caller.serial),
            s.certificate_in_force(&caller.name, &caller.serial),
        )
    })?;
    let pki = pki.ok_or_else(missing)?;
    if revoked || !in_force {
        return Err(Error::Denied {
            word: "RENEW_REFUSED",
            message: format!(
                "the certificate {caller} is revoked or no longer the host's: the agent needs \
                 a join token again"
            ),
        });
    }
    let (chain_pem, ca_pem) = sign(
        &pki,
        cluster_id,
        csr_pem,
        Role::Agent,
        &caller.name,
        &[],
        validity,
    )?;
    let serial = Material {
        key_pem: String::new(),
        chain_pem: chain_pem.clone(),
        ca_pem: ca_pem.clone(),
    }
    .identity()
    .map_err(|e| Error::invalid("INVALID_REQUEST", e.to_string()))?
    .serial;
    let command = Command::CertificateRenewed {
        host: caller.name.clone(),
        presented: caller.serial.clone(),
        serial,
    };
    match node.write(command).await? {
        CommandResult::Ok => Ok((chain_pem, ca_pem)),
        other => Err(Error::Unexpected(other)),
    }
}

/// On the leader of a cluster without a CA: creates one with fresh join secrets.
pub async fn ensure_pki(node: &Node) -> anyhow::Result<()> {
    let (has_pki, cluster_id) = node.read_local(|s| (s.pki.is_some(), s.cluster_id.clone()))?;
    if has_pki {
        return Ok(());
    }
    let authority = Authority::create(&cluster_id.unwrap_or_default())?;
    let pki = ClusterPki {
        ca_cert_pem: authority.cert_pem,
        ca_key_pem: authority.key_pem,
        agent_secret: JoinToken::new_secret(),
        master_secret: JoinToken::new_secret(),
    };
    node.write(Command::InitPki { pki }).await?;
    Ok(())
}

/// A certificate for this master itself (the first one, which has nobody to join through),
/// issued from the replicated CA; `None` while the cluster has no CA.
pub fn own_material(
    node: &Node,
    name: &str,
    sans: &[String],
    validity: Duration,
) -> anyhow::Result<Option<Material>> {
    let (pki, cluster_id) = node.read_local(|s| (s.pki.clone(), s.cluster_id.clone()))?;
    let Some(pki) = pki else {
        return Ok(None);
    };
    let (key_pem, csr_pem) = helios_pki::authority::key_and_request(name)?;
    let (chain_pem, ca_pem) = sign(
        &pki,
        cluster_id,
        &csr_pem,
        Role::Master,
        name,
        sans,
        validity,
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(Some(Material {
        key_pem,
        chain_pem,
        ca_pem,
    }))
}
