//! Per-thread scratch buffers, grown on every worker thread at once.
//!
//! The kernels' tasks keep their scratch in thread-locals, grown to the largest task a thread has run. Which
//! thread runs which task is up to rayon's work stealing. A thread that happened to run only small tasks (the
//! small pyramid levels, say) during the first frames would otherwise grow its buffer frames later, the first time
//! it steals a large task. Growing every thread's buffer together, the first time a size is asked for, makes a
//! stream of same-size frames allocation-free from the second frame on, whatever the scheduling.

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::LocalKey;

use crate::pipeline::workspace::first_n;

/// Makes `scratch` hold at least `n` values on every thread of the current rayon pool when `n` exceeds the largest
/// size `grown` has seen; otherwise does nothing. `grown` is per process: the threads of a second pool that asks
/// for a size already seen grow their buffers as they go, as before.
pub(crate) fn grow_on_every_thread<T: Default>(
    scratch: &'static LocalKey<RefCell<Vec<T>>>,
    grown: &AtomicUsize,
    n: usize,
) {
    if grown.fetch_max(n, Ordering::Relaxed) < n {
        rayon::broadcast(|_| scratch.with_borrow_mut(|values| _ = first_n(values, n)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    thread_local! {
        static VALUES: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    }
    static GROWN: AtomicUsize = AtomicUsize::new(0);

    #[test]
    fn every_pool_thread_grows_once_for_each_larger_size() {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
        let lens = || pool.broadcast(|_| VALUES.with_borrow(Vec::len));
        pool.install(|| grow_on_every_thread(&VALUES, &GROWN, 10));
        assert_eq!(lens(), [10, 10, 10]);
        // A size already seen does nothing, even where a buffer is smaller (emptied here to show it).
        pool.broadcast(|_| VALUES.with_borrow_mut(Vec::clear));
        pool.install(|| grow_on_every_thread(&VALUES, &GROWN, 7));
        pool.install(|| grow_on_every_thread(&VALUES, &GROWN, 10));
        assert_eq!(lens(), [0, 0, 0]);
        pool.install(|| grow_on_every_thread(&VALUES, &GROWN, 12));
        assert_eq!(lens(), [12, 12, 12]);
    }
}
