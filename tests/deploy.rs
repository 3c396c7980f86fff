//! `deploy/` as an operator uses it: `deploy/build-images.sh` builds the images FROM scratch
//! (no registry), `docker-compose -f deploy/docker-compose.yml up -d` starts three masters and
//! two agents, and the cluster forms. The images are built from the debug binaries the harness
//! already has (`--profile dev --no-build`), under a tag and a compose project of their own, and
//! everything the test creates (containers, network, volumes, image tags) is removed at the end,
//! also when it fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use helios_testkit::api::{call, wait_hosts_up};
use helios_testkit::{bin_dir, eventually, free_port};

const WAIT: Duration = Duration::from_secs(90);
const IMAGES: [&str; 3] = ["helios-master", "helios-agent", "helios-cli"];

/// A compose project and the image tag it runs; dropping it takes down the project with its
/// volumes and removes the tags (printing the members' logs first when the test failed).
struct Compose {
    /// `docker-compose -p`: unique, so parallel runs and an operator's own `helios` project
    /// never share containers, networks or volumes.
    project: String,
    /// The images' tag (`HELIOS_IMAGE_TAG`), unique for the same reason.
    tag: String,
    /// master1's published HTTP port on 127.0.0.1 (`HELIOS_PUBLISH_HTTP`).
    http_port: u16,
    /// `deploy/` in this checkout.
    deploy: PathBuf,
}

impl Compose {
    fn new(deploy: PathBuf) -> Compose {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let unique = format!("{}x{nanos:x}", std::process::id());
        Compose {
            project: format!("heliostest{unique}"),
            tag: format!("systest-{unique}"),
            http_port: free_port(),
            deploy,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// Runs `docker-compose -p <project> -f deploy/docker-compose.yml <args>`.
    fn run(&self, args: &[&str]) -> Output {
        Command::new("docker-compose")
            .args(["-p", &self.project, "-f"])
            .arg(self.deploy.join("docker-compose.yml"))
            .args(args)
            .env("HELIOS_IMAGE_TAG", &self.tag)
            .env(
                "HELIOS_PUBLISH_HTTP",
                format!("127.0.0.1:{}", self.http_port),
            )
            .output()
            .expect("run docker-compose (Debian package docker-compose; ./test.sh installs it)")
    }

    /// Like [`Compose::run`], panicking with the output when the command fails.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "docker-compose {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Compose {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let logs = self.run(&["logs", "--no-color", "--tail", "30"]);
            eprintln!(
                "compose project {} logs:\n{}",
                self.project,
                String::from_utf8_lossy(&logs.stdout)
            );
        }
        let down = self.run(&["down", "--volumes", "--remove-orphans", "--timeout", "5"]);
        if !down.status.success() {
            eprintln!(
                "docker-compose down failed: {}",
                String::from_utf8_lossy(&down.stderr)
            );
        }
        for image in IMAGES {
            let _ = Command::new("docker")
                .args(["rmi", &format!("{image}:{}", self.tag)])
                .output();
        }
    }
}

/// The cargo profile whose binaries are in `dir` (`target/debug` holds the dev profile's).
fn profile_of(dir: &Path) -> String {
    match dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => "dev".into(),
        Some(other) => other.into(),
    }
}

/// `build-images.sh --cli` builds the three images; `up -d` starts the compose cluster; master1
/// (published on a port of its own) becomes ready with a leader all members know, every master
/// is listed, both agents are UP; the CLI image reaches the masters over the compose network.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compose_cluster_forms_from_built_images() {
    let bins = bin_dir();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives in the workspace");
    let compose = Compose::new(repo.join("deploy"));

    let build = Command::new(repo.join("deploy/build-images.sh"))
        .args(["--no-build", "--cli", "--profile", &profile_of(bins)])
        .arg("--target-dir")
        .arg(bins.parent().expect("target dir"))
        .args(["--tag", &compose.tag])
        .output()
        .expect("run deploy/build-images.sh");
    assert!(
        build.status.success(),
        "deploy/build-images.sh failed:\n{}",
        String::from_utf8_lossy(&build.stderr)
    );

    compose.ok(&["up", "-d"]);
    let c = reqwest::Client::new();
    let url = compose.url();
    let ready = eventually(WAIT, "/readyz READY with a leader", || async {
        let (s, v) = call(c.get(format!("{url}/readyz"))).await;
        (s == 200 && v["status"] == "READY" && v["leader"].is_u64()).then_some(v)
    })
    .await;
    assert!(
        ready["leaderName"]
            .as_str()
            .is_some_and(|n| n.starts_with("master")),
        "{ready}"
    );
    eventually(WAIT, "three masters listed", || async {
        let (s, v) = call(c.get(format!("{url}/masters"))).await;
        (s == 200 && v == serde_json::json!(["master1", "master2", "master3"])).then_some(())
    })
    .await;
    wait_hosts_up(&c, &url, &["agent1", "agent2"]).await;

    // The CLI image, inside the compose network, as deploy/README.md shows it.
    let hosts = compose.ok(&["run", "--rm", "cli", "hosts", "-q"]);
    let mut names: Vec<&str> = hosts.lines().map(|l| l.trim_end_matches('.')).collect();
    names.sort();
    assert_eq!(names, ["agent1", "agent2"], "{hosts}");
}
