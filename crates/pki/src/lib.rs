//! `helios-pki`: the cluster's own certificate authority and mutual TLS on the masters'
//! cluster port (issue 13, as Docker Swarm does it).
//!
//! * [`authority`]: the CA a secured cluster creates when it initialises, and certificates it
//!   issues for a key's signing request, with the holder's role and name inside.
//! * [`identity`]: who a peer certificate names (role, name, cluster), read on the server side
//!   of every cluster-port call.
//! * [`join_token`]: `HLJT-1-<role>-<CA fingerprint>-<secret>`, what a new master or agent
//!   needs to get its certificate.
//! * [`material`]: a holder's key, certificate chain and CA on disk, and the tonic TLS
//!   settings made from them.
//! * [`enroll`]: the client side of getting a certificate with a join token, over a
//!   connection pinned to the token's CA fingerprint, and of renewing one before it expires.
//! * [`serving`]: accepting TLS connections with settings that change while the server runs
//!   (a renewed certificate).

pub mod api_tls;
pub mod authority;
pub mod enroll;
pub mod identity;
pub mod join_token;
pub mod material;
pub mod serving;

pub use authority::{Authority, fingerprint, hex};
pub use identity::{Identity, Role};
pub use join_token::JoinToken;
pub use material::Material;
pub use material::write_private;

/// What went wrong with certificates or tokens; each names the problem.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// Making, parsing or signing a certificate failed.
    #[error("{0}")]
    Certificate(String),
    /// A join token is malformed.
    #[error("bad join token: {0}")]
    Token(String),
    /// Reading or writing TLS files failed.
    #[error("{0}")]
    Files(String),
}
