//! Host names as Helios prints them without `-f`: relative to the resolver's
//! search domains when they fall under one, otherwise as absolute DNS names
//! with a trailing dot (`master-1.`, `192.168.33.10.`).

/// The resolver search path from `/etc/resolv.conf` (`search`, else `domain`).
pub fn search_domains() -> Vec<String> {
    std::fs::read_to_string("/etc/resolv.conf")
        .map(|text| parse_resolv_conf(&text))
        .unwrap_or_default()
}

/// The search domains host names are shortened against: none with `-f` (`full`), which
/// prints names as they are, else [`search_domains`].
pub fn search_domains_unless_full(full: bool) -> Vec<String> {
    if full { Vec::new() } else { search_domains() }
}

/// Parses the search path out of resolv.conf text; the last `search` or
/// `domain` line wins, as in glibc.
pub fn parse_resolv_conf(text: &str) -> Vec<String> {
    let mut domains = Vec::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("search") | Some("domain") => {
                domains = words
                    .map(|d| d.trim_end_matches('.').to_string())
                    .filter(|d| !d.is_empty())
                    .collect();
            }
            _ => {}
        }
    }
    domains
}

/// `host` relative to the first search domain it lies strictly under, else
/// `host` as an absolute name ending in `.`.
pub fn short_hostname(host: &str, search: &[String]) -> String {
    let name = host.trim_end_matches('.');
    if name.is_empty() {
        return host.to_string();
    }
    let lower = name.to_ascii_lowercase();
    for domain in search {
        let suffix = format!(".{}", domain.to_ascii_lowercase());
        if lower.len() > suffix.len() && lower.ends_with(&suffix) {
            return name[..name.len() - suffix.len()].to_string();
        }
    }
    format!("{name}.")
}

/// `host` unchanged with `-f`, else [`short_hostname`].
pub fn format_hostname(full: bool, host: &str, search: &[String]) -> String {
    if full {
        host.to_string()
    } else {
        short_hostname(host, search)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_search_path() {
        let text = "nameserver 10.0.0.1\nsearch example.com. corp.example.com\n";
        assert_eq!(
            parse_resolv_conf(text),
            vec!["example.com", "corp.example.com"]
        );
        assert!(parse_resolv_conf("nameserver 1.1.1.1\n").is_empty());
        assert_eq!(parse_resolv_conf("domain a.b\n"), vec!["a.b"]);
    }

    #[test]
    fn names_under_a_search_domain_are_relative() {
        let search = vec!["example.com".to_string()];
        assert_eq!(short_hostname("m1.example.com", &search), "m1");
        assert_eq!(short_hostname("M1.Example.COM.", &search), "M1");
        assert_eq!(short_hostname("m1.other.org", &search), "m1.other.org.");
        assert_eq!(short_hostname("example.com", &search), "example.com.");
    }

    #[test]
    fn other_names_are_absolute() {
        assert_eq!(short_hostname("192.168.33.10", &[]), "192.168.33.10.");
        assert_eq!(short_hostname("test-host.", &[]), "test-host.");
        assert_eq!(format_hostname(true, "test-host", &[]), "test-host");
    }
}
