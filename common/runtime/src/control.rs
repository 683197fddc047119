//! Shutdown/reload control of running servers, and the signal wiring (signal-hook).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

type Hook = Box<dyn Fn() + Send + Sync>;

#[derive(Default)]
struct Inner {
    shutdown: AtomicBool,
    reload: AtomicBool,
    wakers: Mutex<Vec<Arc<mio::Waker>>>,
    hooks: Mutex<Vec<Hook>>,
}

/// Cloneable handle controlling one or more running servers.
///
/// [`Control::shutdown`] drains: listeners close, idle connections close, requests in flight
/// finish, and `run` returns. [`Control::reload`] sets a flag and runs the reload hooks.
#[derive(Clone, Default)]
pub struct Control {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding these locks cannot leave the data inconsistent (push/iterate only).
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Control {
    /// A new control handle.
    pub fn new() -> Self {
        Self::default()
    }

    /// Ask every server run with this handle to drain and return.
    pub fn shutdown(&self) {
        self.inner.shutdown.store(true, Ordering::SeqCst);
        for w in lock(&self.inner.wakers).iter() {
            let _ = w.wake();
        }
    }

    /// Whether [`Control::shutdown`] was called.
    pub fn is_shutdown(&self) -> bool {
        self.inner.shutdown.load(Ordering::SeqCst)
    }

    /// Request a reload: sets the reload flag and runs the hooks added with
    /// [`Control::on_reload`] (in the calling thread).
    pub fn reload(&self) {
        self.inner.reload.store(true, Ordering::SeqCst);
        for h in lock(&self.inner.hooks).iter() {
            h();
        }
    }

    /// Return and clear the reload flag.
    pub fn take_reload(&self) -> bool {
        self.inner.reload.swap(false, Ordering::SeqCst)
    }

    /// Run `hook` on every [`Control::reload`] (e.g. on SIGHUP).
    pub fn on_reload(&self, hook: impl Fn() + Send + Sync + 'static) {
        lock(&self.inner.hooks).push(Box::new(hook));
    }

    pub(crate) fn add_waker(&self, w: Arc<mio::Waker>) {
        lock(&self.inner.wakers).push(w.clone());
        if self.is_shutdown() {
            let _ = w.wake();
        }
    }

    pub(crate) fn remove_waker(&self, w: &Arc<mio::Waker>) {
        lock(&self.inner.wakers).retain(|x| !Arc::ptr_eq(x, w));
    }

    /// Wire SIGTERM and SIGINT to [`Control::shutdown`] and SIGHUP to [`Control::reload`].
    /// A small thread waits for the signals (signal-hook iterator) and wakes the pollers
    /// through their mio wakers at once.
    pub fn install_signal_handlers(&self) -> std::io::Result<()> {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP])?;
        let me = self.clone();
        std::thread::Builder::new().name("signals".into()).spawn(move || {
            for sig in signals.forever() {
                match sig {
                    SIGHUP => me.reload(),
                    _ => me.shutdown(),
                }
            }
        })?;
        Ok(())
    }
}
