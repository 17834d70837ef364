//! Per-thread scratch buffers, grown on every worker thread at once.
//!
//! The kernels' tasks keep their scratch in thread-locals, grown to the largest task a thread has run. Which
//! thread runs which task is up to rayon's work stealing. A thread that happened to run only small tasks (the
//! small pyramid levels, say) during the first frames would otherwise grow its buffer frames later, the first time
//! it steals a large task. Growing every thread's buffer together, the first time a size is asked for, makes a
//! stream of same-size frames allocation-free from the second frame on, whatever the scheduling.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Runs `grow(n)` on every thread of the current rayon pool when `n` exceeds the largest size `grown` has seen;
/// otherwise does nothing. `grow` makes the calling thread's buffer hold at least `n`. `grown` is per process:
/// the threads of a second pool that asks for a size already seen grow their buffers as they go, as before.
pub(crate) fn grow_on_every_thread(grown: &AtomicUsize, n: usize, grow: impl Fn(usize) + Sync) {
    if grown.fetch_max(n, Ordering::Relaxed) < n {
        rayon::broadcast(|_| grow(n));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    thread_local! {
        static SIZE: Cell<usize> = const { Cell::new(0) };
    }

    #[test]
    fn every_pool_thread_grows_once_for_each_larger_size() {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
        let grown = AtomicUsize::new(0);
        let calls = AtomicUsize::new(0);
        let grow = |n: usize| {
            calls.fetch_add(1, Ordering::Relaxed);
            SIZE.set(SIZE.get().max(n));
        };
        pool.install(|| {
            grow_on_every_thread(&grown, 10, grow);
            grow_on_every_thread(&grown, 7, grow);
            grow_on_every_thread(&grown, 10, grow);
        });
        assert_eq!(
            calls.load(Ordering::Relaxed),
            3,
            "one call per thread, for the first size only"
        );
        pool.install(|| grow_on_every_thread(&grown, 12, grow));
        assert_eq!(calls.load(Ordering::Relaxed), 6);
        let sizes = pool.broadcast(|_| SIZE.get());
        assert_eq!(sizes, [12, 12, 12]);
    }
}
