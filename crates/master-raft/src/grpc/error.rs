//! Errors of the gRPC API: every refusal and error becomes a gRPC status here, with Helios's
//! status word in the metadata `x-helios-status`.

use axum::http::StatusCode;
use helios_api::client::{ERRORS_METADATA, LEADER_METADATA, STATUS_METADATA};
use tonic::metadata::{MetadataValue, errors::InvalidMetadataValue};
use tonic::{Code, Status};

use crate::gateway::ApiError;
use crate::state::CommandResult;

/// The gRPC code of a Helios status word (the `status` of a REST error body), falling back on
/// the HTTP status the REST gateway would answer. The one place that maps refusals to codes.
pub fn code_for(word: &str, http: Option<StatusCode>) -> Code {
    match word {
        "JOB_NOT_FOUND" | "HOST_NOT_FOUND" | "JOB_NOT_DEPLOYED" | "JOB_ID_NOT_FOUND"
        | "NOT_FOUND" => Code::NotFound,
        "FORBIDDEN" => Code::PermissionDenied,
        "JOB_ALREADY_EXISTS" | "JOB_ALREADY_DEPLOYED" => Code::AlreadyExists,
        "STILL_IN_USE" | "PORT_CONFLICT" => Code::FailedPrecondition,
        "NO_LEADER" | "UNAVAILABLE" => Code::Unavailable,
        // gRPC's own meaning: the operation may have completed even though it timed out.
        "UNKNOWN_OUTCOME" => Code::DeadlineExceeded,
        "IDEMPOTENCY_KEY_REUSED" => Code::FailedPrecondition,
        "INTERNAL" => Code::Internal,
        w if w.starts_with("INVALID_") || w.starts_with("BAD_") || w == "ID_MISMATCH" => {
            Code::InvalidArgument
        }
        _ => match http {
            Some(StatusCode::NOT_FOUND) => Code::NotFound,
            Some(StatusCode::FORBIDDEN) => Code::PermissionDenied,
            Some(StatusCode::SERVICE_UNAVAILABLE) => Code::Unavailable,
            Some(StatusCode::PAYLOAD_TOO_LARGE) => Code::ResourceExhausted,
            Some(s) if s.is_client_error() => Code::InvalidArgument,
            _ => Code::Internal,
        },
    }
}

/// A refusal or error with Helios's status word.
pub fn status(word: &str, message: impl Into<String>) -> Status {
    with_word(Status::new(code_for(word, None), message.into()), word)
}

fn with_word(mut s: Status, word: &str) -> Status {
    if let Ok(v) = word.parse::<MetadataValue<_>>() {
        s.metadata_mut().insert(STATUS_METADATA, v);
    }
    s
}

/// A gateway error (its JSON body names the word and the message) as a gRPC status.
pub fn from_api(e: ApiError) -> Status {
    let word = e.body["status"].as_str().unwrap_or("INTERNAL").to_string();
    let message = e.body["message"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| e.body.to_string());
    with_word(Status::new(code_for(&word, Some(e.status)), message), &word)
}

/// An invalid job: `INVALID_ARGUMENT`, with every validation error in the message and, as a
/// JSON list, in the binary metadata `x-helios-errors-bin`.
pub fn invalid_job(id: Option<&str>, errors: &[String]) -> Status {
    let what = id
        .map(|i| format!("job {i}"))
        .unwrap_or_else(|| "job".into());
    let mut s = status(
        "INVALID_JOB_DEFINITION",
        format!("invalid {what}: {}", errors.join("; ")),
    );
    if let Ok(json) = serde_json::to_vec(errors) {
        s.metadata_mut()
            .insert_bin(ERRORS_METADATA, MetadataValue::from_bytes(&json));
    }
    s
}

/// The refusal a command answered with, for the job `job` on the host `host` (either may be
/// empty when it does not apply).
pub fn refusal(r: CommandResult, host: &str, job: &str) -> Status {
    match r {
        CommandResult::JobNotFound if host.is_empty() => {
            status("JOB_NOT_FOUND", format!("no job {job}"))
        }
        CommandResult::JobNotFound => status(
            "JOB_NOT_FOUND",
            format!("no job {job} (deployed) on host {host}"),
        ),
        CommandResult::HostNotFound => status("HOST_NOT_FOUND", format!("no host {host}")),
        CommandResult::Forbidden => status(
            "FORBIDDEN",
            format!("the token does not match that of job {job}"),
        ),
        CommandResult::StillInUse => status(
            "STILL_IN_USE",
            format!("job {job} is still deployed on some host"),
        ),
        CommandResult::JobAlreadyDeployed => status(
            "JOB_ALREADY_DEPLOYED",
            format!("job {job} is already deployed on {host}"),
        ),
        CommandResult::JobNotDeployed => status(
            "JOB_NOT_DEPLOYED",
            format!("job {job} is not deployed on {host}"),
        ),
        CommandResult::PortConflict { port } => status(
            "PORT_CONFLICT",
            format!("port {port} of job {job} is already reserved on {host}"),
        ),
        CommandResult::JobAlreadyExists { id } => {
            status("JOB_ALREADY_EXISTS", format!("job {id} already exists"))
        }
        other => status("INTERNAL", format!("unexpected command result {other:?}")),
    }
}

/// Adds the leader's HTTP address to an `UNAVAILABLE` status, so the client retries there.
pub fn with_leader(mut s: Status, leader_http: Option<&str>) -> Status {
    if s.code() == Code::Unavailable
        && !s.metadata().contains_key(LEADER_METADATA)
        && let Some(addr) = leader_http
    {
        let v: Result<MetadataValue<_>, InvalidMetadataValue> = addr.parse();
        if let Ok(v) = v {
            s.metadata_mut().insert(LEADER_METADATA, v);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_map_to_codes() {
        assert_eq!(code_for("JOB_NOT_FOUND", None), Code::NotFound);
        assert_eq!(code_for("JOB_ID_NOT_FOUND", None), Code::NotFound);
        assert_eq!(code_for("FORBIDDEN", None), Code::PermissionDenied);
        assert_eq!(code_for("JOB_ALREADY_EXISTS", None), Code::AlreadyExists);
        assert_eq!(code_for("STILL_IN_USE", None), Code::FailedPrecondition);
        assert_eq!(code_for("PORT_CONFLICT", None), Code::FailedPrecondition);
        assert_eq!(code_for("NO_LEADER", None), Code::Unavailable);
        assert_eq!(code_for("INVALID_ID", None), Code::InvalidArgument);
        assert_eq!(code_for("ID_MISMATCH", None), Code::InvalidArgument);
        assert_eq!(
            code_for("WHATEVER", Some(StatusCode::BAD_REQUEST)),
            Code::InvalidArgument
        );
        assert_eq!(code_for("WHATEVER", None), Code::Internal);
    }

    #[test]
    fn api_errors_keep_their_word_and_message() {
        let s = from_api(ApiError::no_leader("electing"));
        assert_eq!(s.code(), Code::Unavailable);
        assert_eq!(s.message(), "electing");
        assert_eq!(s.metadata().get(STATUS_METADATA).unwrap(), "NO_LEADER");
        let s = with_leader(s, Some("10.0.0.1:5801"));
        assert_eq!(s.metadata().get(LEADER_METADATA).unwrap(), "10.0.0.1:5801");
    }

    #[test]
    fn invalid_jobs_list_every_error() {
        let s = invalid_job(Some("a:b:c"), &["one".into(), "two".into()]);
        assert_eq!(s.code(), Code::InvalidArgument);
        assert!(s.message().contains("one; two"));
        let bin = s
            .metadata()
            .get_bin(ERRORS_METADATA)
            .unwrap()
            .to_bytes()
            .unwrap();
        assert_eq!(&bin[..], br#"["one","two"]"#);
    }
}
