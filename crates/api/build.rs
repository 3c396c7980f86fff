//! Generates the dispatcher protocol code from `proto/agent.proto` with protox (no system
//! `protoc`), when the `grpc` feature is on.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_dir = "../../proto";
    println!("cargo:rerun-if-changed={proto_dir}/agent.proto");
    if std::env::var_os("CARGO_FEATURE_GRPC").is_none() {
        return Ok(());
    }
    let fds = protox::compile([format!("{proto_dir}/agent.proto")], [proto_dir])?;
    tonic_prost_build::configure().compile_fds(fds)?;
    Ok(())
}
