//! The cluster's certificate authority: created once per secured cluster, kept in the
//! replicated state (see ARCHITECTURE.md), and the only signer of cluster-port certificates.

use std::net::IpAddr;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use sha2::{Digest, Sha256};

use crate::PkiError;
use crate::identity::Role;

/// How long the CA is valid (ten years).
const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// Certificates are valid from a little before they are issued, for clocks a bit behind.
pub(crate) const BACKDATE: Duration = Duration::from_secs(300);

fn bad(what: &str, e: impl std::fmt::Display) -> PkiError {
    PkiError::Certificate(format!("{what}: {e}"))
}

/// The SHA-256 of a PEM certificate's DER, lowercase hex: what a join token pins.
pub fn fingerprint(cert_pem: &str) -> Result<String, PkiError> {
    let der = rustls::pki_types::CertificateDer::from_pem_slice(cert_pem.as_bytes())
        .map_err(|e| bad("cannot read a PEM certificate", e))?;
    Ok(hex(&Sha256::digest(der.as_ref())))
}

/// Bytes as lowercase hex digits.
pub fn hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

use rustls::pki_types::pem::PemObject;

/// The CA: its certificate and private key, both PEM.
#[derive(Clone, PartialEq, Eq)]
pub struct Authority {
    /// The CA certificate.
    pub cert_pem: String,
    /// The CA's private key (secret).
    pub key_pem: String,
}

impl std::fmt::Debug for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authority")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"<secret>")
            .finish()
    }
}

impl Authority {
    /// A new CA for the cluster `cluster_id`.
    pub fn create(cluster_id: &str) -> Result<Authority, PkiError> {
        let key = KeyPair::generate().map_err(|e| bad("cannot make the CA key", e))?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "helios cluster CA");
        dn.push(DnType::OrganizationName, cluster_id);
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - BACKDATE;
        params.not_after = now + CA_VALIDITY;
        let cert = params
            .self_signed(&key)
            .map_err(|e| bad("cannot sign the CA certificate", e))?;
        Ok(Authority {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// The CA certificate's fingerprint.
    pub fn fingerprint(&self) -> Result<String, PkiError> {
        fingerprint(&self.cert_pem)
    }

    /// Signs the key of `csr_pem` for `name` with `role` in cluster `cluster_id`, valid for
    /// `validity`; a master's certificate also serves for `name` and the names in `sans`
    /// (host names or IP addresses), an agent's only authenticates a client.
    /// Only the request's key is used: the role, name and names come from the caller, who
    /// checked them. Answers the PEM certificate.
    pub fn issue(
        &self,
        csr_pem: &str,
        role: Role,
        name: &str,
        sans: &[String],
        cluster_id: &str,
        validity: Duration,
    ) -> Result<String, PkiError> {
        let csr = CertificateSigningRequestParams::from_pem(csr_pem)
            .map_err(|e| bad("bad certificate signing request", e))?;
        let key = KeyPair::from_pem(&self.key_pem).map_err(|e| bad("bad CA key", e))?;
        let issuer = Issuer::from_ca_cert_pem(&self.cert_pem, key)
            .map_err(|e| bad("bad CA certificate", e))?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, name);
        dn.push(DnType::OrganizationalUnitName, role.unit());
        dn.push(DnType::OrganizationName, cluster_id);
        params.distinguished_name = dn;
        // Only a master serves the cluster port: an agent's certificate names no host a
        // client could connect to, and is good for client authentication only, so that no
        // agent certificate can pose as a master.
        let mut names: Vec<&str> = Vec::new();
        if role == Role::Master {
            names.push(name);
            names.extend(sans.iter().map(String::as_str));
        }
        names.dedup();
        for n in names {
            let san = match n
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
            {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => SanType::DnsName(
                    n.try_into()
                        .map_err(|e| bad(&format!("bad certificate name {n:?}"), e))?,
                ),
            };
            if !params.subject_alt_names.contains(&san) {
                params.subject_alt_names.push(san);
            }
        }
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = match role {
            Role::Master => vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ],
            Role::Agent => vec![ExtendedKeyUsagePurpose::ClientAuth],
        };
        params.serial_number = Some(SerialNumber::from_slice(&rand::random::<[u8; 16]>()));
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - BACKDATE;
        params.not_after = now + validity;
        params.use_authority_key_identifier_extension = true;
        let cert = params
            .signed_by(&csr.public_key, &issuer)
            .map_err(|e| bad("cannot sign the certificate", e))?;
        Ok(cert.pem())
    }
}

/// A new private key and a signing request for it, both PEM: what a joiner sends (the key
/// never leaves it).
pub fn key_and_request(name: &str) -> Result<(String, String), PkiError> {
    let key = KeyPair::generate().map_err(|e| bad("cannot make a key", e))?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    params.distinguished_name = dn;
    let csr = params
        .serialize_request(&key)
        .map_err(|e| bad("cannot make a certificate signing request", e))?;
    let csr_pem = csr.pem().map_err(|e| bad("cannot encode the request", e))?;
    Ok((key.serialize_pem(), csr_pem))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;

    #[test]
    fn an_issued_certificate_names_its_role_name_and_cluster() {
        let ca = Authority::create("c-1").unwrap();
        let (_key, csr) = key_and_request("ignored").unwrap();
        let pem = ca
            .issue(
                &csr,
                Role::Agent,
                "host-1",
                &["127.0.0.1".into(), "host-1.example".into()],
                "c-1",
                Duration::from_secs(3600),
            )
            .unwrap();
        let der = rustls::pki_types::CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
        let id = Identity::of(der.as_ref()).unwrap();
        assert_eq!(id.role, Role::Agent);
        assert_eq!(id.name, "host-1");
        assert_eq!(id.cluster, "c-1");
        assert!(id.serial.len() >= 32, "{}", id.serial);
        assert_eq!(ca.fingerprint().unwrap().len(), 64);
        assert!(
            !format!("{ca:?}").contains("PRIVATE"),
            "the key is not in Debug"
        );
    }

    #[test]
    fn a_bad_request_is_refused() {
        let ca = Authority::create("c-1").unwrap();
        let err = ca
            .issue("nonsense", Role::Master, "m", &[], "c-1", CA_VALIDITY)
            .unwrap_err();
        assert!(err.to_string().contains("signing request"), "{err}");
    }
}
