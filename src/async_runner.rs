//! Where `Detector::detect_async` runs its detections: never on the caller's executor, and never on a thread of
//! its own per call, so that a flood of requests (a web server under load) can't start a thread and a workspace
//! for each. A detector keeps a few worker threads, started by the first call, that take the calls in order of
//! arrival: on a GPU one (calls on one detector take turns there in any case), on the CPU one per rayon thread,
//! so that small images can run side by side while each detection still spreads over rayon's pool. Not rayon's
//! own threads: a pool thread that waits for its detection's parallel loops picks up queued jobs meanwhile, and
//! with 200 calls queued 89 detections had started, one inside the other, each with its workspace.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};

/// A detection to run, with its result already wired to the caller's future.
pub(crate) type Job = Box<dyn FnOnce() + Send>;

/// The detector's worker threads and their queue.
#[derive(Debug)]
pub(crate) struct AsyncRunner {
    workers: usize,
    /// Calls skipped because their futures were dropped before their turn.
    skipped: AtomicUsize,
    /// The queue, once the first job has started the workers; they end once the detector is gone and the queue
    /// is empty.
    queue: Mutex<Option<Sender<Job>>>,
}

impl AsyncRunner {
    /// A runner with `workers` threads (at least one).
    pub fn new(workers: usize) -> Self {
        AsyncRunner {
            workers: workers.max(1),
            skipped: AtomicUsize::new(0),
            queue: Mutex::new(None),
        }
    }

    /// Counts a call skipped because nobody waits for its result any more.
    pub fn note_skipped(&self) {
        self.skipped.fetch_add(1, Ordering::Relaxed);
    }

    /// Calls skipped so far.
    #[cfg(test)]
    pub fn skipped(&self) -> usize {
        self.skipped.load(Ordering::Relaxed)
    }

    /// Queues `job`. A job that panics (a bug) drops its result's sender, which the caller's future reports as an
    /// error; the worker goes on.
    pub fn submit(&self, job: Job) -> Result<()> {
        let mut queue = self.queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let sender = match &mut *queue {
            Some(sender) => sender,
            empty => empty.insert(start_workers(self.workers)?),
        };
        sender
            .send(job)
            .map_err(|_| Error::Thread("the detection workers have stopped".into()))
    }
}

/// `workers` threads that run the jobs they receive until every sender is gone. The jobs own the detector (a
/// clone), the threads do not: dropping the last `Detector` drops the sender and ends them.
fn start_workers(workers: usize) -> Result<Sender<Job>> {
    let (sender, receiver) = channel::<Job>();
    let receiver = Arc::new(Mutex::new(receiver));
    for _ in 0..workers {
        let receiver = Arc::clone(&receiver);
        std::thread::Builder::new()
            .name("mtcnn-detect".into())
            .spawn(move || {
                while let Some(job) = next_job(&receiver) {
                    let _ = catch_unwind(AssertUnwindSafe(job));
                }
            })
            .map_err(|e| Error::Thread(format!("cannot start a detection thread: {e}")))?;
    }
    Ok(sender)
}

/// The next job, or `None` when the queue has no sender left.
fn next_job(receiver: &Mutex<Receiver<Job>>) -> Option<Job> {
    receiver
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .recv()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_worker_runs_the_jobs_in_order_and_a_panic_does_not_stop_it() {
        let runner = AsyncRunner::new(1);
        let (done, results) = channel();
        for i in 0..20 {
            let done = done.clone();
            runner
                .submit(Box::new(move || {
                    if i == 3 {
                        panic!("a job that panics (expected by this test)");
                    }
                    done.send((i, std::thread::current().id())).unwrap();
                }))
                .unwrap();
        }
        drop(done);
        let seen: Vec<_> = results.iter().collect();
        let order: Vec<i32> = seen.iter().map(|s| s.0).collect();
        assert_eq!(order, [0, 1, 2].into_iter().chain(4..20).collect::<Vec<_>>());
        assert!(seen.iter().all(|s| s.1 == seen[0].1), "one worker thread");
        assert_ne!(seen[0].1, std::thread::current().id());
    }

    #[test]
    fn several_workers_share_the_queue() {
        let runner = AsyncRunner::new(3);
        let (done, results) = channel();
        let gate = Arc::new(std::sync::Barrier::new(3));
        for _ in 0..3 {
            let (done, gate) = (done.clone(), Arc::clone(&gate));
            // Each job waits for the other two: they only finish if three threads run them at once.
            runner
                .submit(Box::new(move || {
                    gate.wait();
                    done.send(std::thread::current().id()).unwrap();
                }))
                .unwrap();
        }
        drop(done);
        let mut threads: Vec<_> = results.iter().collect();
        threads.dedup();
        assert_eq!(threads.len(), 3);
    }
}
