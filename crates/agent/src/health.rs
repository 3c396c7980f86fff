//! Job health checks (reference §4.2): one probe of an `http`, `tcp` or `exec` check.
//!
//! HTTP and TCP probes go to the Docker host's address on the named port's external port
//! (`localhost` for a unix socket). A TCP probe of a loopback address goes to the container's
//! bridge gateway instead, because docker-proxy accepts any connection on loopback (inside a
//! container, an HTTP probe of `localhost` goes there too). An exec probe succeeds iff the
//! command exits 0.
//!
//! This module probes once and never retries. The supervisor keeps a task `HEALTHCHECKING`
//! and repeats probes with backoff (1 s → 30 s, no overall timeout) until one succeeds, then
//! reports `RUNNING`; a container that exits meanwhile ends the checks (`EXITED`, `FAILED`,
//! restart). Unlike Helios (issue #1090), containers adopted after an agent restart are
//! checked again the same way before they count as healthy.

use std::collections::BTreeMap;
use std::time::Duration;

use helios_api::{HealthCheck, PortMapping};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::runtime::ContainerRuntime;

/// Connect timeout of HTTP and TCP probes.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// Read timeout of HTTP probes.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest an exec probe may run.
const EXEC_TIMEOUT: Duration = Duration::from_secs(60);

/// The host part of a Docker endpoint: `localhost` for a unix socket, else the TCP host.
pub fn docker_host_address(docker_host: &str) -> String {
    let rest = docker_host
        .strip_prefix("tcp://")
        .or_else(|| docker_host.strip_prefix("http://"))
        .or_else(|| docker_host.strip_prefix("https://"));
    match rest {
        Some(hostport) => hostport
            .rsplit_once(':')
            .map(|(h, _)| h)
            .unwrap_or(hostport)
            .trim_matches(['[', ']'])
            .to_string(),
        None => "localhost".to_string(),
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Where a probe connects for a named port.
fn target(
    port_name: &str,
    ports: &BTreeMap<String, PortMapping>,
    host: &str,
) -> Result<(String, u16), String> {
    let port = ports
        .get(port_name)
        .and_then(|p| p.external_port)
        .and_then(|p| u16::try_from(p).ok())
        .ok_or_else(|| format!("health check port {port_name} has no external port"))?;
    Ok((host.to_string(), port))
}

/// Probes once; `Ok(())` means healthy, `Err` says why not.
pub async fn probe(
    runtime: &dyn ContainerRuntime,
    check: &HealthCheck,
    container_id: &str,
    ports: &BTreeMap<String, PortMapping>,
    docker_host: &str,
) -> Result<(), String> {
    let mut host = docker_host_address(docker_host);
    let in_container = std::path::Path::new("/.dockerenv").exists();
    let wants_gateway = match check {
        HealthCheck::Tcp { .. } => is_loopback(&host),
        // Inside a container, `localhost` is the container itself, not the Docker host.
        HealthCheck::Http { .. } => in_container && host == "localhost",
        HealthCheck::Exec { .. } => false,
    };
    if wants_gateway
        && let Ok(Some(info)) = runtime.inspect(container_id).await
        && let Some(gw) = info.gateway
    {
        host = gw;
    }
    match check {
        HealthCheck::Http { path, port } => {
            let (host, port) = target(port, ports, &host)?;
            http_get(&host, port, path).await
        }
        HealthCheck::Tcp { port } => {
            let (host, port) = target(port, ports, &host)?;
            match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((host.as_str(), port)))
                .await
            {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(format!("connect {host}:{port}: {e}")),
                Err(_) => Err(format!("connect {host}:{port}: timed out")),
            }
        }
        HealthCheck::Exec { command } => {
            match tokio::time::timeout(EXEC_TIMEOUT, runtime.exec(container_id, command)).await {
                Ok(Ok(0)) => Ok(()),
                Ok(Ok(code)) => Err(format!("exec {command:?} exited with {code}")),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err(format!("exec {command:?} timed out")),
            }
        }
    }
}

/// `GET http://host:port/path`; healthy iff the status is 200–399.
async fn http_get(host: &str, port: u16, path: &str) -> Result<(), String> {
    let mut stream =
        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((host, port))).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(format!("connect {host}:{port}: {e}")),
            Err(_) => return Err(format!("connect {host}:{port}: timed out")),
        };
    let path = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    let request =
        format!("GET {path} HTTP/1.0\r\nHost: {host}:{port}\r\nUser-Agent: helios-agent\r\n\r\n");
    let exchange = async {
        stream.write_all(request.as_bytes()).await?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 512];
        // The status line is all we need.
        while !buf.contains(&b'\n') && buf.len() < 4096 {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        Ok::<_, std::io::Error>(buf)
    };
    let buf = match tokio::time::timeout(READ_TIMEOUT, exchange).await {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => return Err(format!("GET {path}: {e}")),
        Err(_) => return Err(format!("GET {path}: timed out")),
    };
    let line = String::from_utf8_lossy(&buf);
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("GET {path}: no HTTP status in answer"))?;
    if (200..400).contains(&status) {
        Ok(())
    } else {
        Err(format!("GET {path}: status {status}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    #[test]
    fn docker_host_addresses() {
        assert_eq!(
            docker_host_address("unix:///var/run/docker.sock"),
            "localhost"
        );
        assert_eq!(docker_host_address("tcp://10.1.2.3:2375"), "10.1.2.3");
        assert_eq!(docker_host_address("/var/run/docker.sock"), "localhost");
    }

    async fn serve_once(answer: &'static str) -> u16 {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await;
            let _ = s.write_all(answer.as_bytes()).await;
        });
        port
    }

    #[tokio::test]
    async fn http_status_decides() {
        let ok = serve_once("HTTP/1.0 204 No Content\r\n\r\n").await;
        assert_eq!(http_get("127.0.0.1", ok, "/h").await, Ok(()));
        let bad = serve_once("HTTP/1.1 500 Oops\r\n\r\n").await;
        assert!(
            http_get("127.0.0.1", bad, "h")
                .await
                .unwrap_err()
                .contains("500")
        );
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let closed = l.local_addr().unwrap().port();
        drop(l);
        assert!(http_get("127.0.0.1", closed, "/").await.is_err());
    }
}
