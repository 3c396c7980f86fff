//! API tokens (issue 13): create, list and revoke them, bootstrap the first admin token, and
//! judge whether a presented token may make a call.
//!
//! A token is `hlt_` and 64 hex digits (256 random bits); the state keeps only its SHA-256
//! ([`crate::state::ApiToken`]). The secret is drawn by the master that runs the create, so it
//! appears once, in that answer: if the answer is lost and the client retries with the same
//! idempotency key, the retry learns the token's id but not its secret (the caller revokes it
//! and creates another).

use rand::Rng;
use sha2::{Digest, Sha256};

use super::{Error, read};
use crate::control::Freshness;
use crate::exactly_once::WriteKey;
use crate::node::Node;
use crate::state::{ApiRole, ApiToken, Command, CommandResult};

/// The prefix of every token, so that secret scanners and people recognise one.
pub const TOKEN_PREFIX: &str = "hlt_";

/// The longest token name accepted.
pub const MAX_NAME: usize = 64;

/// The name of the first admin token.
pub const BOOTSTRAP_NAME: &str = "bootstrap-admin";

/// A token just created: the only time its secret is known (`Debug` does not show it).
#[derive(Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct NewToken {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its role.
    pub role: ApiRole,
    /// The token itself.
    pub token: String,
    /// When it was created (epoch ms).
    pub created: i64,
}

impl std::fmt::Debug for NewToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewToken")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// The SHA-256 of a token, lowercase hex: what the state keys tokens by.
pub fn hash(token: &str) -> String {
    helios_pki::hex(&Sha256::digest(token.as_bytes()))
}

/// A fresh token, its id and the record the state keeps.
fn mint(node: &Node, name: &str, role: ApiRole) -> (String, ApiToken) {
    let mut rng = rand::rng();
    let secret: [u8; 32] = rng.random();
    let id: [u8; 8] = rng.random();
    let token = format!("{TOKEN_PREFIX}{}", helios_pki::hex(&secret));
    let record = ApiToken {
        id: helios_pki::hex(&id),
        name: name.to_string(),
        role,
        hash: hash(&token),
        created_ms: node.clock.now_ms(),
    };
    (token, record)
}

/// Checks a token's name: 1 to [`MAX_NAME`] letters, digits, `.`, `_` or `-`.
fn check_name(name: &str) -> Result<(), Error> {
    let fine = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if name.is_empty() || name.len() > MAX_NAME || !name.chars().all(fine) {
        return Err(Error::invalid(
            "INVALID_TOKEN_NAME",
            format!("bad token name {name:?}: 1 to {MAX_NAME} letters, digits, '.', '_' or '-'"),
        ));
    }
    Ok(())
}

/// Creates a token named `name` with `role`.
pub async fn create(
    node: &Node,
    key: &WriteKey,
    name: &str,
    role: ApiRole,
) -> Result<NewToken, Error> {
    check_name(name)?;
    let (token, record) = mint(node, name, role);
    let command = Command::CreateApiToken {
        token: record.clone(),
    };
    match node.write_keyed(key, command).await? {
        CommandResult::ApiTokenCreated { id } if id == record.id => Ok(NewToken {
            id,
            name: record.name,
            role,
            token,
            created: record.created_ms,
        }),
        CommandResult::ApiTokenCreated { id } => Err(Error::conflict(
            "TOKEN_SECRET_LOST",
            format!(
                "token {name:?} (id {id}) was created by an earlier attempt of this request, whose \
                 answer was lost; its secret cannot be shown again: revoke it and create another"
            ),
        )),
        CommandResult::ApiTokenNameTaken => Err(Error::conflict(
            "TOKEN_NAME_TAKEN",
            format!("a token named {name:?} exists; revoke it first or choose another name"),
        )),
        other => Err(Error::Unexpected(other)),
    }
}

/// Every token, without secrets, by name.
pub async fn list(node: &Node, freshness: Freshness) -> Result<Vec<ApiToken>, Error> {
    let mut tokens = read(node, freshness, |s| {
        s.api_tokens.values().cloned().collect::<Vec<_>>()
    })
    .await?;
    tokens.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(tokens)
}

/// Revokes the token with this id (or else this name); answers its id.
pub async fn revoke(node: &Node, key: &WriteKey, id_or_name: &str) -> Result<String, Error> {
    let command = Command::RevokeApiToken {
        id_or_name: id_or_name.to_string(),
    };
    match node.write_keyed(key, command).await? {
        CommandResult::ApiTokenRevoked { id } => Ok(id),
        CommandResult::ApiTokenNotFound => Err(Error::not_found(
            "TOKEN_NOT_FOUND",
            format!("no API token has the id or name {id_or_name:?}"),
        )),
        CommandResult::LastAdminToken => Err(Error::conflict(
            "LAST_ADMIN_TOKEN",
            format!(
                "{id_or_name:?} is the only admin token: create another admin token before \
                 revoking it"
            ),
        )),
        other => Err(Error::Unexpected(other)),
    }
}

/// Creates the cluster's first admin token if no leader did before, and answers it; `None`
/// when the cluster has had one. `kept` is the token an earlier attempt wrote down, proposed
/// again instead of a new one. `keep` is called with the token before it is proposed, so
/// that the token is written down (a file) before it can be in force: a leader that dies
/// between the commit and its answer must not leave a cluster whose only admin token nobody
/// knows.
pub async fn bootstrap(
    node: &Node,
    kept: Option<String>,
    keep: impl FnOnce(&str) -> anyhow::Result<()>,
) -> anyhow::Result<Option<String>> {
    if node.read_local(|s| s.api_tokens_bootstrapped)? {
        return Ok(None);
    }
    let (mut token, mut record) = mint(node, BOOTSTRAP_NAME, ApiRole::Admin);
    if let Some(kept) = kept.filter(|t| t.starts_with(TOKEN_PREFIX)) {
        // An earlier attempt's token, written down and perhaps committed after its attempt
        // failed: proposing it again keeps the file and the state in step.
        record.hash = hash(&kept);
        token = kept;
    }
    keep(&token)?;
    match node
        .write(Command::BootstrapApiTokens { token: record })
        .await?
    {
        CommandResult::ApiTokenCreated { .. } => Ok(Some(token)),
        CommandResult::ApiTokensAlreadyBootstrapped => Ok(None),
        other => anyhow::bail!("unexpected result {other:?}"),
    }
}

/// Why a call is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No token came with the call (401).
    Missing,
    /// The token is not (or no longer) valid (401).
    Unknown,
    /// The token's role does not allow the call (403).
    Forbidden {
        /// The token's name.
        name: String,
        /// Its role.
        role: ApiRole,
        /// The role the call needs.
        needed: ApiRole,
    },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Missing => f.write_str(
                "this master requires an API token: send it as 'Authorization: Bearer TOKEN' \
                 (the CLI reads --api-token-file, HELIOS_API_TOKEN or its config file)",
            ),
            Refusal::Unknown => f.write_str("the API token is not valid (unknown or revoked)"),
            Refusal::Forbidden { name, role, needed } => write!(
                f,
                "API token {name:?} has the role {role}; this call needs the role {needed}"
            ),
        }
    }
}

/// Judges a call that needs `needed` against this member's applied tokens.
pub fn authorize(
    node: &Node,
    presented: Option<&str>,
    needed: ApiRole,
) -> Result<Result<(), Refusal>, Error> {
    let Some(presented) = presented else {
        return Ok(Err(Refusal::Missing));
    };
    let digest = hash(presented);
    Ok(node.read_local(|s| match s.api_token_by_hash(&digest) {
        None => Err(Refusal::Unknown),
        Some(t) if t.role.allows(needed) => Ok(()),
        Some(t) => Err(Refusal::Forbidden {
            name: t.name.clone(),
            role: t.role,
            needed,
        }),
    })?)
}

/// Marks a call (a request extension) whose token may read but not deploy: its answers hide
/// the env values jobs mark secret (REST in `gateway/access.rs`, gRPC in `grpc/secrets.rs`).
#[derive(Debug, Clone, Copy)]
pub struct ReadOnly;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_hash_is_sha256_hex() {
        assert_eq!(
            hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("ci-deploy.1_x").is_ok());
        for bad in ["", "a b", "é", &"x".repeat(MAX_NAME + 1)] {
            let e = check_name(bad).unwrap_err();
            assert!(e.to_string().contains("bad token name"), "{e}");
        }
    }
}
