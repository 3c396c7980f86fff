//! Restart throttling (Helios's `RestartPolicy` and `FlapController`, reference §4.1), as
//! pure functions of injected instants.
//!
//! A job is *flapping* when its last 10 runs (RUNNING to exit), plus the current run if any,
//! add up to less than 60 s. A flapping job restarts after 30 s instead of 1 s; the state is
//! re-evaluated while the container runs and drops back to `NO` once the window is covered.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use helios_api::ThrottleState;

/// Exits remembered by the flap controller.
pub const FLAP_RESTART_COUNT: usize = 10;
/// The run time those exits must reach not to count as flapping.
pub const FLAP_WINDOW: Duration = Duration::from_secs(60);
/// The floor of every restart delay.
pub const MIN_RESTART_DELAY: Duration = Duration::from_secs(1);

/// The delay before the next container life under `throttle`: `max(1 s, d)` with `d` =
/// 100 ms (`NO`), 30 s (`FLAPPING`), 2 min (`IMAGE_MISSING`), 30 s (`IMAGE_PULL_FAILED`).
pub fn restart_delay(throttle: ThrottleState) -> Duration {
    let d = match throttle {
        ThrottleState::No => Duration::from_millis(100),
        ThrottleState::Flapping => Duration::from_secs(30),
        ThrottleState::ImageMissing => Duration::from_secs(120),
        ThrottleState::ImagePullFailed => Duration::from_secs(30),
    };
    d.max(MIN_RESTART_DELAY)
}

/// Remembers how long the last runs of a job lasted.
#[derive(Debug, Clone, Default)]
pub struct FlapController {
    /// Durations of the last [`FLAP_RESTART_COUNT`] runs, oldest first.
    exits: VecDeque<Duration>,
    /// When the current run started, if a container runs.
    started: Option<Instant>,
}

impl FlapController {
    /// A container reached RUNNING (or was adopted) at `now`.
    pub fn started(&mut self, now: Instant) {
        self.started = Some(now);
    }

    /// The running container exited at `now`.
    pub fn exited(&mut self, now: Instant) {
        if let Some(start) = self.started.take() {
            if self.exits.len() == FLAP_RESTART_COUNT {
                self.exits.pop_front();
            }
            self.exits.push_back(now.saturating_duration_since(start));
        }
    }

    /// The container was stopped on purpose: its run does not count.
    pub fn stopped(&mut self) {
        self.started = None;
    }

    fn total(&self, now: Instant) -> Duration {
        let current = self
            .started
            .map(|s| now.saturating_duration_since(s))
            .unwrap_or_default();
        self.exits.iter().sum::<Duration>() + current
    }

    /// Whether the job flaps at `now`.
    pub fn is_flapping(&self, now: Instant) -> bool {
        self.exits.len() >= FLAP_RESTART_COUNT && self.total(now) < FLAP_WINDOW
    }

    /// While flapping with a running container: how long until it stops flapping.
    pub fn time_to_unflap(&self, now: Instant) -> Option<Duration> {
        if self.started.is_some() && self.is_flapping(now) {
            Some(FLAP_WINDOW - self.total(now))
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_have_a_one_second_floor() {
        assert_eq!(restart_delay(ThrottleState::No), Duration::from_secs(1));
        assert_eq!(
            restart_delay(ThrottleState::Flapping),
            Duration::from_secs(30)
        );
        assert_eq!(
            restart_delay(ThrottleState::ImageMissing),
            Duration::from_secs(120)
        );
        assert_eq!(
            restart_delay(ThrottleState::ImagePullFailed),
            Duration::from_secs(30)
        );
    }

    #[test]
    fn ten_short_runs_flap_and_a_long_run_unflaps() {
        let t0 = Instant::now();
        let mut f = FlapController::default();
        let mut now = t0;
        for i in 0..FLAP_RESTART_COUNT {
            assert!(!f.is_flapping(now), "after {i} exits");
            f.started(now);
            now += Duration::from_secs(2);
            f.exited(now);
        }
        assert!(f.is_flapping(now));
        // Running again: 20 s of recorded runs, so 40 s more clear the flag.
        f.started(now);
        assert_eq!(f.time_to_unflap(now), Some(Duration::from_secs(40)));
        assert!(f.is_flapping(now + Duration::from_secs(39)));
        assert!(!f.is_flapping(now + Duration::from_secs(40)));
        assert_eq!(f.time_to_unflap(now + Duration::from_secs(41)), None);
    }

    #[test]
    fn long_runs_never_flap() {
        let mut f = FlapController::default();
        let mut now = Instant::now();
        for _ in 0..20 {
            f.started(now);
            now += Duration::from_secs(7);
            f.exited(now);
        }
        assert!(!f.is_flapping(now));
    }
}
