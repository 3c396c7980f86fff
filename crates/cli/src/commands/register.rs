//! `helios register HOST ID`: registers a host name with its unique id
//! (`PUT /hosts/{host}?id=`) so that an agent of that name and id may join.
//! A failure prints the HTTP status, as Helios does (`h: failed: 400`).

use super::Context;
use crate::args::RegisterArgs;
use crate::client::HeliosClient;

/// Runs the command; exit code 1 unless the master answers 200.
pub async fn run(
    args: &RegisterArgs,
    client: &HeliosClient,
    ctx: &mut Context<'_>,
) -> anyhow::Result<i32> {
    let (host, id) = (args.host.as_str(), args.id.as_str());
    if host.is_empty() || id.is_empty() {
        writeln!(ctx.out, "You must specify the hostname and id.")?;
        return Ok(1);
    }
    writeln!(ctx.out, "Registering host {host} with id {id}")?;
    let status = client.register_host(host, id).await?;
    if status == 200 {
        writeln!(ctx.out, "{host}: done")?;
        Ok(0)
    } else {
        writeln!(ctx.out, "{host}: failed: {status}")?;
        Ok(1)
    }
}
