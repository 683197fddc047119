//! Forwards from the user directory (`forwards` table: `forward_type` 0 keeps a copy in the
//! mailbox and forwards one, 1 redirects without keeping one). The forwarded copy is the
//! original message with an `X-Gromox-Forwarded-For: <mailbox>` field prepended, spooled as
//! a generated message from the original envelope sender to the destination: delivered
//! locally when the destination is a local address, else through `outgoing_smtp_url`. A
//! message that already carries the field for this mailbox is not forwarded again (loops).

use std::sync::{Arc, OnceLock};

use slog::Logger;

use crate::autoreply::{header_fields, Submitter};
use crate::deliver::{Deliverer, Delivery, RecipientKind, RecipientResolver, Resolved};
use crate::queue::GENERATED_PEER;
use crate::spool::{unix_now, Envelope, SpooledMessage};

/// The loop-prevention header field.
pub const FORWARDED_FOR: &str = "X-Gromox-Forwarded-For";

/// A [`Deliverer`] that applies the mailbox's forward.
pub struct Forwarder {
    inner: Arc<dyn Deliverer>,
    resolver: Arc<dyn RecipientResolver>,
    submit: Arc<OnceLock<Submitter>>,
    log: Logger,
}

impl Forwarder {
    /// Wrap `inner`; `submit` is filled in when the queue runs.
    pub fn new(
        inner: Arc<dyn Deliverer>,
        resolver: Arc<dyn RecipientResolver>,
        submit: Arc<OnceLock<Submitter>>,
        log: Logger,
    ) -> Self {
        Forwarder {
            inner,
            resolver,
            submit,
            log,
        }
    }

    fn forward(&self, msg: &SpooledMessage, env: &Envelope, rcpt: &Resolved, dest: &str) -> Result<bool, String> {
        let raw = msg.read_body().map_err(|e| format!("reading the message: {e}"))?;
        let seen = header_fields(&raw).iter().any(|(k, v)| {
            k.eq_ignore_ascii_case(FORWARDED_FOR) && v.trim_matches(['<', '>']).eq_ignore_ascii_case(&rcpt.address)
        });
        if seen {
            slog::warn!(self.log, "forwarding loop: not forwarded again"; "event" => "forward.loop", "mailbox" => &rcpt.address, "to" => dest);
            return Ok(false);
        }
        let Some(sub) = self.submit.get() else {
            return Err("queue not running".into());
        };
        let id = spool_copy(sub, env, &rcpt.address, dest, &raw)?;
        slog::info!(self.log, "forward queued"; "event" => "forward.queued", "mailbox" => &rcpt.address, "to" => dest, "id" => id);
        Ok(true)
    }
}

/// Spool a copy of `raw` (received by mailbox `via`) to `dest` as a generated message from
/// the original envelope sender, with the loop-prevention field prepended, and queue it;
/// returns the spool id.
pub fn spool_copy(sub: &Submitter, env: &Envelope, via: &str, dest: &str, raw: &[u8]) -> Result<String, String> {
    let fenv = Envelope {
        from: env.from.clone(),
        rcpts: vec![dest.to_string()],
        helo: sub.hostname.clone(),
        peer: GENERATED_PEER.into(),
        time: unix_now(),
        lmtp: false,
        body_8bit: env.body_8bit,
        smtputf8: env.smtputf8 || !dest.is_ascii(),
    };
    let mut w = sub.spool.create(&fenv).map_err(|e| format!("spooling: {e}"))?;
    w.write(format!("{FORWARDED_FOR}: <{via}>\r\n").as_bytes())
        .and_then(|_| w.write(raw))
        .map_err(|e| format!("spooling: {e}"))?;
    let d = w.commit(&sub.spool).map_err(|e| format!("spooling: {e}"))?;
    let id = d.id.clone();
    sub.queue.enqueue(d.path);
    Ok(id)
}

/// Whether `raw` was already forwarded by mailbox `via` (loop prevention).
pub fn already_forwarded(raw: &[u8], via: &str) -> bool {
    header_fields(raw)
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case(FORWARDED_FOR) && v.trim_matches(['<', '>']).eq_ignore_ascii_case(via))
}

impl Deliverer for Forwarder {
    fn deliver(&self, msg: &SpooledMessage, env: &Envelope, rcpt: &Resolved) -> Delivery {
        let fwd = match rcpt.kind {
            RecipientKind::Mailbox => self.resolver.forward_of(&rcpt.address),
            _ => None,
        };
        let Some((redirect, dest)) = fwd else {
            return self.inner.deliver(msg, env, rcpt);
        };
        if !redirect {
            let d = self.inner.deliver(msg, env, rcpt);
            if !matches!(d, Delivery::Delivered) {
                return d;
            }
        }
        // The forward is durably spooled before the delivery counts as done; if it cannot be,
        // a redirect is retried later (a kept copy is already stored, so only logged).
        match self.forward(msg, env, rcpt, &dest) {
            Ok(_) => Delivery::Delivered,
            Err(e) if redirect => Delivery::Temporary(format!("forward to {dest}: {e}")),
            Err(e) => {
                slog::error!(self.log, "forward failed"; "event" => "forward.failed", "mailbox" => &rcpt.address, "to" => &dest, "error" => e);
                Delivery::Delivered
            }
        }
    }
}
