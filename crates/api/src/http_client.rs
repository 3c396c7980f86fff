//! HTTP clients that start on any well-formed machine.
//!
//! reqwest's rustls verifier reads the system's CA certificates when a client is built and
//! fails when there are none (a `FROM scratch` image, a minimal container). Such a machine can
//! still talk plain `http://`, and `https://` to public CAs: [`build`] then falls back to the
//! Mozilla roots bundled in the binary and says so once, instead of failing at start-up.
//!
//! [`TlsOptions`]: the operator's CA and client certificate for https masters, read from
//! PEM files, for every client that reaches a master's HTTP API (the CLI, forwarding).

/// Which certificate authorities a client built by [`build`] trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Roots {
    /// The system's CA certificates (the usual case).
    System,
    /// The system's could not be used (why); the bundled Mozilla roots are used instead.
    Bundled(String),
}

impl Roots {
    /// A one-line note for the log when the fallback was taken, `None` otherwise.
    pub fn note(&self) -> Option<String> {
        match self {
            Roots::System => None,
            Roots::Bundled(why) => Some(format!(
                "the system's CA certificates cannot be used ({why}); https uses the bundled \
                 Mozilla roots"
            )),
        }
    }
}

/// Builds a client from `make()`, trusting the system's CA certificates, or the bundled roots
/// when the system has none. `make` is called again for the fallback, so it must configure
/// the same client both times.
pub fn build(
    make: impl Fn() -> reqwest::ClientBuilder,
) -> Result<(reqwest::Client, Roots), reqwest::Error> {
    match make().build() {
        Ok(client) => Ok((client, Roots::System)),
        Err(system_error) => {
            let bundled = webpki_root_certs::TLS_SERVER_ROOT_CERTS
                .iter()
                .filter_map(|der| reqwest::Certificate::from_der(der).ok());
            match make().tls_certs_only(bundled).build() {
                Ok(client) => Ok((
                    client,
                    Roots::Bundled(crate::error_text::innermost(&system_error)),
                )),
                // The fallback failing too says nothing new: report the first cause.
                Err(_) => Err(system_error),
            }
        }
    }
}

/// How https masters are trusted and which client certificate is shown to them (the CLI's
/// `-k`, `--tls-ca`, `--tls-cert`, `--tls-key`; a master's own files when it forwards).
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// `-k`: accept any certificate.
    pub insecure: bool,
    /// The CA certificates to trust besides the system's.
    pub ca: Vec<reqwest::Certificate>,
    /// The client certificate and its key.
    pub identity: Option<reqwest::Identity>,
}

/// The files [`TlsOptions::load`] reads.
#[derive(Debug, Clone, Copy, Default)]
pub struct TlsOptionsFiles<'a> {
    /// A PEM file of CA certificates.
    pub ca: Option<&'a std::path::Path>,
    /// A PEM file of the client certificate (chain).
    pub cert: Option<&'a std::path::Path>,
    /// A PEM file of its private key.
    pub key: Option<&'a std::path::Path>,
}

impl TlsOptions {
    /// Reads the files; the error names the file and what is wrong with it.
    pub fn load(insecure: bool, files: TlsOptionsFiles<'_>) -> Result<TlsOptions, String> {
        let read = |flag: &str, p: &std::path::Path| {
            std::fs::read(p).map_err(|e| format!("{flag} {}: {e}", p.display()))
        };
        let ca = match files.ca {
            None => Vec::new(),
            Some(path) => {
                let certs = reqwest::Certificate::from_pem_bundle(&read("--tls-ca", path)?)
                    .map_err(|e| format!("--tls-ca {}: {e}", path.display()))?;
                if certs.is_empty() {
                    return Err(format!(
                        "--tls-ca {}: no PEM certificate in it",
                        path.display()
                    ));
                }
                certs
            }
        };
        let identity = match (files.cert, files.key) {
            (None, None) => None,
            (Some(cert), Some(key)) => {
                let mut pem = read("--tls-cert", cert)?;
                pem.push(b'\n');
                pem.extend(read("--tls-key", key)?);
                Some(reqwest::Identity::from_pem(&pem).map_err(|e| {
                    format!(
                        "--tls-cert {} and --tls-key {}: not a certificate and its key: {e}",
                        cert.display(),
                        key.display()
                    )
                })?)
            }
            _ => return Err("--tls-cert and --tls-key go together".to_string()),
        };
        Ok(TlsOptions {
            insecure,
            ca,
            identity,
        })
    }
}

impl TlsOptions {
    /// `builder` trusting the CA certificates and showing the client certificate.
    pub fn apply(&self, builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
        let mut builder = builder.tls_certs_merge(self.ca.clone());
        if let Some(identity) = &self.identity {
            builder = builder.identity(identity.clone());
        }
        if self.insecure {
            builder = builder.tls_danger_accept_invalid_certs(true);
        }
        builder
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_system_roots_the_bundled_ones_are_used() {
        // rustls-native-certs reads SSL_CERT_FILE / SSL_CERT_DIR first; pointing both at an
        // empty directory is a machine without CA certificates.
        let empty = std::env::temp_dir().join(format!("no-ca-{}", std::process::id()));
        std::fs::create_dir_all(&empty).unwrap();
        // SAFETY: no other test of this crate reads or writes the environment.
        unsafe {
            std::env::set_var("SSL_CERT_FILE", empty.join("none.pem"));
            std::env::set_var("SSL_CERT_DIR", &empty);
        }
        let (_, roots) = build(reqwest::Client::builder).expect("the fallback builds");
        assert!(matches!(roots, Roots::Bundled(_)), "{roots:?}");
        assert!(roots.note().unwrap().contains("bundled"));
    }
}
