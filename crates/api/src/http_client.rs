//! HTTP clients that start on any well-formed machine.
//!
//! reqwest's rustls verifier reads the system's CA certificates when a client is built and
//! fails when there are none (a `FROM scratch` image, a minimal container). Such a machine can
//! still talk plain `http://`, and `https://` to public CAs: [`build`] then falls back to the
//! Mozilla roots bundled in the binary and says so once, instead of failing at start-up.

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
