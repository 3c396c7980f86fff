//! Hiding the env values a job marks secret (`secretEnv`) from callers that may only read:
//! on the model types before they are encoded (gRPC), and on any JSON answer that holds jobs
//! or task statuses (REST), so that a new endpoint is covered without knowing of it.

use serde_json::Value;

use crate::model::job::{Job, SECRET_PLACEHOLDER};
use crate::model::task_status::TaskStatus;

impl Job {
    /// Replaces the values of the secret env keys with [`SECRET_PLACEHOLDER`].
    pub fn redact_secrets(&mut self) {
        redact_env(&mut self.env, &self.secret_env);
    }
}

impl TaskStatus {
    /// Hides the job's secret env values, in the job and in the env the container was given.
    pub fn redact_secrets(&mut self) {
        redact_env(&mut self.env, &self.job.secret_env);
        self.job.redact_secrets();
    }
}

fn redact_env(
    env: &mut std::collections::BTreeMap<String, String>,
    secret: &std::collections::BTreeSet<String>,
) {
    for key in secret {
        if let Some(value) = env.get_mut(key) {
            *value = SECRET_PLACEHOLDER.to_string();
        }
    }
}

/// Hides secret env values everywhere in a JSON answer: in every object with `secretEnv` and
/// `env` (a job), and in the `env` of every object whose `job` has `secretEnv` (a task
/// status). Answers whether anything was hidden.
pub fn redact_json(value: &mut Value) -> bool {
    let mut changed = false;
    match value {
        Value::Object(object) => {
            let own = secret_keys(object.get("secretEnv"));
            let of_job = secret_keys(object.get("job").and_then(|j| j.get("secretEnv")));
            if let Some(Value::Object(env)) = object.get_mut("env") {
                for key in own.iter().chain(&of_job) {
                    if let Some(v) = env.get_mut(key) {
                        *v = Value::from(SECRET_PLACEHOLDER);
                        changed = true;
                    }
                }
            }
            for child in object.values_mut() {
                changed |= redact_json(child);
            }
        }
        Value::Array(items) => {
            for item in items {
                changed |= redact_json(item);
            }
        }
        _ => {}
    }
    changed
}

fn secret_keys(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|keys| {
            keys.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn secret_values_are_hidden_in_jobs_and_task_statuses_at_any_depth() {
        let job = json!({"env": {"PASSWORD": "hunter2", "MODE": "prod"},
                         "secretEnv": ["PASSWORD"]});
        let mut answer = json!({
            "j:1:abc": {"job": job, "taskStatuses": {"h1": {
                "job": job, "env": {"PASSWORD": "hunter2", "HOST_VAR": "x"}}}},
            "plain": {"env": {"PASSWORD": "shown"}}
        });
        assert!(redact_json(&mut answer));
        let text = answer.to_string();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("prod") && text.contains("shown"), "{text}");
        let mut plain = json!({"env": {"A": "1"}});
        assert!(!redact_json(&mut plain));

        let mut typed: Job = serde_json::from_value(job).unwrap();
        typed.redact_secrets();
        assert_eq!(typed.env["PASSWORD"], SECRET_PLACEHOLDER);
        assert_eq!(typed.env["MODE"], "prod");
    }
}
