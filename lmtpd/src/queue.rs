//! Delivery workers (`work_threads_max`): spool → resolver → deliverer.
//!
//! LMTP sessions hand one task per recipient to the pool and wait for the replies (RFC 2033
//! §4.2: one reply per recipient after the data). SMTP messages and messages found in the
//! queue at start-up become jobs: the pending recipients are delivered, finished ones are
//! recorded in the spool, and temporary failures are retried with exponential back-off
//! (`lda_retry_min` doubling up to `lda_retry_max`) until `lda_queue_max_age`.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{unbounded, Receiver, Sender};
use slog::Logger;

use crate::deliver::{Deliverer, Delivery, RecipientKind, RecipientResolver, Resolution};
use crate::reply::Reply;
use crate::spool::{unix_now, Envelope, Spool, SpooledMessage};

/// The resolver and deliverer a daemon runs with.
#[derive(Clone)]
pub struct Backend {
    /// Recipient lookup.
    pub resolver: Arc<dyn RecipientResolver>,
    /// Mailbox writer.
    pub deliverer: Arc<dyn Deliverer>,
}

/// Retry policy of queued (SMTP) messages.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// First retry after this.
    pub min: Duration,
    /// Longest interval.
    pub max: Duration,
    /// Give up (log a permanent failure) after a message spent this long in the queue.
    pub max_age: Duration,
}

impl RetryPolicy {
    /// Delay before attempt `n` (1-based retry number).
    pub fn delay(&self, n: u32) -> Duration {
        let f = 1u32.checked_shl(n.saturating_sub(1).min(30)).unwrap_or(u32::MAX);
        self.min.saturating_mul(f).min(self.max)
    }
}

enum Task {
    /// LMTP: deliver to recipient `idx`, send its reply back.
    One {
        msg: Arc<SpooledMessage>,
        env: Arc<Envelope>,
        idx: usize,
        reply: Sender<(usize, Reply)>,
    },
    /// Queued message: deliver all pending recipients.
    Job { path: PathBuf, attempt: u32 },
}

/// The delivery worker pool.
pub struct Queue {
    tx: Sender<Task>,
    retry_tx: Sender<(Instant, PathBuf, u32)>,
}

/// The reply for a resolution that is not deliverable, or `None` when found.
pub fn resolution_reply(address: &str, r: &Resolution) -> Option<Reply> {
    Some(match r {
        Resolution::Found(_) => return None,
        Resolution::Unknown => Reply::new(550, "5.1.1", format!("<{address}> no such user")),
        Resolution::Inactive => Reply::new(550, "5.2.1", format!("<{address}> mailbox disabled")),
        Resolution::OverQuota { permanent: false } => Reply::new(452, "4.2.2", format!("<{address}> mailbox full")),
        Resolution::OverQuota { permanent: true } => Reply::new(552, "5.2.2", format!("<{address}> mailbox full")),
        Resolution::Unavailable(why) => Reply::new(451, "4.3.0", format!("<{address}> {why}")),
    })
}

/// Resolve and deliver to one envelope recipient; the LMTP reply for it.
pub fn deliver_one(backend: &Backend, msg: &SpooledMessage, env: &Envelope, address: &str, log: &Logger) -> Reply {
    let r = backend.resolver.resolve(address);
    if let Some(reply) = resolution_reply(address, &r) {
        return reply;
    }
    let Resolution::Found(found) = r else {
        return Reply::new(451, "4.3.0", "internal error");
    };
    let outcome = match &found.kind {
        RecipientKind::Mailbox => backend.deliverer.deliver(msg, env, &found),
        RecipientKind::List(members) => {
            // One level of expansion; members that are lists themselves are skipped.
            let mut temp = None;
            for m in members {
                if let Resolution::Found(mf) = backend.resolver.resolve(m) {
                    if mf.kind != RecipientKind::Mailbox {
                        continue;
                    }
                    match backend.deliverer.deliver(msg, env, &mf) {
                        Delivery::Delivered => {}
                        Delivery::Temporary(w) => temp = Some(w),
                        Delivery::Permanent(w) => {
                            slog::warn!(log, "list member delivery failed"; "event" => "deliver.list_member_failed",
                                "id" => &msg.id, "list" => address, "member" => m.as_str(), "reason" => w);
                        }
                    }
                }
            }
            match temp {
                Some(w) => Delivery::Temporary(w),
                None => Delivery::Delivered,
            }
        }
    };
    match outcome {
        Delivery::Delivered => {
            slog::info!(log, "delivered"; "event" => "deliver.ok", "id" => &msg.id, "rcpt" => address,
                "mailbox" => &found.address, "size" => msg.body_len);
            Reply::new(250, "2.1.5", format!("<{address}> delivered"))
        }
        Delivery::Temporary(why) => {
            slog::warn!(log, "delivery deferred"; "event" => "deliver.deferred", "id" => &msg.id, "rcpt" => address, "reason" => &why);
            Reply::new(451, "4.3.0", format!("<{address}> {why}"))
        }
        Delivery::Permanent(why) => {
            slog::warn!(log, "delivery failed"; "event" => "deliver.failed", "id" => &msg.id, "rcpt" => address, "reason" => &why);
            Reply::new(554, "5.3.0", format!("<{address}> {why}"))
        }
    }
}

impl Queue {
    /// Start `threads` workers and the retry scheduler.
    pub fn start(
        threads: usize,
        backend: Backend,
        spool: Arc<Spool>,
        policy: RetryPolicy,
        log: Logger,
    ) -> std::io::Result<Queue> {
        let (tx, rx) = unbounded::<Task>();
        let (retry_tx, retry_rx) = unbounded::<(Instant, PathBuf, u32)>();
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            let backend = backend.clone();
            let spool = spool.clone();
            let log = log.clone();
            let retry_tx = retry_tx.clone();
            std::thread::Builder::new()
                .name(format!("deliver-{i}"))
                .spawn(move || worker(rx, backend, spool, policy, retry_tx, log))?;
        }
        let tx2 = tx.clone();
        std::thread::Builder::new()
            .name("deliver-retry".into())
            .spawn(move || scheduler(retry_rx, tx2))?;
        Ok(Queue { tx, retry_tx })
    }

    /// LMTP: deliver `msg` to every recipient of `env` in parallel; one reply per recipient,
    /// in RCPT order. Recipients not finished within `timeout` get `451 4.4.0` (the client
    /// retries; should the late delivery still succeed, the message arrives twice).
    pub fn deliver_now(&self, msg: SpooledMessage, env: Envelope, timeout: Duration) -> Vec<Reply> {
        let n = env.rcpts.len();
        let msg = Arc::new(msg);
        let env = Arc::new(env);
        let (rtx, rrx) = unbounded();
        for idx in 0..n {
            let task = Task::One {
                msg: msg.clone(),
                env: env.clone(),
                idx,
                reply: rtx.clone(),
            };
            if self.tx.send(task).is_err() {
                break;
            }
        }
        drop(rtx);
        let deadline = Instant::now() + timeout;
        let mut replies: Vec<Option<Reply>> = vec![None; n];
        let mut timed_out = false;
        loop {
            match rrx.recv_deadline(deadline) {
                Ok((idx, r)) => {
                    if let Some(slot) = replies.get_mut(idx) {
                        *slot = Some(r);
                    }
                }
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                    timed_out = true;
                    break;
                }
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
            }
        }
        replies
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    if timed_out {
                        Reply::new(451, "4.4.0", "delivery timed out, try again later")
                    } else {
                        Reply::new(451, "4.3.0", "delivery workers stopped")
                    }
                })
            })
            .collect()
    }

    /// Queue a committed spool file for background delivery.
    pub fn enqueue(&self, path: PathBuf) {
        let _ = self.tx.send(Task::Job { path, attempt: 0 });
    }

    /// Schedule `path` for attempt `attempt` at `when`.
    pub fn schedule(&self, when: Instant, path: PathBuf, attempt: u32) {
        let _ = self.retry_tx.send((when, path, attempt));
    }
}

fn worker(
    rx: Receiver<Task>,
    backend: Backend,
    spool: Arc<Spool>,
    policy: RetryPolicy,
    retry: Sender<(Instant, PathBuf, u32)>,
    log: Logger,
) {
    for task in rx.iter() {
        match task {
            Task::One { msg, env, idx, reply } => {
                let addr = env.rcpts.get(idx).cloned().unwrap_or_default();
                let r = deliver_one(&backend, &msg, &env, &addr, &log);
                let _ = reply.send((idx, r));
            }
            Task::Job { path, attempt } => run_job(&backend, &spool, &policy, &retry, &log, path, attempt),
        }
    }
}

fn run_job(
    backend: &Backend,
    spool: &Spool,
    policy: &RetryPolicy,
    retry: &Sender<(Instant, PathBuf, u32)>,
    log: &Logger,
    path: PathBuf,
    attempt: u32,
) {
    let (msg, env) = match Spool::load(&path) {
        Ok(x) => x,
        Err(e) => {
            if path.exists() {
                slog::error!(log, "unreadable spool file"; "event" => "queue.bad_file", "path" => path.display().to_string(), "error" => e.to_string());
            }
            return;
        }
    };
    let done = spool.done_set(&msg.id);
    let mut finished = Vec::new();
    let mut deferred = 0;
    for (idx, rcpt) in env.rcpts.iter().enumerate() {
        if done.contains(&idx) {
            continue;
        }
        let r = deliver_one(backend, &msg, &env, rcpt, log);
        if r.code >= 500 {
            slog::warn!(log, "permanent failure of queued message (no DSN is generated)"; "event" => "queue.bounce",
                "id" => &msg.id, "rcpt" => rcpt.as_str(), "reply" => r.to_string());
        }
        if r.code < 400 || r.code >= 500 {
            finished.push(idx);
        } else {
            deferred += 1;
        }
    }
    if deferred == 0 {
        spool.remove_queued(&msg.id);
        return;
    }
    if let Err(e) = spool.mark_done(&msg.id, &finished) {
        slog::warn!(log, "cannot record finished recipients"; "event" => "queue.done_write", "id" => &msg.id, "error" => e.to_string());
    }
    let age = Duration::from_secs(unix_now().saturating_sub(env.time));
    if age >= policy.max_age {
        slog::error!(log, "message expired in the queue (no DSN is generated)"; "event" => "queue.expired", "id" => &msg.id, "deferred" => deferred);
        spool.remove_queued(&msg.id);
        return;
    }
    let next = attempt + 1;
    let delay = policy.delay(next);
    slog::info!(log, "delivery deferred, will retry"; "event" => "queue.retry", "id" => &msg.id, "attempt" => next, "delay_ms" => delay.as_millis() as u64);
    let _ = retry.send((Instant::now() + delay, path, next));
}

fn scheduler(rx: Receiver<(Instant, PathBuf, u32)>, tx: Sender<Task>) {
    let mut heap: BinaryHeap<Reverse<(Instant, PathBuf, u32)>> = BinaryHeap::new();
    loop {
        let now = Instant::now();
        while heap.peek().is_some_and(|Reverse((t, _, _))| *t <= now) {
            if let Some(Reverse((_, path, attempt))) = heap.pop() {
                if tx.send(Task::Job { path, attempt }).is_err() {
                    return;
                }
            }
        }
        let wait = heap.peek().map_or(Duration::from_secs(3600), |Reverse((t, _, _))| {
            t.saturating_duration_since(now)
        });
        match rx.recv_timeout(wait) {
            Ok(item) => heap.push(Reverse(item)),
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deliver::Resolved;

    /// Test resolver/deliverer: every address exists; `slow@…` takes 2 s, `temp@…` fails
    /// temporarily, `perm@…` permanently; the others are recorded.
    #[derive(Default)]
    struct Fake {
        got: std::sync::Mutex<Vec<String>>,
    }

    impl RecipientResolver for Fake {
        fn resolve(&self, address: &str) -> Resolution {
            if address.starts_with("unknown@") {
                return Resolution::Unknown;
            }
            Resolution::Found(Resolved {
                address: address.to_string(),
                maildir: PathBuf::from("/nonexistent"),
                kind: if address.starts_with("list@") {
                    RecipientKind::List(vec!["m1@x".into(), "unknown@x".into(), "m2@x".into()])
                } else {
                    RecipientKind::Mailbox
                },
            })
        }
    }

    impl Deliverer for Fake {
        fn deliver(&self, msg: &SpooledMessage, _env: &Envelope, rcpt: &Resolved) -> Delivery {
            match rcpt.address.split('@').next() {
                Some("slow") => std::thread::sleep(Duration::from_secs(2)),
                Some("temp") => return Delivery::Temporary("busy".into()),
                Some("perm") => return Delivery::Permanent("corrupt mailbox".into()),
                _ => {}
            }
            let body = msg.read_body().unwrap_or_default();
            self.got
                .lock()
                .unwrap()
                .push(format!("{} {}", rcpt.address, String::from_utf8_lossy(&body)));
            Delivery::Delivered
        }
    }

    #[test]
    fn lmtp_replies_per_recipient_with_timeout_and_list_expansion() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Arc::new(Spool::open(dir.path()).unwrap());
        let fake = Arc::new(Fake::default());
        let backend = Backend {
            resolver: fake.clone(),
            deliverer: fake.clone(),
        };
        let policy = RetryPolicy {
            min: Duration::from_secs(60),
            max: Duration::from_secs(60),
            max_age: Duration::from_secs(60),
        };
        let q = Queue::start(4, backend, spool.clone(), policy, gromox_base::log::discard()).unwrap();
        let env = Envelope {
            from: "a@x".into(),
            rcpts: ["ok@x", "slow@x", "temp@x", "perm@x", "list@x"]
                .map(String::from)
                .to_vec(),
            time: unix_now(),
            lmtp: true,
            ..Envelope::default()
        };
        let mut w = spool.create(&env).unwrap();
        w.write(b"hello").unwrap();
        let msg = w.finish_tmp().unwrap();
        let replies: Vec<String> = q
            .deliver_now(msg, env, Duration::from_millis(500))
            .iter()
            .map(|r| r.to_string())
            .collect();
        assert_eq!(
            replies,
            [
                "250 2.1.5 <ok@x> delivered",
                "451 4.4.0 delivery timed out, try again later",
                "451 4.3.0 <temp@x> busy",
                "554 5.3.0 <perm@x> corrupt mailbox",
                "250 2.1.5 <list@x> delivered",
            ]
        );
        let mut got = fake.got.lock().unwrap().clone();
        got.sort();
        assert_eq!(got, ["m1@x hello", "m2@x hello", "ok@x hello"]);
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = RetryPolicy {
            min: Duration::from_secs(60),
            max: Duration::from_secs(3600),
            max_age: Duration::from_secs(86400),
        };
        assert_eq!(p.delay(1), Duration::from_secs(60));
        assert_eq!(p.delay(2), Duration::from_secs(120));
        assert_eq!(p.delay(7), Duration::from_secs(3600));
        assert_eq!(p.delay(1000), Duration::from_secs(3600));
    }
}
