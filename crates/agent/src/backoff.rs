//! Capped, jittered exponential backoff (Helios's `BoundedRandomExponentialBackoff`): the
//! first delay is the minimum, each next one is the previous times a random factor in
//! 1.5–2.5, never more than the maximum. Used for reconnects, Docker retries and health
//! checks; it only computes delays and never sleeps.

use std::time::Duration;

use rand::Rng;

/// A sequence of growing, jittered delays.
#[derive(Debug, Clone)]
pub struct Backoff {
    /// First delay.
    min: Duration,
    /// Cap.
    max: Duration,
    /// The last delay handed out; `None` before the first.
    last: Option<Duration>,
}

impl Backoff {
    /// A backoff from `min` up to `max`.
    pub fn new(min: Duration, max: Duration) -> Backoff {
        Backoff {
            min,
            max: max.max(min),
            last: None,
        }
    }

    /// The next delay.
    pub fn next_delay(&mut self) -> Duration {
        let next = match self.last {
            None => self.min,
            Some(last) => {
                let factor = rand::rng().random_range(1.5..2.5);
                last.mul_f64(factor).clamp(self.min, self.max)
            }
        };
        self.last = Some(next);
        next
    }

    /// Starts again from the minimum (after a success).
    pub fn reset(&mut self) {
        self.last = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_within_bounds_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
        assert_eq!(b.next_delay(), Duration::from_millis(200));
        let second = b.next_delay();
        assert!(second >= Duration::from_millis(300) && second <= Duration::from_millis(500));
        for _ in 0..20 {
            assert!(b.next_delay() <= Duration::from_secs(5));
        }
        assert_eq!(b.next_delay(), Duration::from_secs(5));
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(200));
    }
}
