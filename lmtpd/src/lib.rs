//! lmtpd: the LMTP/SMTP delivery agent (DESIGN.md §2–3, Gromox's delivery-queue + delivery).
//!
//! - [`command`]: the command-line codec (RFC 5321, RFC 2033, RFC 1870, RFC 6152, RFC 6531,
//!   RFC 3030), pure.
//! - [`session`]: the sans-I/O session on the runtime: LHLO/EHLO/HELO, MAIL, RCPT, DATA with
//!   dot-unstuffing, BDAT, RSET, NOOP, QUIT, HELP, VRFY, STARTTLS; PIPELINING, SIZE,
//!   8BITMIME, ENHANCEDSTATUSCODES (RFC 3463 on every reply), SMTPUTF8, CHUNKING; per-recipient
//!   replies after the data in LMTP (RFC 2033 §4.2).
//! - [`spool`]: message files under `<state_path>/spool/`, streamed while they arrive; the
//!   durability point is documented there and in README.md; `gromox-mailq` is [`spool::mailq`].
//! - [`queue`]: delivery workers (`work_threads_max`), retries with back-off.
//! - [`deliver`]: the [`RecipientResolver`] and [`Deliverer`] traits with the file-drop backend
//!   and the (not yet wired) store backend.
//!
//! Invariant: no `250` for a message before it is durable (spool committed, or stored in the
//! recipient's mailbox).

pub mod autoreply;
pub mod command;
pub mod deliver;
pub mod dsn;
pub mod forward;
pub mod notify;
pub mod outgoing;
pub mod queue;
pub mod received;
pub mod reply;
pub mod session;
pub mod spool;
pub mod store_backend;

use std::path::PathBuf;
use std::sync::Arc;

use gromox_base::server::{server_keys, ServerDefaults};
use gromox_base::{Config, ConfigError, KeyDef, Kind, Spec};
use slog::Logger;

pub use deliver::{Deliverer, Delivery, RecipientKind, RecipientResolver, Resolution, Resolved};
pub use session::{Dialect, LmtpProtocol, Settings, Shared};

/// Errors starting lmtpd.
#[derive(Debug, thiserror::Error)]
pub enum LmtpError {
    /// A configuration value is wrong.
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// A file or directory cannot be used.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was attempted.
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// The runtime defaults (Gromox: LMTP on port 24, no implicit TLS by default).
pub const DEFAULTS: ServerDefaults = ServerDefaults {
    prefix: "lda",
    listen: "[::]:24",
    listen_tls: "",
    threads: 16,
    context_num: 200,
    idle: "3min",
};

/// The program spec: every key lmtpd reads, with defaults.
pub fn spec() -> Spec {
    let mut keys = server_keys(DEFAULTS);
    keys.extend(gromox_directory::config_keys());
    keys.extend([
        KeyDef::new(
            "command_protocol",
            "both",
            Kind::Choice(&["lmtp", "smtp", "both"]),
            "greetings served: lmtp (LHLO), smtp (EHLO/HELO) or both",
        ),
        KeyDef::new(
            "mail_max_length",
            "64M",
            Kind::Size,
            "largest message accepted (advertised with SIZE)",
        ),
        KeyDef::new(
            "lda_max_rcpt",
            "100",
            Kind::Int { min: 1, max: 100_000 },
            "recipients per transaction; more get 452 4.5.3",
        ),
        KeyDef::new(
            "lda_max_errors",
            "10",
            Kind::Int { min: 1, max: 100_000 },
            "refused commands after which the connection is closed (421 4.7.0)",
        ),
        KeyDef::new(
            "lda_support_starttls",
            "yes",
            Kind::Bool,
            "offer STARTTLS when lda_certificate_path and lda_private_key_path are set",
        ),
        KeyDef::new(
            "lda_force_starttls",
            "no",
            Kind::Bool,
            "refuse MAIL (530 5.7.0) until STARTTLS was done",
        ),
        KeyDef::new("lda_support_pipeline", "yes", Kind::Bool, "advertise PIPELINING"),
        KeyDef::new(
            "work_threads_max",
            "32",
            Kind::Int { min: 1, max: 1024 },
            "delivery worker threads",
        ),
        KeyDef::new(
            "lda_delivery_timeout",
            "5min",
            Kind::Duration,
            "LMTP: longest wait for the mailbox copies; recipients not done by then get 451 4.4.0",
        ),
        KeyDef::new(
            "lda_backend",
            "store",
            Kind::Choice(&["store", "filedrop"]),
            "where mail goes: store (the user directory and the information store; 451 4.3.0 when the directory cannot be opened) or filedrop (a directory per recipient)",
        ),
        KeyDef::new(
            "lda_store_access",
            "exmdb",
            Kind::Choice(&["exmdb", "local"]),
            "how the store backend reaches mailboxes: exmdb (RPC to the exmdbd of the mailbox's home server: exmdb_listen for this host, servers.hostname on the same port for others) or local (this host's mailboxes through the same calls run inside lmtpd, no exmdbd needed; other home servers still over the RPC)",
        ),
        KeyDef::new(
            "lda_filedrop_path",
            "",
            Kind::Path,
            "root of the file drop (empty: <state_path>/filedrop); recipient X exists when X/ exists, mail lands in X/new/",
        ),
        KeyDef::new(
            "lda_retry_min",
            "1min",
            Kind::Duration,
            "first retry of a deferred queued (SMTP) message; doubles per attempt",
        ),
        KeyDef::new("lda_retry_max", "1h", Kind::Duration, "longest retry interval"),
        KeyDef::new(
            "lda_queue_max_age",
            "5d",
            Kind::Duration,
            "a queued message still deferred after this long is given up (logged)",
        ),
        KeyDef::new(
            "outgoing_smtp_url",
            "",
            Kind::Str,
            "where mail lmtpd generates (bounces, out-of-office replies) goes when its recipient is not local: smtp://host[:port], smtps://host[:port] (implicit TLS, port 465) or sendmail:///usr/sbin/sendmail (empty: nowhere; logged)",
        ),
        KeyDef::new(
            "outgoing_smtp_ca_file",
            "",
            Kind::Path,
            "PEM CA bundle the smtps:// relay's certificate must verify against (empty: /etc/ssl/certs/ca-certificates.crt)",
        ),
        KeyDef::new(
            "autoreply_silence_window",
            "1d",
            Kind::Duration,
            "a sender gets at most one out-of-office reply per mailbox within this time",
        ),
        KeyDef::new(
            "lda_overquota_permanent",
            "no",
            Kind::Bool,
            "a recipient over its receive quota is refused permanently (552 5.2.2) instead of temporarily (452 4.2.2)",
        ),
        KeyDef::new(
            "event_listen",
            "[::1]:33333",
            Kind::Str,
            "eventd address; every delivery into a mailbox is announced there (FOLDER-TOUCH) for IMAP IDLE (empty: none). Read from event.cfg",
        ),
    ]);
    keys.extend(gromox_clients::exmdb::config_keys());
    Spec {
        prog: "lmtpd",
        about: "LMTP/SMTP delivery agent with a durable spool",
        files: &[
            "smtp.cfg",
            "delivery.cfg",
            "event.cfg",
            "mysql_adaptor.cfg",
            "ldap_adaptor.cfg",
            "authmgr.cfg",
            "exmdb_provider.cfg",
        ],
        keys,
    }
}

/// The host name: the `hostname` key, else the system's.
pub fn hostname(cfg: &Config) -> String {
    cfg.hostname()
}

/// The eventd address from `event_listen` (the first one), `None` when empty.
fn event_addr(cfg: &Config) -> Result<Option<std::net::SocketAddr>, String> {
    let v = cfg.str("event_listen").trim();
    if v.is_empty() {
        return Ok(None);
    }
    Ok(gromox_base::config::parse_listen(v)?.into_iter().next())
}

/// Everything built from configuration, ready to serve.
pub struct Built {
    /// The protocol for the runtime.
    pub protocol: Arc<LmtpProtocol>,
    /// Messages found in the queue at start-up and handed to the workers.
    pub recovered: usize,
    /// Unacknowledged leftovers removed from `spool/tmp`.
    pub discarded: usize,
}

/// Build spool, backend, workers and protocol from `cfg`; run the recovery pass.
/// `tls_configured`: the runtime has a TLS server configuration (for STARTTLS).
/// `metrics` is the server's registry (`ServerConfig::registry`) commands are counted in.
pub fn build(
    cfg: &Config,
    tls_configured: bool,
    metrics: Arc<gromox_runtime::Registry>,
    log: &Logger,
) -> Result<Built, LmtpError> {
    let state = cfg.path("state_path");
    let io = |what: &'static str, path: PathBuf| move |source| LmtpError::Io { what, path, source };
    let spool = Arc::new(spool::Spool::open(&state).map_err(io("cannot open spool", state.join("spool")))?);
    let relay = outgoing::Outgoing::parse(cfg.str("outgoing_smtp_url"), cfg.str("outgoing_smtp_ca_file"))
        .map_err(|e| cfg.error("outgoing_smtp_url", e))?
        .map(Arc::new);
    let mut submit: Arc<std::sync::OnceLock<autoreply::Submitter>> = Arc::default();
    let mut backend = match cfg.str("lda_backend").to_ascii_lowercase().as_str() {
        "filedrop" => {
            let mut root = cfg.path("lda_filedrop_path");
            if root.as_os_str().is_empty() {
                root = state.join("filedrop");
            }
            let fd = Arc::new(deliver::FileDrop::new(&root).map_err(io("cannot open file drop", root.clone()))?);
            queue::Backend {
                resolver: fd.clone(),
                deliverer: fd,
                relay: None,
            }
        }
        _ => match store_backend::backend(cfg, log) {
            Ok(b) => {
                submit = b.submit.clone();
                let fwd: Arc<dyn deliver::Deliverer> = Arc::new(forward::Forwarder::new(
                    b.clone(),
                    b.clone(),
                    submit.clone(),
                    log.clone(),
                ));
                let oof: Arc<dyn deliver::Deliverer> = Arc::new(autoreply::Autoreplier::new(
                    fwd,
                    b.clone(),
                    cfg.duration("autoreply_silence_window").as_secs() as i64,
                    submit.clone(),
                    log.clone(),
                ));
                queue::Backend {
                    resolver: b.clone(),
                    deliverer: match event_addr(cfg) {
                        Ok(Some(addr)) => Arc::new(notify::Announcing::new(oof, addr, log.clone())),
                        Ok(None) => oof,
                        Err(e) => {
                            slog::warn!(log, "new mail is not announced on eventd"; "event" => "lmtp.event_config", "error" => e);
                            oof
                        }
                    },
                    relay: None,
                }
            }
            Err(e) => {
                // Without a directory nothing can be resolved: refuse (451) rather than accept.
                slog::error!(log, "the information store backend is unavailable: every recipient gets 451 4.3.0";
                    "event" => "lmtp.store_unavailable", "error" => e);
                queue::Backend {
                    resolver: Arc::new(deliver::StoreUnavailable),
                    deliverer: Arc::new(deliver::StoreUnavailable),
                    relay: None,
                }
            }
        },
    };
    backend.relay = relay;
    let policy = queue::RetryPolicy {
        min: cfg.duration("lda_retry_min").max(std::time::Duration::from_millis(10)),
        max: cfg.duration("lda_retry_max").max(std::time::Duration::from_millis(10)),
        max_age: cfg.duration("lda_queue_max_age"),
    };
    let host = hostname(cfg);
    let q = Arc::new(
        queue::Queue::start(
            cfg.usize("work_threads_max"),
            backend.clone(),
            spool.clone(),
            policy,
            host.clone(),
            log.clone(),
        )
        .map_err(io("cannot start delivery workers", PathBuf::new()))?,
    );
    let _ = submit.set(autoreply::Submitter {
        spool: spool.clone(),
        queue: q.clone(),
        hostname: host.clone(),
    });
    // Recovery pass: unacknowledged LMTP leftovers go, committed messages are delivered.
    let discarded = spool
        .clean_tmp()
        .map_err(io("cannot clean spool", state.join("spool/tmp")))?;
    let entries = spool
        .list()
        .map_err(io("cannot list spool", state.join("spool/queue")))?;
    for e in &entries {
        q.enqueue(spool.queued_path(&e.id));
    }
    let settings = Settings {
        hostname: host,
        max_message: cfg.size("mail_max_length"),
        max_rcpt: cfg.usize("lda_max_rcpt"),
        max_errors: cfg.int("lda_max_errors").clamp(1, u32::MAX as i64) as u32,
        dialect: match cfg.str("command_protocol").to_ascii_lowercase().as_str() {
            "lmtp" => Dialect::Lmtp,
            "smtp" => Dialect::Smtp,
            _ => Dialect::Both,
        },
        starttls: tls_configured && cfg.bool("lda_support_starttls"),
        force_starttls: cfg.bool("lda_force_starttls"),
        pipelining: cfg.bool("lda_support_pipeline"),
        delivery_timeout: cfg
            .duration("lda_delivery_timeout")
            .max(std::time::Duration::from_millis(10)),
    };
    let shared = Arc::new(Shared {
        settings,
        spool,
        queue: q,
        backend,
        log: log.clone(),
        metrics,
    });
    Ok(Built {
        protocol: Arc::new(LmtpProtocol::new(shared)),
        recovered: entries.len(),
        discarded,
    })
}

/// Entry points of the fuzz targets (`fuzz/fuzz_targets/`), also run over the seeds by
/// `tests/fuzz_seeds.rs`.
pub mod fuzzing {
    use std::sync::{Arc, OnceLock};

    use gromox_runtime::{ConnHandle, ConnInfo, Cx, Next, Session};

    use crate::deliver::FileDrop;
    use crate::queue::{Backend, Queue, RetryPolicy};
    use crate::session::{LmtpSession, Settings, Shared};
    use crate::spool::Spool;

    /// Parse one command line; must never panic.
    pub fn command(data: &[u8]) {
        if let Err(r) = crate::command::parse_command(data) {
            assert!(r.code >= 500 && r.code < 600, "{r}");
        }
    }

    /// Parse a spool file header; must never panic, and what parses must re-encode to a
    /// header that parses to the same envelope.
    pub fn spool_header(data: &[u8]) {
        if let Ok(env) = crate::spool::parse_header(data) {
            let again = crate::spool::encode_header(&env);
            assert_eq!(crate::spool::parse_header(again.as_bytes()).as_ref(), Ok(&env));
        }
    }

    fn shared() -> &'static Arc<Shared> {
        static S: OnceLock<Arc<Shared>> = OnceLock::new();
        S.get_or_init(|| {
            // A fixed scratch directory: the fuzzers run for hours, one directory is enough.
            let dir = std::env::temp_dir().join(format!("lmtpd-fuzz-{}", std::process::id()));
            let spool = Arc::new(Spool::open(&dir).expect("fuzz spool"));
            let fd = Arc::new(FileDrop::new(&dir.join("drop")).expect("fuzz drop"));
            let _ = std::fs::create_dir_all(dir.join("drop/bob@example.org"));
            let backend = Backend {
                resolver: fd.clone(),
                deliverer: fd,
                relay: None,
            };
            let log = gromox_base::log::discard();
            let policy = RetryPolicy {
                min: std::time::Duration::from_secs(3600),
                max: std::time::Duration::from_secs(3600),
                max_age: std::time::Duration::from_secs(3600),
            };
            let queue = Arc::new(
                Queue::start(
                    2,
                    backend.clone(),
                    spool.clone(),
                    policy,
                    "localhost".into(),
                    log.clone(),
                )
                .expect("fuzz queue"),
            );
            Arc::new(Shared {
                settings: Settings {
                    max_message: 1 << 20,
                    max_rcpt: 5,
                    max_errors: 1000,
                    ..Settings::default()
                },
                spool,
                queue,
                backend,
                metrics: Default::default(),
                log,
            })
        })
    }

    /// Feed a whole client conversation to a session, in two arbitrary pieces; every output
    /// line must be a well-formed reply.
    pub fn session(data: &[u8]) {
        let peer: std::net::SocketAddr = ([127, 0, 0, 1], 1).into();
        let info = ConnInfo {
            id: 1,
            peer,
            local: peer,
            implicit_tls: false,
            listener: "lda_listen",
        };
        let mut s = LmtpSession::new(shared().clone(), peer);
        let mut out = Vec::new();
        let mut cx = Cx {
            out: &mut out,
            info: &info,
            tls_active: false,
            idle_timeout: None,
            handle: ConnHandle::detached(),
        };
        s.connected(&mut cx);
        let split = data.first().map_or(0, |&b| b as usize).min(data.len());
        let mut buf = Vec::new();
        for piece in [&data[..split], &data[split..]] {
            buf.extend_from_slice(piece);
            let (n, next) = s.input(&buf, &mut cx);
            assert!(n <= buf.len());
            buf.drain(..n);
            if next != Next::Read {
                break;
            }
        }
        s.closed();
        for line in out.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            assert!(
                line.len() >= 4 && line[..3].iter().all(u8::is_ascii_digit),
                "bad reply {:?}",
                String::from_utf8_lossy(line)
            );
        }
    }
}
