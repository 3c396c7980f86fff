//! Helios's `HostResolver`: how `deploy` and `undeploy` turn a host argument
//! into a registered host name, and where `deregister` finds "possible
//! matches".
//!
//! A name registered as is wins. Otherwise the registered names that start
//! with the argument are candidates: one candidate is the answer; several are
//! ranked by the position of the first DNS search domain they end with (hosts
//! under no search domain rank last), and a single best one is the answer.
//! Anything else (no candidate, a tie) leaves the argument unchanged, so the
//! master answers `HOST_NOT_FOUND`.
//!
//! The logic is pure; [`HostResolver::fetch`] only adds `GET /hosts` and the
//! resolver's search path.

use crate::client::HeliosClient;
use crate::output::hostname;

/// The registered hosts and the DNS search path to rank candidates with.
#[derive(Debug, Clone)]
pub struct HostResolver {
    hosts: Vec<String>,
    search_path: Vec<String>,
}

impl HostResolver {
    /// A resolver over `hosts` (any order) with `search_path` (domains without
    /// a trailing dot, most preferred first).
    pub fn new(mut hosts: Vec<String>, search_path: Vec<String>) -> HostResolver {
        hosts.sort();
        hosts.dedup();
        HostResolver { hosts, search_path }
    }

    /// Lists the cluster's hosts (`GET /hosts`) and reads the local search path.
    pub async fn fetch(client: &HeliosClient) -> anyhow::Result<HostResolver> {
        let hosts = client.hosts(None, &[]).await?;
        Ok(HostResolver::new(hosts, hostname::search_domains()))
    }

    /// The host `name` designates, or `name` itself when it designates none or
    /// several.
    pub fn resolve(&self, name: &str) -> String {
        if self.hosts.iter().any(|h| h == name) {
            return name.to_string();
        }
        let ranked = self.ranked_matches(name);
        match ranked.as_slice() {
            [] => name.to_string(),
            [(only, _)] => only.to_string(),
            [(best, best_score), (_, next_score), ..] if best_score < next_score => {
                best.to_string()
            }
            _ => name.to_string(),
        }
    }

    /// Every host starting with `prefix`, best ranked first (ties by name).
    pub fn sorted_matches(&self, prefix: &str) -> Vec<String> {
        self.ranked_matches(prefix)
            .into_iter()
            .map(|(h, _)| h.to_string())
            .collect()
    }

    fn ranked_matches(&self, prefix: &str) -> Vec<(&str, usize)> {
        let mut matches: Vec<(&str, usize)> = self
            .hosts
            .iter()
            .filter(|h| h.starts_with(prefix))
            .map(|h| (h.as_str(), self.score(h)))
            .collect();
        // `hosts` is sorted, and the sort is stable: ties stay by name.
        matches.sort_by_key(|(_, score)| *score);
        matches
    }

    /// Index of the first search domain `host` ends with; `usize::MAX` when
    /// none.
    fn score(&self, host: &str) -> usize {
        let name = host.trim_end_matches('.');
        self.search_path
            .iter()
            .position(|domain| !domain.is_empty() && name.ends_with(domain.trim_end_matches('.')))
            .unwrap_or(usize::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolver(hosts: &[&str], search: &[&str]) -> HostResolver {
        HostResolver::new(
            hosts.iter().map(|s| s.to_string()).collect(),
            search.iter().map(|s| s.to_string()).collect(),
        )
    }

    #[test]
    fn exact_name_then_unique_prefix() {
        let r = resolver(&["web1", "web10", "db1.example.com"], &[]);
        assert_eq!(r.resolve("web1"), "web1");
        assert_eq!(r.resolve("db"), "db1.example.com");
        assert_eq!(r.resolve("db1"), "db1.example.com");
    }

    #[test]
    fn unknown_and_ambiguous_names_pass_through() {
        let r = resolver(&["web1", "web10"], &[]);
        assert_eq!(r.resolve("nope"), "nope");
        assert_eq!(r.resolve("web"), "web");
        assert_eq!(resolver(&[], &[]).resolve("x"), "x");
    }

    #[test]
    fn search_path_position_breaks_ties() {
        let search = ["lon.example.com", "example.com"];
        let r = resolver(
            &["a1.example.com", "a1.lon.example.com", "a1.other.org"],
            &search,
        );
        assert_eq!(r.resolve("a1"), "a1.lon.example.com");
        assert_eq!(
            r.sorted_matches("a1"),
            ["a1.lon.example.com", "a1.example.com", "a1.other.org"]
        );
        // Two hosts under the best domain: still ambiguous.
        let r = resolver(&["a1.lon.example.com", "a2.lon.example.com"], &search);
        assert_eq!(r.resolve("a"), "a");
        // No search domain at all: every candidate ties.
        let r = resolver(&["a1.x", "a2.x"], &[]);
        assert_eq!(r.resolve("a"), "a");
        assert_eq!(r.sorted_matches("a"), ["a1.x", "a2.x"]);
        assert!(r.sorted_matches("b").is_empty());
    }
}
