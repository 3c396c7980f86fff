//! API tokens: who may call the API, with which role (issue 13, DESIGN §9).
//!
//! The state keeps each token's SHA-256 hash, never the token itself: a snapshot, a backup or
//! a follower's disk reveals no token. Lookups go by hash (a token is 256 random bits, so its
//! hash needs no salt or slow hash); operators name tokens by their id or name.

use serde::{Deserialize, Serialize};

use super::{CommandResult, State};

/// What a token may do. Each role includes the ones before it.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    Default,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ApiRole {
    /// Every read: `GET`, job and host statuses, `Watch`.
    #[default]
    Read,
    /// Reads, and jobs, deployments and deployment groups.
    Deploy,
    /// Everything: also hosts, masters and tokens.
    Admin,
}

impl ApiRole {
    /// Every role, weakest first.
    pub const ALL: [ApiRole; 3] = [ApiRole::Read, ApiRole::Deploy, ApiRole::Admin];

    /// The role's name as the API spells it (`read`, `deploy`, `admin`).
    pub fn as_str(self) -> &'static str {
        match self {
            ApiRole::Read => "read",
            ApiRole::Deploy => "deploy",
            ApiRole::Admin => "admin",
        }
    }

    /// Whether a token of this role may do what `needed` allows.
    pub fn allows(self, needed: ApiRole) -> bool {
        self >= needed
    }
}

impl std::fmt::Display for ApiRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ApiRole {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ApiRole::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role {s:?}: expected read, deploy or admin"))
    }
}

/// One API token as the state keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiToken {
    /// A random id, shown in listings and used to revoke the token.
    pub id: String,
    /// The operator's name for it (unique).
    pub name: String,
    /// What it may do.
    pub role: ApiRole,
    /// SHA-256 of the token, lowercase hex.
    pub hash: String,
    /// When it was created (leader clock, epoch ms).
    pub created_ms: i64,
}

impl State {
    /// The token whose hash is `hash`, if it is valid.
    pub fn api_token_by_hash(&self, hash: &str) -> Option<&ApiToken> {
        self.api_tokens.get(hash)
    }

    /// The token with this id, or else this name.
    fn api_token_named(&self, id_or_name: &str) -> Option<&ApiToken> {
        let tokens = || self.api_tokens.values();
        tokens()
            .find(|t| t.id == id_or_name)
            .or_else(|| tokens().find(|t| t.name == id_or_name))
    }

    pub(super) fn create_api_token(&mut self, token: &ApiToken) -> CommandResult {
        if self.api_tokens.values().any(|t| t.name == token.name) {
            return CommandResult::ApiTokenNameTaken;
        }
        if self.api_tokens.values().any(|t| t.id == token.id)
            || self.api_tokens.contains_key(&token.hash)
        {
            // Random ids and secrets do not collide; a leader bug could.
            return CommandResult::ApiTokenNameTaken;
        }
        self.api_tokens.insert(token.hash.clone(), token.clone());
        CommandResult::ApiTokenCreated {
            id: token.id.clone(),
        }
    }

    /// Creates the first admin token, once per cluster: later proposals (a second leader's,
    /// a retry) change nothing.
    pub(super) fn bootstrap_api_tokens(&mut self, token: &ApiToken) -> CommandResult {
        if self.api_tokens_bootstrapped {
            return CommandResult::ApiTokensAlreadyBootstrapped;
        }
        self.api_tokens_bootstrapped = true;
        self.create_api_token(token)
    }

    pub(super) fn revoke_api_token(&mut self, id_or_name: &str) -> CommandResult {
        let Some(token) = self.api_token_named(id_or_name).cloned() else {
            return CommandResult::ApiTokenNotFound;
        };
        let admins = self
            .api_tokens
            .values()
            .filter(|t| t.role == ApiRole::Admin)
            .count();
        if token.role == ApiRole::Admin && admins == 1 {
            return CommandResult::LastAdminToken;
        }
        self.api_tokens.remove(&token.hash);
        CommandResult::ApiTokenRevoked { id: token.id }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(id: &str, name: &str, role: ApiRole) -> ApiToken {
        ApiToken {
            id: id.into(),
            name: name.into(),
            role,
            hash: format!("hash-{id}"),
            created_ms: 1,
        }
    }

    #[test]
    fn roles_include_the_weaker_ones() {
        assert!(ApiRole::Admin.allows(ApiRole::Deploy));
        assert!(ApiRole::Deploy.allows(ApiRole::Read));
        assert!(!ApiRole::Read.allows(ApiRole::Deploy));
        assert!(!ApiRole::Deploy.allows(ApiRole::Admin));
        assert_eq!("deploy".parse::<ApiRole>(), Ok(ApiRole::Deploy));
        assert!("root".parse::<ApiRole>().unwrap_err().contains("\"root\""));
    }

    #[test]
    fn bootstrap_happens_once_and_the_last_admin_stays() {
        let mut s = State::default();
        let first = token("a1", "admin", ApiRole::Admin);
        assert_eq!(
            s.bootstrap_api_tokens(&first),
            CommandResult::ApiTokenCreated { id: "a1".into() }
        );
        assert_eq!(
            s.bootstrap_api_tokens(&token("a2", "admin-2", ApiRole::Admin)),
            CommandResult::ApiTokensAlreadyBootstrapped
        );
        assert_eq!(s.api_tokens.len(), 1);
        assert_eq!(s.revoke_api_token("admin"), CommandResult::LastAdminToken);
        s.create_api_token(&token("r1", "ci", ApiRole::Read));
        assert_eq!(
            s.create_api_token(&token("r2", "ci", ApiRole::Deploy)),
            CommandResult::ApiTokenNameTaken
        );
        assert_eq!(
            s.revoke_api_token("ci"),
            CommandResult::ApiTokenRevoked { id: "r1".into() }
        );
        assert_eq!(s.api_token_by_hash("hash-r1"), None);
        assert_eq!(s.revoke_api_token("r1"), CommandResult::ApiTokenNotFound);
        assert!(s.api_token_by_hash("hash-a1").is_some());
    }
}
