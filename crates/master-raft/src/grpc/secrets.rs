//! Hiding the env values a job marks secret (`secretEnv`) from gRPC callers whose token may
//! only read (issue 13): every answer that carries a job or a task status goes through
//! [`HideSecrets`] before it is sent, when the access layer marked the call
//! ([`crate::control::tokens::ReadOnly`]). REST answers are covered by the access layer itself.

use helios_api::model::job::SECRET_PLACEHOLDER;
use helios_api::v1;
use tonic::Request;

use crate::control::tokens::ReadOnly;

/// Whether the call's token may only read: its answers hide secret env values.
pub fn read_only<T>(req: &Request<T>) -> bool {
    req.extensions().get::<ReadOnly>().is_some()
}

/// A message that may carry secret env values.
pub trait HideSecrets {
    /// Replaces every secret env value in the message with the placeholder.
    fn hide_secrets(&mut self);

    /// The message, with its secrets hidden when `hide`.
    fn shown(mut self, hide: bool) -> Self
    where
        Self: Sized,
    {
        if hide {
            self.hide_secrets();
        }
        self
    }
}

fn hide_env(env: &mut std::collections::HashMap<String, String>, secret: &[String]) {
    for key in secret {
        if let Some(value) = env.get_mut(key) {
            *value = SECRET_PLACEHOLDER.to_string();
        }
    }
}

impl<T: HideSecrets> HideSecrets for Option<T> {
    fn hide_secrets(&mut self) {
        if let Some(inner) = self {
            inner.hide_secrets();
        }
    }
}

impl<T: HideSecrets> HideSecrets for Vec<T> {
    fn hide_secrets(&mut self) {
        self.iter_mut().for_each(HideSecrets::hide_secrets);
    }
}

impl HideSecrets for v1::Job {
    fn hide_secrets(&mut self) {
        hide_env(&mut self.env, &self.secret_env);
    }
}

impl HideSecrets for v1::TaskStatus {
    fn hide_secrets(&mut self) {
        if let Some(job) = &mut self.job {
            hide_env(&mut self.env, &job.secret_env);
            job.hide_secrets();
        }
    }
}

impl HideSecrets for v1::TaskStatusEvent {
    fn hide_secrets(&mut self) {
        self.status.hide_secrets();
    }
}

impl HideSecrets for v1::JobEntry {
    fn hide_secrets(&mut self) {
        self.job.hide_secrets();
    }
}

impl HideSecrets for v1::JobStatus {
    fn hide_secrets(&mut self) {
        self.job.hide_secrets();
        self.task_statuses
            .values_mut()
            .for_each(HideSecrets::hide_secrets);
    }
}

impl HideSecrets for v1::JobStatusResponse {
    fn hide_secrets(&mut self) {
        self.job_status.hide_secrets();
    }
}

impl HideSecrets for v1::HostStatus {
    fn hide_secrets(&mut self) {
        self.statuses
            .values_mut()
            .for_each(HideSecrets::hide_secrets);
    }
}

impl HideSecrets for v1::HostStatusResponse {
    fn hide_secrets(&mut self) {
        self.host_status.hide_secrets();
    }
}

impl HideSecrets for v1::WatchResponse {
    fn hide_secrets(&mut self) {
        for event in &mut self.events {
            match &mut event.object {
                Some(v1::watch_event::Object::Job(job)) => job.hide_secrets(),
                Some(v1::watch_event::Object::TaskStatus(status)) => status.hide_secrets(),
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_values_are_hidden_in_jobs_and_task_statuses() {
        let job = v1::Job {
            env: [("PASSWORD", "hunter2"), ("MODE", "prod")]
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .into(),
            secret_env: vec!["PASSWORD".into()],
            ..v1::Job::default()
        };
        let status = v1::TaskStatus {
            env: job.env.clone(),
            job: Some(job.clone()),
            ..v1::TaskStatus::default()
        };
        let host = v1::HostStatusResponse {
            host_status: Some(v1::HostStatus {
                statuses: [("j".to_string(), status)].into(),
                ..v1::HostStatus::default()
            }),
            ..v1::HostStatusResponse::default()
        };
        let kept = host.clone().shown(false);
        assert_eq!(kept, host);
        let shown = host.shown(true);
        let text = format!("{shown:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("prod"), "{text}");
    }
}
