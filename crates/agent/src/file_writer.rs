//! A file of the state dir rewritten off the hot path by a thread of its own.
//!
//! [`FileWriter::save`] hands the newest content to the thread and returns at once with a
//! *generation* number; a burst of saves costs one write (atomic replace with fsyncs, see
//! [`crate::persist::write_atomic`]) of the newest content. Whoever must not go on before a
//! given content is on disk waits for its generation ([`Persisted::wait`], async), which fails
//! with the file and the I/O error when the write failed, or for everything saved so far
//! ([`FileWriter::flush`], blocking). A failed write is retried every [`RETRY_FAILED_WRITE`]
//! until it, or newer content, is written. The thread holds only the file's path, never the
//! state dir, so that the state-dir lock is released as soon as the agent drops it.
//!
//! The hand-over is bounded: one content waits in a slot (a newer save replaces it) and the
//! thread's queue holds one wake-up (see [`FileWriter::save`]), so saving never waits for the
//! disk and a writer holds at most two contents, the one being written and the newest.

use std::path::PathBuf;
use std::sync::mpsc::{self, RecvTimeoutError, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

/// How long the thread waits before writing again content whose write failed (unless newer
/// content comes first).
pub const RETRY_FAILED_WRITE: Duration = Duration::from_secs(2);

/// Why a generation is not on disk: the file and the I/O error, or why nothing will write it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PersistError(Arc<str>);

/// What the writer thread has done, for those who wait.
#[derive(Debug, Clone, Default)]
struct Written {
    /// The generation the file holds: it and every earlier one are on disk.
    ok: u64,
    /// The newest generation the thread tried to write, successfully or not.
    tried: u64,
    /// Why writing `tried` failed; `None` when it was written.
    error: Option<PersistError>,
}

/// The newest content not taken by the thread yet, and the next generation.
struct Slot {
    next: u64,
    newest: Option<(u64, Vec<u8>)>,
}

/// The handle of one file's writer thread.
pub struct FileWriter {
    /// The next generation and the newest content, locked together so that the thread always
    /// takes the newest content with its generation.
    slot: Arc<Mutex<Slot>>,
    /// Wakes the thread; holds at most one wake-up (see [`FileWriter::save`]).
    wake: mpsc::SyncSender<()>,
    /// What the thread has written, or failed to.
    written: watch::Receiver<Written>,
    /// The file's path, for errors.
    file: Arc<str>,
}

/// A point to wait for: one generation of a [`FileWriter`] on disk.
#[derive(Clone)]
pub struct Persisted {
    written: watch::Receiver<Written>,
    generation: u64,
    /// The file's path, for the error when the writer ends without writing the generation.
    file: Arc<str>,
}

impl Persisted {
    /// A point that is always reached (nothing to wait for).
    pub fn reached() -> Persisted {
        let (_, written) = watch::channel(Written {
            ok: u64::MAX,
            tried: u64::MAX,
            error: None,
        });
        Persisted {
            written,
            generation: 0,
            file: Arc::from(""),
        }
    }

    /// Resolves once the generation (or a newer one) is on disk. Fails with the file and the
    /// I/O error when the latest attempt at it failed (a retry that succeeds later makes a
    /// later `wait` succeed), or when the writer ended without writing it.
    pub async fn wait(&self) -> Result<(), PersistError> {
        let mut written = self.written.clone();
        let generation = self.generation;
        let _ = written
            .wait_for(|w| w.ok >= generation || (w.tried >= generation && w.error.is_some()))
            .await;
        let w = written.borrow();
        if w.ok >= generation {
            return Ok(());
        }
        Err(w.error.clone().unwrap_or_else(|| {
            PersistError(Arc::from(format!(
                "{} was not written: its writer stopped",
                self.file
            )))
        }))
    }
}

impl FileWriter {
    /// Starts the writer thread of `path`; `what` names the file in log messages.
    pub fn spawn(path: PathBuf, what: &'static str) -> FileWriter {
        let slot = Arc::new(Mutex::new(Slot {
            next: 1,
            newest: None,
        }));
        let (wake, woken) = mpsc::sync_channel::<()>(1);
        let (written_tx, written) = watch::channel(Written::default());
        let spawned = {
            let (slot, path) = (slot.clone(), path.clone());
            std::thread::Builder::new()
                .name(format!("{what}-writer"))
                .spawn(move || run(path, what, slot, woken, written_tx))
        };
        let written = match spawned {
            Ok(_) => written,
            Err(e) => {
                let error = format!("cannot start the writer of {}: {e}", path.display());
                tracing::error!(%error, "cannot persist {what}");
                // Every generation fails at once with the reason.
                watch::channel(Written {
                    ok: 0,
                    tried: u64::MAX,
                    error: Some(PersistError(Arc::from(error))),
                })
                .1
            }
        };
        FileWriter {
            slot,
            wake,
            written,
            file: Arc::from(path.display().to_string()),
        }
    }

    /// Queues `bytes` as the file's new content; returns the point at which it is on disk.
    ///
    /// Never waits: the content replaces any the thread has not taken yet (only the newest
    /// matters, the file is replaced whole), and the thread's queue holds one wake-up. A full
    /// queue means a wake-up is pending, after which the thread takes the newest content, so
    /// a second one would add nothing. That bound keeps memory at two contents whatever the
    /// rate of saves, and since `save` runs under the status hub's and the worker's locks on
    /// async workers, it must not wait for the disk; nor can it deadlock with the thread,
    /// which takes the slot's lock only to empty it and never waits for a saver.
    pub fn save(&self, bytes: Vec<u8>) -> Persisted {
        let generation = {
            let mut slot = self.slot.lock().unwrap_or_else(|p| p.into_inner());
            let generation = slot.next;
            slot.next += 1;
            slot.newest = Some((generation, bytes));
            generation
        };
        match self.wake.try_send(()) {
            Ok(()) | Err(TrySendError::Full(())) => {}
            // The thread is gone: `wait` reports it.
            Err(TrySendError::Disconnected(())) => {}
        }
        self.persisted(generation)
    }

    fn persisted(&self, generation: u64) -> Persisted {
        Persisted {
            written: self.written.clone(),
            generation,
            file: self.file.clone(),
        }
    }

    /// Blocks until everything saved so far was written, or its write failed (the thread
    /// logs the failure). Never call it on an async worker.
    pub fn flush(&self) {
        let last = self.slot.lock().unwrap_or_else(|p| p.into_inner()).next - 1;
        let mut written = self.written.clone();
        let _ = futures::executor::block_on(written.wait_for(|w| w.tried >= last));
    }
}

/// The writer thread: takes the newest content at each wake-up and writes it; retries a failed
/// write every [`RETRY_FAILED_WRITE`] until it or newer content is written. Ends once the
/// handle is dropped, after one attempt at the content it left.
fn run(
    path: PathBuf,
    what: &'static str,
    slot: Arc<Mutex<Slot>>,
    woken: mpsc::Receiver<()>,
    written: watch::Sender<Written>,
) {
    // Content whose write failed, to write again.
    let mut failed: Option<(u64, Vec<u8>)> = None;
    loop {
        let wake = match failed {
            Some(_) => woken.recv_timeout(RETRY_FAILED_WRITE),
            None => woken.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        let gone = wake == Err(RecvTimeoutError::Disconnected);
        let newest = slot.lock().unwrap_or_else(|p| p.into_inner()).newest.take();
        // Newer content replaces the failed one.
        if let Some((generation, bytes)) = newest.or(failed.take()) {
            match crate::persist::write_atomic(&path, &bytes) {
                Ok(()) => {
                    if written.borrow().error.is_some() {
                        tracing::info!(file = %path.display(), "{what} persisted again");
                    }
                    written.send_replace(Written {
                        ok: generation,
                        tried: generation,
                        error: None,
                    });
                }
                Err(e) => {
                    let error = format!("cannot write {}: {e}", path.display());
                    let again = written
                        .borrow()
                        .error
                        .as_ref()
                        .is_some_and(|previous| *previous.0 == *error);
                    if !again {
                        tracing::error!(%error, "cannot persist {what}; retrying");
                    }
                    written.send_modify(|w| {
                        w.tried = generation;
                        w.error = Some(PersistError(Arc::from(error)));
                    });
                    failed = Some((generation, bytes));
                }
            }
        }
        if gone {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn saves_coalesce_and_generations_are_awaited() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.json");
        let writer = FileWriter::spawn(path.clone(), "test");
        let mut last = None;
        for i in 0..50 {
            last = Some(writer.save(format!("{i}").into_bytes()));
        }
        last.unwrap().wait().await.unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "49");
        let p = writer.save(b"final".to_vec());
        tokio::task::spawn_blocking(move || writer.flush())
            .await
            .unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "final");
        // Already reached: returns at once.
        p.wait().await.unwrap();
        Persisted::reached().wait().await.unwrap();
    }

    /// A failed write fails its waiters with the file and the error, is retried, and a wait
    /// after the retry succeeded passes.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_write_fails_its_waiters_until_a_retry_succeeds() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing");
        let path = missing.join("f.json");
        let writer = FileWriter::spawn(path.clone(), "test");
        let saved = writer.save(b"ports".to_vec());
        let error = saved.wait().await.unwrap_err().to_string();
        assert!(
            error.starts_with(&format!("cannot write {}: ", path.display())),
            "{error}"
        );
        assert!(error.contains("No such file or directory"), "{error}");
        // A flush does not hang on a failing disk.
        let flushed = tokio::task::spawn_blocking(move || {
            writer.flush();
            writer
        });
        let writer = flushed.await.unwrap();
        std::fs::create_dir(&missing).unwrap();
        let deadline = tokio::time::Instant::now() + 5 * RETRY_FAILED_WRITE;
        while saved.wait().await.is_err() {
            assert!(tokio::time::Instant::now() < deadline, "never retried");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "ports");
        drop(writer);
    }
}
