//! Errors of the gRPC API: every refusal and error becomes a gRPC status here, with Helios's
//! status word in the metadata `x-helios-status`.

use axum::http::StatusCode;
use helios_api::client::{ERRORS_METADATA, LEADER_METADATA, STATUS_METADATA};
use helios_api::idempotency::{IDEMPOTENCY_KEY_REUSED, UNKNOWN_OUTCOME};
use tonic::metadata::{MetadataValue, errors::InvalidMetadataValue};
use tonic::{Code, Status};

use crate::control::{self, Outcome};
use crate::node::NodeError;

/// The gRPC code of a Helios status word (the `status` of a REST error body), falling back on
/// the HTTP status the REST gateway would answer. The one place that maps refusals to codes.
pub fn code_for(word: &str, http: Option<StatusCode>) -> Code {
    match word {
        "JOB_NOT_FOUND"
        | "HOST_NOT_FOUND"
        | "JOB_NOT_DEPLOYED"
        | "JOB_ID_NOT_FOUND"
        | "DEPLOYMENT_GROUP_NOT_FOUND"
        | "NOT_FOUND" => Code::NotFound,
        "FORBIDDEN" => Code::PermissionDenied,
        // `CONFLICT`: a deployment group of that name exists with other host selectors.
        "JOB_ALREADY_EXISTS" | "JOB_ALREADY_DEPLOYED" | "CONFLICT" => Code::AlreadyExists,
        "STILL_IN_USE" | "PORT_CONFLICT" => Code::FailedPrecondition,
        "NO_LEADER" | "UNAVAILABLE" => Code::Unavailable,
        // The Raft core of this master stopped: retrying it is pointless.
        "RAFT_STOPPED" => Code::Internal,
        // gRPC's own meaning: the operation may have completed even though it timed out.
        "UNKNOWN_OUTCOME" => Code::DeadlineExceeded,
        "IDEMPOTENCY_KEY_REUSED" => Code::FailedPrecondition,
        // A bound: watches at once on a master (retry later or at another master), deployment
        // groups in the cluster, hosts one rollout plans.
        w if w.starts_with("TOO_MANY_") => Code::ResourceExhausted,
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

/// A refusal with Helios's status word, whose code falls back on the one of the HTTP status
/// the REST gateway answers it with when the word has none of its own.
fn status_as(word: &str, http: StatusCode, message: String) -> Status {
    with_word(Status::new(code_for(word, Some(http)), message), word)
}

fn with_word(mut s: Status, word: &str) -> Status {
    if let Ok(v) = word.parse::<MetadataValue<_>>() {
        s.metadata_mut().insert(STATUS_METADATA, v);
    }
    s
}

/// The one mapping of the core's errors to gRPC: `UNAVAILABLE` only when nothing was written
/// and the client may retry, `DEADLINE_EXCEEDED` (`UNKNOWN_OUTCOME`) when a write may have
/// been applied, `INTERNAL` (`RAFT_STOPPED`) when this master's Raft core stopped.
pub fn from_node(e: NodeError) -> Status {
    let word = match &e {
        NodeError::NotLeader { .. } | NodeError::Unavailable(_) => "NO_LEADER",
        NodeError::UnknownOutcome { .. } => UNKNOWN_OUTCOME,
        NodeError::KeyReused { .. } => IDEMPOTENCY_KEY_REUSED,
        NodeError::Fatal(_) => "RAFT_STOPPED",
    };
    let message = match e {
        NodeError::NotLeader { why, .. } => why,
        NodeError::UnknownOutcome {
            key: Some(key),
            detail,
        } => format!(
            "the write may or may not have been applied ({detail}); retry it with the same \
             idempotency-key {key}"
        ),
        e => e.to_string(),
    };
    status(word, message)
}

/// A use case's error as a gRPC status.
pub fn from_control(e: control::Error) -> Status {
    match e {
        control::Error::Node(e) => from_node(e),
        control::Error::Invalid { word, message } => {
            status_as(word, StatusCode::BAD_REQUEST, message)
        }
        control::Error::NotFound { word, message } => {
            status_as(word, StatusCode::NOT_FOUND, message)
        }
        control::Error::Conflict { word, message } => {
            status_as(word, StatusCode::CONFLICT, message)
        }
        control::Error::Denied { word, message } => status_as(word, StatusCode::FORBIDDEN, message),
        e @ control::Error::Unexpected(_) => status("INTERNAL", e.to_string()),
    }
}

/// A use case's outcome: `Ok` for Helios's `OK`, else the refusal with Helios's status word
/// (the outcome's JSON name) and the outcome's message.
pub fn outcome<S: serde::Serialize>(o: Outcome<S>) -> Result<(), Status> {
    if word_of(&o.status) == "OK" {
        Ok(())
    } else {
        Err(refusal(o))
    }
}

/// A use case's outcome that is not a success as a refusal, with Helios's status word (the
/// outcome's JSON name) and the outcome's message; for outcomes whose successes are not
/// `OK` (`CREATED`, `REMOVED`, …).
pub fn refusal<S: serde::Serialize>(o: Outcome<S>) -> Status {
    status(&word_of(&o.status), o.message)
}

/// The JSON name of a Helios status enum's value.
fn word_of<S: serde::Serialize>(s: &S) -> String {
    serde_json::to_value(s)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "INTERNAL".into())
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
        assert_eq!(code_for("TOO_MANY_WATCHES", None), Code::ResourceExhausted);
        assert_eq!(code_for("DEPLOYMENT_GROUP_NOT_FOUND", None), Code::NotFound);
        assert_eq!(code_for("CONFLICT", None), Code::AlreadyExists);
        assert_eq!(
            code_for("INVALID_ROLLOUT_OPTIONS", None),
            Code::InvalidArgument
        );
        assert_eq!(
            code_for("TOO_MANY_DEPLOYMENT_GROUPS", None),
            Code::ResourceExhausted
        );
        assert_eq!(
            code_for("WHATEVER", Some(StatusCode::BAD_REQUEST)),
            Code::InvalidArgument
        );
        assert_eq!(code_for("WHATEVER", None), Code::Internal);
    }

    #[test]
    fn core_errors_keep_their_word_and_message() {
        let s = from_node(NodeError::Unavailable("electing".into()));
        assert_eq!(s.code(), Code::Unavailable);
        assert_eq!(s.message(), "electing");
        assert_eq!(s.metadata().get(STATUS_METADATA).unwrap(), "NO_LEADER");
        let s = with_leader(s, Some("10.0.0.1:5801"));
        assert_eq!(s.metadata().get(LEADER_METADATA).unwrap(), "10.0.0.1:5801");
    }

    #[test]
    fn outcomes_keep_their_word() {
        use helios_api::{HostDeregisterStatus, JobDeployStatus};
        assert!(
            outcome(Outcome {
                status: JobDeployStatus::Ok,
                message: "ok".into()
            })
            .is_ok()
        );
        let s = outcome(Outcome {
            status: JobDeployStatus::PortConflict,
            message: "port 80".into(),
        })
        .unwrap_err();
        assert_eq!(s.code(), Code::FailedPrecondition);
        assert_eq!(s.metadata().get(STATUS_METADATA).unwrap(), "PORT_CONFLICT");
        let s = outcome(Outcome {
            status: HostDeregisterStatus::NotFound,
            message: "no host h".into(),
        })
        .unwrap_err();
        assert_eq!(s.code(), Code::NotFound);
    }

    #[test]
    fn use_case_errors_fall_back_on_their_kind() {
        let s = from_control(control::Error::invalid("SOME_NEW_WORD", "bad"));
        assert_eq!(s.code(), Code::InvalidArgument);
        assert_eq!(s.metadata().get(STATUS_METADATA).unwrap(), "SOME_NEW_WORD");
        let s = from_control(control::Error::NotFound {
            word: "DEPLOYMENT_GROUP_NOT_FOUND",
            message: "no deployment group g".into(),
        });
        assert_eq!(s.code(), Code::NotFound);
        assert_eq!(s.message(), "no deployment group g");
        let s = refusal(Outcome {
            status: helios_api::CreateDeploymentGroupStatus::Conflict,
            message: "other selectors".into(),
        });
        assert_eq!(s.code(), Code::AlreadyExists);
        assert_eq!(s.metadata().get(STATUS_METADATA).unwrap(), "CONFLICT");
    }

    #[test]
    fn a_stopped_raft_core_is_never_unavailable() {
        let s = from_node(NodeError::Fatal("storage".into()));
        assert_eq!(s.code(), Code::Internal);
        assert_eq!(s.metadata().get(STATUS_METADATA).unwrap(), "RAFT_STOPPED");
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
