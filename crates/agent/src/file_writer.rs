//! A file of the state dir rewritten off the hot path by a thread of its own.
//!
//! [`FileWriter::save`] hands the newest content to the thread and returns at once with a
//! *generation* number; a burst of saves costs one write (atomic replace with fsyncs, see
//! [`crate::persist::write_atomic`]) of the newest content. Whoever must not go on before a
//! given content is on disk waits for its generation ([`Persisted::wait`], async) or for
//! everything saved so far ([`FileWriter::flush`], blocking). The thread holds only the file's
//! path, never the state dir, so that the state-dir lock is released as soon as the agent
//! drops it.

use std::path::PathBuf;
use std::sync::Mutex;

use tokio::sync::watch;

/// Work for the writer thread.
enum Msg {
    /// The newest content and its generation.
    Save(u64, Vec<u8>),
    /// Answer once everything sent before is on disk.
    Flush(std::sync::mpsc::Sender<()>),
}

/// The handle of one file's writer thread.
pub struct FileWriter {
    /// The next generation and the thread's queue, locked together so that generations reach
    /// the thread in order.
    queue: Mutex<(u64, std::sync::mpsc::Sender<Msg>)>,
    /// The last generation written (or given up on after an error, which is logged).
    written: watch::Receiver<u64>,
}

/// A point to wait for: one generation of a [`FileWriter`] on disk.
#[derive(Clone)]
pub struct Persisted {
    written: watch::Receiver<u64>,
    generation: u64,
}

impl Persisted {
    /// A point that is always reached (nothing to wait for).
    pub fn reached() -> Persisted {
        let (_, written) = watch::channel(u64::MAX);
        Persisted {
            written,
            generation: 0,
        }
    }

    /// Resolves once the generation is written (or the writer is gone).
    pub async fn wait(&self) {
        let mut written = self.written.clone();
        let generation = self.generation;
        let _ = written.wait_for(|w| *w >= generation).await;
    }
}

impl FileWriter {
    /// Starts the writer thread of `path`; `what` names the file in log messages.
    pub fn spawn(path: PathBuf, what: &'static str) -> FileWriter {
        let (tx, rx) = std::sync::mpsc::channel::<Msg>();
        let (written_tx, written) = watch::channel(0u64);
        let spawned = std::thread::Builder::new()
            .name(format!("{what}-writer"))
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut latest = None;
                    let mut flushes = Vec::new();
                    let mut next = Some(first);
                    while let Some(msg) = next {
                        match msg {
                            Msg::Save(generation, bytes) => latest = Some((generation, bytes)),
                            Msg::Flush(done) => flushes.push(done),
                        }
                        next = rx.try_recv().ok();
                    }
                    if let Some((generation, bytes)) = latest {
                        if let Err(e) = crate::persist::write_atomic(&path, &bytes) {
                            tracing::error!(error = %e, file = %path.display(), "cannot persist {what}");
                        }
                        written_tx.send_replace(generation);
                    }
                    for done in flushes {
                        let _ = done.send(());
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the {what} writer");
        }
        FileWriter {
            queue: Mutex::new((1, tx)),
            written,
        }
    }

    /// Queues `bytes` as the file's new content; returns the point at which it is on disk.
    pub fn save(&self, bytes: Vec<u8>) -> Persisted {
        let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        let generation = queue.0;
        queue.0 += 1;
        if queue.1.send(Msg::Save(generation, bytes)).is_err() {
            // No thread: nothing will ever be written, so nobody must wait for it.
            return Persisted::reached();
        }
        Persisted {
            written: self.written.clone(),
            generation,
        }
    }

    /// Blocks until everything saved so far is on disk. Never call it on an async worker.
    pub fn flush(&self) {
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let sent = {
            let queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
            queue.1.send(Msg::Flush(done_tx)).is_ok()
        };
        if sent {
            let _ = done_rx.recv();
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
        last.unwrap().wait().await;
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "49");
        let p = writer.save(b"final".to_vec());
        tokio::task::spawn_blocking(move || writer.flush())
            .await
            .unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "final");
        // Already reached: returns at once.
        p.wait().await;
        Persisted::reached().wait().await;
    }
}
