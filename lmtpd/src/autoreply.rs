//! Out-of-office replies (RFC 3834), from the mailbox's OOF settings in Gromox's layout:
//!
//! - `<maildir>/config/autoreply.cfg` (`key = value` lines): `OOF_STATE` (0 off, 1 on,
//!   2 scheduled between `START_TIME` and `END_TIME`, Unix seconds), `ALLOW_EXTERNAL_OOF`
//!   (1: senders outside this system get the external text), `EXTERNAL_AUDIENCE` (0: every
//!   outside sender; 1: only known contacts — not evaluated here, so no external replies);
//! - `<maildir>/config/internal-reply` and `external-reply`: the reply as a MIME entity
//!   (header fields such as `Subject` and `Content-Type`, a blank line, the body).
//!
//! [`Autoreplier`] wraps the mailbox [`Deliverer`]: after a message is stored it decides
//! whether a reply is due and spools one from the null sender into the queue (local senders
//! get it delivered, outside ones through `outgoing_smtp_url`). No reply goes to the null
//! sender, to the mailbox itself, for mail received through a mailing list, for
//! `Precedence: bulk/list/junk`, `Auto-Submitted` other than `no`, `List-Id`/`List-Unsubscribe`
//! mail, or `X-Auto-Response-Suppress: OOF/All`; and at most one per sender per
//! `autoreply_silence_window` (recorded in the store's `autoreply_ts`).

use std::path::Path;
use std::sync::{Arc, OnceLock};

use slog::Logger;

use crate::deliver::{Deliverer, Delivery, RecipientKind, RecipientResolver, Resolution, Resolved};
use crate::queue::{Queue, GENERATED_PEER};
use crate::spool::{unix_now, Envelope, Spool, SpooledMessage};

pub use exmdbd::delivery::OofSettings;

/// The header fields of `msg` (up to the blank line), unfolded: `(lower-case name, value)`.
pub fn header_fields(msg: &[u8]) -> Vec<(String, String)> {
    let end = msg
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 2)
        .or_else(|| msg.windows(2).position(|w| w == b"\n\n").map(|p| p + 1))
        .unwrap_or(msg.len());
    let text = String::from_utf8_lossy(&msg[..end]);
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = out.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
            continue;
        }
        if let Some((n, v)) = line.split_once(':') {
            out.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    out
}

/// Why no reply is sent for this message (RFC 3834 §2 and common practice), if any.
pub fn suppressed(headers: &[(String, String)], sender: &str, mailbox: &str) -> Option<&'static str> {
    if sender.is_empty() {
        return Some("null sender");
    }
    if sender.eq_ignore_ascii_case(mailbox) {
        return Some("mail from the mailbox itself");
    }
    let get = |n: &'static str| {
        headers
            .iter()
            .filter(move |(k, _)| k == n)
            .map(|(_, v)| v.to_ascii_lowercase())
    };
    if get("precedence").any(|v| ["bulk", "list", "junk"].contains(&v.as_str())) {
        return Some("Precedence bulk/list/junk");
    }
    if get("auto-submitted").any(|v| !v.starts_with("no")) {
        return Some("Auto-Submitted");
    }
    if get("list-id").next().is_some() || get("list-unsubscribe").next().is_some() {
        return Some("mailing list traffic");
    }
    if get("x-auto-response-suppress").any(|v| v.split(',').any(|t| ["oof", "all"].contains(&t.trim()))) {
        return Some("X-Auto-Response-Suppress");
    }
    None
}

/// Build the reply: `template` is the stored reply entity (its `Subject` and `Content-*`
/// fields and body are used), `original` the received message's header fields.
pub fn build_reply(
    template: &[u8],
    original: &[(String, String)],
    mailbox: &str,
    to: &str,
    hostname: &str,
    now: i64,
    seq: u64,
) -> Vec<u8> {
    let t = header_fields(template);
    let body_at = template
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4)
        .or_else(|| template.windows(2).position(|w| w == b"\n\n").map(|p| p + 2));
    let body = match body_at {
        Some(p) => &template[p..],
        // No header block: the whole file is the text.
        None => template,
    };
    let tget = |n: &str| t.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let oget = |n: &str| original.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let subject =
        tget("subject").unwrap_or_else(|| format!("Automatic reply: {}", oget("subject").unwrap_or_default()));
    let mut m = String::new();
    m.push_str(&format!("From: <{mailbox}>\r\nTo: <{to}>\r\n"));
    m.push_str(&format!(
        "Date: {}\r\n",
        crate::received::rfc5322_date(now.max(0) as u64)
    ));
    m.push_str(&format!("Message-ID: <oof.{now}.{seq}@{hostname}>\r\n"));
    m.push_str(&format!("Subject: {}\r\n", subject.replace(['\r', '\n'], " ")));
    if let Some(id) = oget("message-id") {
        m.push_str(&format!("In-Reply-To: {id}\r\nReferences: {id}\r\n"));
    }
    m.push_str("Auto-Submitted: auto-replied\r\nX-Auto-Response-Suppress: All\r\nMIME-Version: 1.0\r\n");
    m.push_str(&format!(
        "Content-Type: {}\r\n",
        tget("content-type").unwrap_or_else(|| "text/plain; charset=utf-8".into())
    ));
    if let Some(cte) = tget("content-transfer-encoding") {
        m.push_str(&format!("Content-Transfer-Encoding: {cte}\r\n"));
    }
    m.push_str("\r\n");
    let mut out = m.into_bytes();
    // Body with CRLF line ends.
    for l in body.split_inclusive(|&b| b == b'\n') {
        let l = l.strip_suffix(b"\n").unwrap_or(l);
        let l = l.strip_suffix(b"\r").unwrap_or(l);
        out.extend_from_slice(l);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Where replies are spooled (set once the queue runs).
pub struct Submitter {
    pub spool: Arc<Spool>,
    pub queue: Arc<Queue>,
    pub hostname: String,
}

/// A [`Deliverer`] that sends out-of-office replies after storing a message.
pub struct Autoreplier {
    inner: Arc<dyn Deliverer>,
    resolver: Arc<dyn RecipientResolver>,
    /// Silence window, seconds.
    window: i64,
    submit: Arc<OnceLock<Submitter>>,
    log: Logger,
}

impl Autoreplier {
    /// Wrap `inner`; `submit` is filled in when the queue is running.
    pub fn new(
        inner: Arc<dyn Deliverer>,
        resolver: Arc<dyn RecipientResolver>,
        window: i64,
        submit: Arc<OnceLock<Submitter>>,
        log: Logger,
    ) -> Self {
        Autoreplier {
            inner,
            resolver,
            window,
            submit,
            log,
        }
    }

    /// Whether the message reached `rcpt` directly (one of the envelope recipients resolves
    /// to it) rather than through a mailing list.
    fn direct(&self, env: &Envelope, rcpt: &Resolved) -> bool {
        env.rcpts.iter().any(|r| {
            matches!(self.resolver.resolve(r), Resolution::Found(f)
                if f.kind == RecipientKind::Mailbox && f.address.eq_ignore_ascii_case(&rcpt.address))
        })
    }

    fn maybe_reply(&self, msg: &SpooledMessage, env: &Envelope, rcpt: &Resolved) -> Result<(), String> {
        let cfg_dir = rcpt.maildir.join("config");
        let Ok(text) = std::fs::read_to_string(cfg_dir.join("autoreply.cfg")) else {
            return Ok(());
        };
        let settings = OofSettings::parse(&text);
        let now = unix_now() as i64;
        if !settings.active(now) {
            return Ok(());
        }
        let raw = msg.read_body().map_err(|e| format!("reading the message: {e}"))?;
        let headers = header_fields(&raw);
        if let Some(why) = suppressed(&headers, &env.from, &rcpt.address) {
            slog::debug!(self.log, "no out-of-office reply"; "event" => "oof.suppressed", "mailbox" => &rcpt.address, "reason" => why);
            return Ok(());
        }
        if !self.direct(env, rcpt) {
            slog::debug!(self.log, "no out-of-office reply"; "event" => "oof.suppressed", "mailbox" => &rcpt.address, "reason" => "received through a mailing list");
            return Ok(());
        }
        let internal = matches!(self.resolver.resolve(&env.from), Resolution::Found(_))
            || env
                .from
                .rsplit_once('@')
                .is_some_and(|(_, d)| self.resolver.is_local_domain(d));
        let file = if internal {
            "internal-reply"
        } else if settings.allow_external && settings.external_audience == 0 {
            "external-reply"
        } else {
            return Ok(());
        };
        let template = read_template(&cfg_dir, file)?;
        if !self.resolver.autoreply_due(rcpt, &env.from, now, self.window)? {
            slog::debug!(self.log, "no out-of-office reply"; "event" => "oof.suppressed", "mailbox" => &rcpt.address, "reason" => "silence window");
            return Ok(());
        }
        let Some(sub) = self.submit.get() else {
            return Err("queue not running".into());
        };
        let id = spool_reply(sub, &template, &headers, &rcpt.address, &env.from, now)?;
        slog::info!(self.log, "out-of-office reply queued"; "event" => "oof.reply", "mailbox" => &rcpt.address,
            "to" => &env.from, "id" => id, "internal" => internal);
        Ok(())
    }
}

/// Build a reply from `mailbox` to `to` with `template` (see [`build_reply`]), spool it from the
/// null sender and queue it; the spool id.
pub fn spool_reply(
    sub: &Submitter,
    template: &[u8],
    original: &[(String, String)],
    mailbox: &str,
    to: &str,
    now: i64,
) -> Result<String, String> {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    // Unique per process and call: the Message-ID of the reply.
    let seq = u64::from(std::process::id()) << 32 | SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let reply = build_reply(template, original, mailbox, to, &sub.hostname, now, seq);
    let renv = Envelope {
        from: String::new(),
        rcpts: vec![to.to_string()],
        helo: sub.hostname.clone(),
        peer: GENERATED_PEER.into(),
        time: unix_now(),
        lmtp: false,
        body_8bit: true,
        smtputf8: !to.is_ascii(),
    };
    let mut w = sub
        .spool
        .create(&renv)
        .map_err(|e| format!("spooling the reply: {e}"))?;
    w.write(&reply).map_err(|e| format!("spooling the reply: {e}"))?;
    let d = w.commit(&sub.spool).map_err(|e| format!("spooling the reply: {e}"))?;
    sub.queue.enqueue(d.path);
    Ok(d.id)
}

fn read_template(dir: &Path, file: &str) -> Result<Vec<u8>, String> {
    std::fs::read(dir.join(file)).map_err(|e| format!("{file}: {e}"))
}

impl Deliverer for Autoreplier {
    fn deliver(&self, msg: &SpooledMessage, env: &Envelope, rcpt: &Resolved) -> Delivery {
        let d = self.inner.deliver(msg, env, rcpt);
        if matches!(d, Delivery::Delivered) && rcpt.kind == RecipientKind::Mailbox {
            if let Err(e) = self.maybe_reply(msg, env, rcpt) {
                slog::warn!(self.log, "out-of-office reply failed"; "event" => "oof.failed", "mailbox" => &rcpt.address, "error" => e);
            }
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_and_schedule() {
        let s = OofSettings::parse("OOF_STATE = 2\nSTART_TIME = 100\nEND_TIME = 200\nALLOW_EXTERNAL_OOF = 1\n");
        assert!(s.allow_external);
        assert!(!s.active(99) && s.active(100) && s.active(199) && !s.active(200));
        assert!(OofSettings::parse("oof_state=1").active(0));
        assert!(!OofSettings::parse("OOF_STATE = 0").active(0));
    }

    #[test]
    fn suppression_rules() {
        let h = |n: &str, v: &str| vec![(n.to_string(), v.to_string())];
        assert_eq!(suppressed(&[], "", "me@x"), Some("null sender"));
        assert_eq!(suppressed(&[], "Me@X", "me@x"), Some("mail from the mailbox itself"));
        assert!(suppressed(&h("precedence", "Bulk"), "a@b", "me@x").is_some());
        assert!(suppressed(&h("auto-submitted", "auto-replied"), "a@b", "me@x").is_some());
        assert!(suppressed(&h("auto-submitted", "no"), "a@b", "me@x").is_none());
        assert!(suppressed(&h("list-id", "<l.example>"), "a@b", "me@x").is_some());
        assert!(suppressed(&h("x-auto-response-suppress", "DR, OOF"), "a@b", "me@x").is_some());
        assert!(suppressed(&h("subject", "hi"), "a@b", "me@x").is_none());
    }

    #[test]
    fn reply_message() {
        let orig = header_fields(b"Subject: Lunch?\r\nMessage-ID: <m1@example.net>\r\n\r\nbody\r\n");
        let r = build_reply(
            b"Subject: Away\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nBack Monday.\n",
            &orig,
            "me@example.org",
            "a@example.net",
            "mx.example.org",
            0,
            1,
        );
        let text = String::from_utf8(r).unwrap();
        assert!(text.contains("Subject: Away\r\n"), "{text}");
        assert!(text.contains("In-Reply-To: <m1@example.net>\r\n"), "{text}");
        assert!(text.contains("Auto-Submitted: auto-replied\r\n"), "{text}");
        assert!(text.ends_with("\r\n\r\nBack Monday.\r\n"), "{text}");
        let r = build_reply(b"Just text", &orig, "me@example.org", "a@example.net", "h", 0, 1);
        assert!(String::from_utf8(r)
            .unwrap()
            .contains("Subject: Automatic reply: Lunch?\r\n"));
    }
}
