//! Which API token the CLI sends (`Authorization: Bearer …`) to masters that run with
//! security on, first found wins:
//! 1. `--api-token-file FILE` (or `HELIOS_API_TOKEN_FILE`);
//! 2. `HELIOS_API_TOKEN`, the token itself;
//! 3. the configuration file's `apiToken`, then its `apiTokenFile`.
//!
//! A token is never taken from a flag's value, which other users of the machine could read in
//! the process list. A token file that cannot be read, or holds no token, is an error naming
//! the file: a command must not quietly run without the credentials its user configured.

use std::path::Path;

use crate::target::CliConfig;

/// The environment variable holding the token itself.
pub const API_TOKEN_ENV: &str = "HELIOS_API_TOKEN";

/// The token to send, if any; `Err` names a token file that could not be used.
pub fn api_token(
    flag_file: Option<&Path>,
    env_token: Option<String>,
    config: &CliConfig,
) -> Result<Option<String>, String> {
    if let Some(file) = flag_file {
        return read_token_file(file).map(Some);
    }
    if let Some(token) = env_token
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
    {
        return Ok(Some(token));
    }
    if let Some(token) = config
        .api_token
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        return Ok(Some(token.to_string()));
    }
    config
        .api_token_file
        .as_deref()
        .map(read_token_file)
        .transpose()
}

/// The token in `file`: its first line, trimmed.
fn read_token_file(file: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read the API token file {}: {e}", file.display()))?;
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_string)
        .ok_or_else(|| format!("the API token file {} holds no token", file.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_source_found_wins() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "\n  hlt_file \n").unwrap();
        let config = CliConfig {
            api_token: Some("hlt_config".into()),
            api_token_file: Some(file.clone()),
            ..CliConfig::default()
        };
        let env = || Some("hlt_env".to_string());
        assert_eq!(
            api_token(Some(&file), env(), &config).unwrap().as_deref(),
            Some("hlt_file")
        );
        assert_eq!(
            api_token(None, env(), &config).unwrap().as_deref(),
            Some("hlt_env")
        );
        assert_eq!(
            api_token(None, Some(" ".into()), &config)
                .unwrap()
                .as_deref(),
            Some("hlt_config")
        );
        let from_file = CliConfig {
            api_token: None,
            ..config.clone()
        };
        assert_eq!(
            api_token(None, None, &from_file).unwrap().as_deref(),
            Some("hlt_file")
        );
        assert_eq!(api_token(None, None, &CliConfig::default()).unwrap(), None);
    }

    #[test]
    fn an_unusable_token_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing");
        let err = api_token(Some(&missing), None, &CliConfig::default()).unwrap_err();
        assert!(
            err.contains("cannot read the API token file") && err.contains("missing"),
            "{err}"
        );
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "\n").unwrap();
        let err = api_token(Some(&empty), None, &CliConfig::default()).unwrap_err();
        assert!(err.contains("holds no token"), "{err}");
    }
}
