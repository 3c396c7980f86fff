//! The retry loop of a client write: run it where the leader is until there is an answer, and
//! tell "nothing was written" apart from "it may have been written".

use std::future::Future;
use std::time::Duration;

use openraft::async_runtime::WatchReceiver;
use tokio::sync::watch;
use tokio::time::{Instant, timeout};

use crate::node::Node;

/// How long forwarding waits to connect to the leader (REST and gRPC): a leader that cannot
/// be reached in this time is a quick, certain "not sent".
pub const FORWARD_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// How long a master keeps trying one client write before it answers 503 or 504. Well under
/// the CLI's own per-request timeout (60 s), so the client hears why.
pub const BUDGET: Duration = Duration::from_secs(10);

/// Longest wait for one attempt: a leader that does not answer in this time is probably gone
/// (an election takes about a second), and the write is retried with its key elsewhere.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);

/// First pause between two attempts; it doubles up to [`MAX_PAUSE`], and a change of leader
/// cuts it short.
const FIRST_PAUSE: Duration = Duration::from_millis(25);

/// The least budget worth another attempt: enough to connect to a leader
/// ([`FORWARD_CONNECT_TIMEOUT`]) and hear its answer.
const MIN_ATTEMPT: Duration = Duration::from_millis(1500);
const MAX_PAUSE: Duration = Duration::from_millis(400);

/// Where an attempt runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// This member leads: run the write here.
    Here,
    /// Forward the write to the leader at this HTTP address.
    Leader(String),
    /// No attempt can be made (why): answer "not proposed".
    Nowhere(&'static str),
}

/// What one attempt produced.
#[derive(Debug)]
pub enum Attempt<T> {
    /// A final answer, success or refusal: returned to the client.
    Answer(T),
    /// Surely nothing was proposed; retried, and returned if the budget runs out.
    NotProposed(T),
    /// The write may have been applied (what happened); retried with the same key.
    Unknown(String),
}

/// One transport's way of running a write and of saying that its outcome is unknown.
pub trait Transport {
    /// The answer sent to the client (an HTTP response, a gRPC result).
    type Answer;

    /// Runs the write once at `route`.
    fn attempt(&mut self, route: Route) -> impl Future<Output = Attempt<Self::Answer>> + Send;

    /// The answer when the write may or may not have been applied and the budget is spent.
    fn unknown_outcome(&self, detail: &str) -> Self::Answer;

    /// The final answer of a master whose Raft core stopped (`reason`) before the write was
    /// tried: nothing was proposed, and this master will never answer otherwise.
    fn stopped(&self, reason: &str) -> Self::Answer;
}

/// Runs a client write through `transport` until it has an answer or [`BUDGET`] is spent.
///
/// A request that another master `forwarded` here is tried once and never forwarded again
/// (two members with different views of the leader must not bounce it): the master that
/// forwarded it runs the loop.
pub async fn run<T: Transport>(app: &Node, forwarded: bool, mut transport: T) -> T::Answer {
    let deadline = Instant::now() + BUDGET;
    let mut pause = FIRST_PAUSE;
    // Set once an attempt may have been applied: from then on the answer is never 503.
    let mut unknown: Option<String> = None;
    let mut not_proposed: Option<T::Answer> = None;
    loop {
        // A master whose Raft core stopped is exiting: no retry through it can succeed. The
        // client retries with the same key at another master.
        if let Some(reason) = app.fatal() {
            return match unknown {
                Some(detail) => transport.unknown_outcome(&detail),
                None => transport.stopped(&reason),
            };
        }
        let (route, leader) = route(app, forwarded);
        let limit = deadline
            .saturating_duration_since(Instant::now())
            .min(ATTEMPT_TIMEOUT);
        let attempt = timeout(limit, transport.attempt(route));
        // An attempt whose leader has been replaced is abandoned at once (the retry reaches
        // the new leader), instead of waiting out the timeout on a dead or paused one. An
        // attempt that has its answer is never abandoned.
        let outcome = tokio::select! {
            biased;
            outcome = attempt => outcome,
            () = leader_moves_from(app.leader.clone(), leader) => {
                Ok(Attempt::Unknown("the leader changed during the attempt".into()))
            }
        };
        match outcome {
            Ok(Attempt::Answer(answer)) => return answer,
            Ok(Attempt::NotProposed(answer)) => not_proposed = Some(answer),
            Ok(Attempt::Unknown(detail)) => unknown = Some(detail),
            Err(_) => unknown = Some(format!("no answer within {} ms", limit.as_millis())),
        }
        if !forwarded {
            pause_before_retry(app.leader.clone(), &mut pause, deadline).await;
        }
        // Too little time left for another attempt to connect and be answered.
        if forwarded || deadline.saturating_duration_since(Instant::now()) < MIN_ATTEMPT {
            return match (unknown, not_proposed) {
                (None, Some(answer)) => answer,
                (Some(detail), _) => transport.unknown_outcome(&detail),
                (None, None) => transport.unknown_outcome("no attempt was made"),
            };
        }
    }
}

/// Where this member would run a write now, and the leader that choice rests on (read from
/// the channel [`leader_moves_from`] watches, so the attempt is abandoned exactly when that
/// leader changes).
fn route(app: &Node, forwarded: bool) -> (Route, Option<u64>) {
    let leader = *app.leader.borrow();
    let metrics = app.raft.metrics();
    let membership = &metrics.borrow_watched().membership_config;
    let node = leader.and_then(|id| membership.membership().get_node(&id).cloned());
    let route = match (leader, node) {
        (Some(id), _) if id == app.id => Route::Here,
        (Some(_), Some(_)) if forwarded => {
            Route::Nowhere("this master was sent a forwarded request but does not lead")
        }
        (Some(_), Some(node)) => Route::Leader(node.http_addr),
        (Some(_), None) => Route::Nowhere("the leader is not in this master's membership yet"),
        (None, _) => Route::Nowhere("no leader is known; the masters may be electing one"),
    };
    (route, leader)
}

/// Returns once this member's view of the leader is no longer `leader`.
async fn leader_moves_from(mut leaders: watch::Receiver<Option<u64>>, leader: Option<u64>) {
    if leaders.wait_for(|now| *now != leader).await.is_err() {
        // The Raft core stopped: the leader will never change.
        std::future::pending::<()>().await;
    }
}

/// Waits before the next attempt: until the leader changes, or the pause (doubled each time)
/// ends, whichever comes first, never past the deadline.
async fn pause_before_retry(
    leaders: watch::Receiver<Option<u64>>,
    pause: &mut Duration,
    deadline: Instant,
) {
    let leader = *leaders.borrow();
    let wait = (*pause).min(deadline.saturating_duration_since(Instant::now()));
    *pause = (*pause * 2).min(MAX_PAUSE);
    let _ = timeout(wait, leader_moves_from(leaders, leader)).await;
}
