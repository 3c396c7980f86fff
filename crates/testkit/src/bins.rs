//! The project's binaries (`helios-master`, `helios`, `helios-agent`): built by cargo once per
//! test process, so that a test file run alone never uses a missing or stale binary, in the
//! profile the test itself was built with or in release; or found on disk without building,
//! as the benchmark does with the release build next to its own executable.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use anyhow::{Context, bail};

/// Which build of the binaries to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// `cargo build` (`target/debug`).
    Debug,
    /// `cargo build --release` (`target/release`): for timings close to production.
    Release,
}

impl Profile {
    /// The profile this executable was built with: [`Profile::Release`] when it lives in
    /// `target/release` (`cargo test --release`), [`Profile::Debug`] otherwise.
    pub fn current() -> Profile {
        if this_profile_dir()
            .file_name()
            .is_some_and(|n| n == "release")
        {
            Profile::Release
        } else {
            Profile::Debug
        }
    }

    fn dir_name(self) -> &'static str {
        match self {
            Profile::Debug => "debug",
            Profile::Release => "release",
        }
    }
}

/// `target/<profile>` of this executable (a test binary lives in `target/<profile>/deps`).
fn this_profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test exe path");
    let dir = exe.parent().expect("exe dir");
    match dir.file_name() {
        Some(name) if name == "deps" => dir.parent().expect("target dir").to_path_buf(),
        _ => dir.to_path_buf(),
    }
}

/// Builds the binaries once per process and profile (`cargo build --bins` of the master, the
/// CLI and the agent) and returns the directory that holds them.
pub fn build(profile: Profile) -> &'static Path {
    static DEBUG: OnceLock<PathBuf> = OnceLock::new();
    static RELEASE: OnceLock<PathBuf> = OnceLock::new();
    let cell = match profile {
        Profile::Debug => &DEBUG,
        Profile::Release => &RELEASE,
    };
    cell.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "--quiet"]);
        if profile == Profile::Release {
            cmd.arg("--release");
        }
        let status = cmd
            .args(["-p", "helios-master-raft", "-p", "helios-cli"])
            .args(["-p", "helios-agent", "--bins"])
            .status()
            .expect("run cargo build");
        assert!(status.success(), "building the binaries failed");
        let here = this_profile_dir();
        if Profile::current() == profile {
            here
        } else {
            here.parent().expect("target dir").join(profile.dir_name())
        }
    })
}

/// The directory of the binaries built for this test's own profile (see [`build`]).
pub fn bin_dir() -> &'static Path {
    build(Profile::current())
}

/// The path of one of the project's binaries, built for this test's profile.
pub fn bin(name: &str) -> PathBuf {
    bin_dir().join(name)
}

/// Finds an already built `name` in `dir`, or next to this executable when `dir` is `None`
/// (the benchmark's `target/release`); never builds.
pub fn installed(dir: Option<&Path>, name: &str) -> anyhow::Result<PathBuf> {
    let dir = match dir {
        Some(d) => d.to_path_buf(),
        None => std::env::current_exe()
            .context("cannot find this executable's path")?
            .parent()
            .context("executable has no parent directory")?
            .to_path_buf(),
    };
    let candidate = dir.join(name);
    if candidate.is_file() {
        return Ok(candidate);
    }
    bail!(
        "no {name} in {} (build it with `cargo build --release -p helios-master-raft -p \
         helios-agent`, or name another directory)",
        dir.display()
    )
}
