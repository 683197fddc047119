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
    /// Outgoing mail for messages lmtpd generated (DSNs, out-of-office replies) to
    /// recipients outside this system (`outgoing_smtp_url`).
    pub relay: Option<Arc<crate::outgoing::Outgoing>>,
}

/// `Envelope::peer` of messages lmtpd generates itself; only those are relayed to
/// recipients outside this system, so lmtpd is never an open relay.
pub const GENERATED_PEER: &str = "lmtpd-generated";

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
        Resolution::Refused(why) => Reply::new(550, "5.7.1", format!("<{address}> {why}")),
    })
}

/// Send a generated message to an outside recipient through the relay.
fn relay_one(
    relay: &crate::outgoing::Outgoing,
    msg: &SpooledMessage,
    env: &Envelope,
    address: &str,
    log: &Logger,
) -> Reply {
    let body = match msg.read_body() {
        Ok(b) => b,
        Err(e) => return Reply::new(451, "4.3.0", format!("cannot read the spooled message: {e}")),
    };
    match relay.send(&env.helo, &env.from, &[address.to_string()], &body) {
        Ok(()) => {
            slog::info!(log, "relayed"; "event" => "deliver.relayed", "id" => &msg.id, "rcpt" => address, "size" => msg.body_len);
            Reply::new(250, "2.0.0", format!("<{address}> relayed"))
        }
        Err(e) => {
            slog::warn!(log, "relay failed"; "event" => "deliver.relay_failed", "id" => &msg.id, "rcpt" => address,
                "temporary" => e.temporary, "reason" => &e.reason);
            if e.temporary {
                Reply::new(451, "4.4.1", format!("<{address}> {}", e.reason))
            } else {
                Reply::new(550, "5.4.1", format!("<{address}> {}", e.reason))
            }
        }
    }
}

/// Resolve and deliver to one envelope recipient; the LMTP reply for it.
pub fn deliver_one(backend: &Backend, msg: &SpooledMessage, env: &Envelope, address: &str, log: &Logger) -> Reply {
    let r = backend.resolver.resolve_for(address, &env.from);
    if let (Resolution::Unknown, Some(relay)) = (&r, &backend.relay) {
        let domain = address.rsplit_once('@').map_or("", |(_, d)| d);
        if env.peer == GENERATED_PEER && !domain.is_empty() && !backend.resolver.is_local_domain(domain) {
            return relay_one(relay, msg, env, address, log);
        }
    }
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
        hostname: String,
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
            let host = hostname.clone();
            std::thread::Builder::new()
                .name(format!("deliver-{i}"))
                .spawn(move || worker(rx, backend, spool, policy, host, retry_tx, log))?;
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
    hostname: String,
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
            Task::Job { path, attempt } => {
                let ctx = JobCx {
                    backend: &backend,
                    spool: &spool,
                    policy: &policy,
                    hostname: &hostname,
                    retry: &retry,
                    log: &log,
                };
                run_job(&ctx, path, attempt)
            }
        }
    }
}

struct JobCx<'a> {
    backend: &'a Backend,
    spool: &'a Spool,
    policy: &'a RetryPolicy,
    hostname: &'a str,
    retry: &'a Sender<(Instant, PathBuf, u32)>,
    log: &'a Logger,
}

/// Spool a DSN for `failed` recipients of `msg` to its sender and queue it. `Ok(false)` when
/// none is due (null sender: never bounce a bounce).
fn bounce(cx: &JobCx<'_>, msg: &SpooledMessage, env: &Envelope, failed: &[(String, Reply)]) -> std::io::Result<bool> {
    if env.from.is_empty() || failed.is_empty() {
        return Ok(false);
    }
    let header = crate::dsn::original_header(msg);
    let dsn = crate::dsn::build(cx.hostname, &msg.id, env, failed, &header, unix_now());
    let denv = Envelope {
        from: String::new(),
        rcpts: vec![env.from.clone()],
        helo: cx.hostname.to_string(),
        peer: GENERATED_PEER.into(),
        time: unix_now(),
        lmtp: false,
        body_8bit: true,
        smtputf8: env.smtputf8,
    };
    let mut w = cx.spool.create(&denv)?;
    w.write(&dsn)?;
    let d = w.commit(cx.spool)?;
    slog::info!(cx.log, "DSN queued"; "event" => "queue.dsn", "id" => &msg.id, "dsn_id" => &d.id, "to" => &env.from, "failed" => failed.len());
    let _ = cx.retry.send((Instant::now(), d.path, 0));
    Ok(true)
}

fn run_job(cx: &JobCx<'_>, path: PathBuf, attempt: u32) {
    let log = cx.log;
    let (msg, env) = match Spool::load(&path) {
        Ok(x) => x,
        Err(e) => {
            if path.exists() {
                slog::error!(log, "unreadable spool file"; "event" => "queue.bad_file", "path" => path.display().to_string(), "error" => e.to_string());
            }
            return;
        }
    };
    let done = cx.spool.done_set(&msg.id);
    let mut delivered = Vec::new();
    let mut failed: Vec<(usize, Reply)> = Vec::new();
    let mut deferred: Vec<(usize, Reply)> = Vec::new();
    for (idx, rcpt) in env.rcpts.iter().enumerate() {
        if done.contains(&idx) {
            continue;
        }
        let r = deliver_one(cx.backend, &msg, &env, rcpt, log);
        if r.code < 400 {
            delivered.push(idx);
        } else if r.code >= 500 {
            failed.push((idx, r));
        } else {
            deferred.push((idx, r));
        }
    }
    let age = Duration::from_secs(unix_now().saturating_sub(env.time));
    let expired = !deferred.is_empty() && age >= cx.policy.max_age;
    if expired {
        slog::error!(log, "message expired in the queue"; "event" => "queue.expired", "id" => &msg.id, "deferred" => deferred.len());
        failed.append(&mut deferred);
    }
    // The DSN is durable before the failed recipients are let go; if it cannot be spooled
    // they stay pending and fail (and bounce) again on the next attempt.
    let named: Vec<(String, Reply)> = failed
        .iter()
        .map(|(i, r)| (env.rcpts.get(*i).cloned().unwrap_or_default(), r.clone()))
        .collect();
    let mut finished = delivered;
    match bounce(cx, &msg, &env, &named) {
        Ok(sent) => {
            if !sent && !failed.is_empty() {
                slog::warn!(log, "permanent failure of a message from the null sender: no DSN"; "event" => "queue.bounce_dropped",
                    "id" => &msg.id, "failed" => failed.len());
            }
            finished.extend(failed.iter().map(|(i, _)| *i));
        }
        Err(e) => {
            slog::error!(log, "cannot spool DSN"; "event" => "queue.dsn_failed", "id" => &msg.id, "error" => e.to_string());
            deferred.append(&mut failed);
        }
    }
    if deferred.is_empty() {
        cx.spool.remove_queued(&msg.id);
        return;
    }
    if let Err(e) = cx.spool.mark_done(&msg.id, &finished) {
        slog::warn!(log, "cannot record finished recipients"; "event" => "queue.done_write", "id" => &msg.id, "error" => e.to_string());
    }
    let next = attempt + 1;
    let delay = cx.policy.delay(next);
    slog::info!(log, "delivery deferred, will retry"; "event" => "queue.retry", "id" => &msg.id, "attempt" => next, "delay_ms" => delay.as_millis() as u64);
    let _ = cx.retry.send((Instant::now() + delay, path, next));
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
                home: String::new(),
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
            relay: None,
        };
        let policy = RetryPolicy {
            min: Duration::from_secs(60),
            max: Duration::from_secs(60),
            max_age: Duration::from_secs(60),
        };
        let q = Queue::start(
            4,
            backend,
            spool.clone(),
            policy,
            "localhost".into(),
            gromox_base::log::discard(),
        )
        .unwrap();
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
