//! `helios deregister HOST`: forgets a host (`DELETE /hosts/{host}`), with
//! its deployments and their history, after a prompt unless `--yes`.
//!
//! The name is not resolved; when the master does not know it, the hosts
//! whose name starts with it are offered as "possible matches", best ranked
//! first (see [`HostResolver::sorted_matches`]).

use helios_api::HostDeregisterStatus;

use super::host_resolver::HostResolver;
use super::{Context, confirmed};
use crate::args::DeregisterArgs;
use crate::client::HeliosClient;
use crate::output::responses;

/// Runs the command; exit code 1 when the host is not deregistered.
pub async fn run(
    args: &DeregisterArgs,
    client: &HeliosClient,
    ctx: &mut Context<'_>,
) -> anyhow::Result<i32> {
    let host = args.host.as_str();
    if !args.yes && !args.force {
        writeln!(ctx.out, "This will deregister the host {host}")?;
        if !confirmed(ctx)? {
            return Ok(1);
        }
    }
    writeln!(ctx.out, "Deregistering host {host}")?;
    let response = client.deregister_host(host).await?;
    if response.status == HostDeregisterStatus::Ok {
        writeln!(ctx.out, "{host}: done")?;
        return Ok(0);
    }
    writeln!(
        ctx.out,
        "{host}: failed: {}",
        responses::deregister_response(&response)
    )?;
    if response.status == HostDeregisterStatus::NotFound {
        let matches = HostResolver::fetch(client).await?.sorted_matches(host);
        write!(ctx.out, "{}", possible_matches(&matches))?;
    }
    Ok(1)
}

/// Helios's hint for a name that is not registered; empty without matches.
pub fn possible_matches(matches: &[String]) -> String {
    if matches.is_empty() {
        return String::new();
    }
    let mut text = String::from(
        "We didn't find your hostname, but we did find some possible matches for you:",
    );
    for host in matches {
        text.push_str("\n    ");
        text.push_str(host);
    }
    // Helios's message ends with a newline and is printed with println.
    text.push_str("\n\n");
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn possible_matches_are_indented() {
        assert_eq!(possible_matches(&[]), "");
        assert_eq!(
            possible_matches(&["web1".into(), "web10".into()]),
            "We didn't find your hostname, but we did find some possible matches for you:\n    web1\n    web10\n\n"
        );
    }
}
