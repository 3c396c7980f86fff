//! Generates the protobuf/gRPC code with protox (no system `protoc`), when the `grpc` feature
//! is on: `proto/agent.proto` (the dispatcher protocol, module `pb`) and `proto/helios.proto`
//! (the public API, module `v1`), plus the encoded descriptor set of `helios.proto` for the
//! gRPC reflection service (`$OUT_DIR/helios_v1_descriptor.bin`).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_dir = "../../proto";
    println!("cargo:rerun-if-changed={proto_dir}/agent.proto");
    println!("cargo:rerun-if-changed={proto_dir}/helios.proto");
    if std::env::var_os("CARGO_FEATURE_GRPC").is_none() {
        return Ok(());
    }
    let fds = protox::compile([format!("{proto_dir}/agent.proto")], [proto_dir])?;
    // Agents hold their stream for life: small buffers (see `src/session_codec.rs`).
    tonic_prost_build::configure()
        .codec_path("crate::session_codec::SessionCodec")
        .compile_fds(fds)?;

    let mut compiler = protox::Compiler::new([proto_dir])?;
    compiler
        .include_source_info(true)
        .open_file("helios.proto")?;
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("helios_v1_descriptor.bin"),
        compiler.encode_file_descriptor_set(),
    )?;
    tonic_prost_build::configure().compile_fds(compiler.file_descriptor_set())?;
    Ok(())
}
