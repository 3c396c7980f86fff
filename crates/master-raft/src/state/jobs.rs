//! Job commands: create and remove.

use helios_api::Job;

use super::{CommandResult, State, StoredJob, Versioned, job_keys};

impl State {
    pub(super) fn create_job(&mut self, index: u64, job: &Job) -> CommandResult {
        let (id, name_version) = job_keys(job);
        if self.jobs.contains_key(&id) || self.job_refs.contains_key(&name_version) {
            return CommandResult::JobAlreadyExists { id };
        }
        self.job_refs.insert(name_version, id.clone());
        self.secret_env_seen |= !job.secret_env.is_empty();
        self.jobs
            .insert(id.clone(), Versioned::new(index, StoredJob::new(job)));
        CommandResult::JobCreated { id }
    }

    pub(super) fn remove_job(&mut self, id: &str, token: &str) -> CommandResult {
        let Some(job) = self.jobs.get(id) else {
            return CommandResult::JobNotFound;
        };
        if job.value.token() != token {
            return CommandResult::Forbidden;
        }
        if self.is_deployed(id) {
            return CommandResult::StillInUse;
        }
        let (_, name_version) = job_keys(&job.value.job());
        self.jobs.remove(id);
        self.job_refs.remove(&name_version);
        self.history.remove(id);
        CommandResult::Ok
    }
}
