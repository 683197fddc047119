//! Producers: source formats → stream frames.
//!
//! Messages are converted with `gromox-convert` (`mime_in::mime_to_mapi` for RFC 5322,
//! `ical::ical_to_items` for RFC 5545, `vcard::vcards_to_contacts` for RFC 6350,
//! `tnef::decode_partial` for MS-OXTNEF) and bridged to `gromox-mapi` types; named properties
//! get stream ids ≥ 0x8000, announced by a named-property frame before first use.

use crate::stream::{MessageFrame, MtAttachment, MtMessage, StreamError, Writer};
use gromox_convert::mapi::{to_mapi, MapiMessage};
use gromox_mapi::{PropName, PropTag, PropVal, TaggedVal};
use std::collections::HashMap;
use std::io::Write;

/// A stream writer plus the named-property map of the stream.
pub struct Producer<W: Write> {
    pub w: Writer<W>,
    names: HashMap<PropName, u16>,
    next: u16,
}

impl<W: Write> Producer<W> {
    pub fn new(out: W) -> Result<Self, StreamError> {
        Ok(Producer {
            w: Writer::new(out)?,
            names: HashMap::new(),
            next: 0x8000,
        })
    }

    fn name_id(&mut self, n: &PropName) -> Result<Option<u16>, StreamError> {
        if let Some(id) = self.names.get(n) {
            return Ok(Some(*id));
        }
        if self.next == 0xFFFF {
            return Ok(None); // map full: the property is dropped
        }
        let id = self.next;
        self.next += 1;
        self.w.named(id, n)?;
        self.names.insert(n.clone(), id);
        Ok(Some(id))
    }

    fn props(&mut self, tagged: &[TaggedVal], named: &[(PropName, PropVal)]) -> Result<Vec<TaggedVal>, StreamError> {
        let mut out: Vec<TaggedVal> = tagged.iter().filter(|t| t.tag.id() < 0x8000).cloned().collect();
        for (n, v) in named {
            if let Some(id) = self.name_id(n)? {
                out.push(TaggedVal::new(PropTag::new(id, v.ptype()), v.clone()));
            }
        }
        Ok(out)
    }

    /// Bridges a converted message into stream form.
    pub fn to_mt(&mut self, m: &MapiMessage) -> Result<MtMessage, StreamError> {
        let props = self.props(&m.props, &m.named)?;
        let mut attachments = Vec::with_capacity(m.attachments.len());
        for a in &m.attachments {
            let props = self.props(&a.props, &a.named)?;
            let embedded = match &a.embedded {
                Some(e) => Some(Box::new(self.to_mt(e)?)),
                None => None,
            };
            attachments.push(MtAttachment { props, embedded });
        }
        Ok(MtMessage {
            props,
            recipients: m.recipients.clone(),
            attachments,
        })
    }

    /// Writes one converted message.
    pub fn message(
        &mut self,
        m: &MapiMessage,
        folder: u64,
        source: &str,
        mime: Option<Vec<u8>>,
    ) -> Result<(), StreamError> {
        let message = self.to_mt(m)?;
        self.w.message(&MessageFrame {
            folder,
            associated: false,
            source: source.to_string(),
            message,
            mime,
        })
    }

    /// An RFC 5322 message (kept byte-exact as the original MIME).
    pub fn eml(&mut self, raw: &[u8], source: &str) -> Result<(), StreamError> {
        let m = to_mapi(&gromox_convert::mime_in::mime_to_mapi(raw));
        self.message(&m, 0, source, Some(raw.to_vec()))
    }

    /// iCalendar text: one message per event/task; returns the count.
    pub fn ical(&mut self, text: &str, source: &str) -> Result<usize, StreamError> {
        let items = gromox_convert::ical::ical_to_items(text);
        for (i, it) in items.iter().enumerate() {
            self.message(&to_mapi(it), 0, &format!("{source}#{}", i + 1), None)?;
        }
        Ok(items.len())
    }

    /// vCard text: one contact per card; returns the count.
    pub fn vcard(&mut self, text: &str, source: &str) -> Result<usize, StreamError> {
        let items = gromox_convert::vcard::vcards_to_contacts(text);
        for (i, it) in items.iter().enumerate() {
            self.message(&to_mapi(it), 0, &format!("{source}#{}", i + 1), None)?;
        }
        Ok(items.len())
    }

    pub fn finish(self) -> Result<W, StreamError> {
        self.w.finish()
    }
}

/// Splits an mbox (RFC 4155) into messages, streaming: calls `f` with each message's bytes
/// (the "From " separator line removed, ">From " unquoted). Memory is bounded by the
/// largest message.
pub fn mbox_split<R: std::io::BufRead>(mut r: R, mut f: impl FnMut(&[u8]) -> bool) -> std::io::Result<()> {
    let mut cur: Vec<u8> = Vec::new();
    let mut line = Vec::new();
    let mut started = false;
    let mut prev_blank = true;
    loop {
        line.clear();
        if r.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        if line.starts_with(b"From ") && prev_blank {
            if started && !f(trim_sep(&cur)) {
                return Ok(());
            }
            cur.clear();
            started = true;
            prev_blank = false;
            continue;
        }
        prev_blank = line == b"\n" || line == b"\r\n";
        let l: &[u8] = &line;
        let unq = l.starts_with(b">") && l.iter().skip_while(|c| **c == b'>').take(5).eq(b"From ".iter());
        cur.extend_from_slice(if unq { &l[1..] } else { l });
        started = true;
    }
    if started && !cur.is_empty() {
        f(trim_sep(&cur));
    }
    Ok(())
}

/// Drops the blank line mbox puts before the next "From " line.
fn trim_sep(m: &[u8]) -> &[u8] {
    m.strip_suffix(b"\r\n")
        .filter(|x| x.ends_with(b"\n"))
        .or_else(|| m.strip_suffix(b"\n").filter(|x| x.ends_with(b"\n")))
        .unwrap_or(m)
}

/// Decodes a TNEF (MS-OXTNEF) blob into a message; a decoding problem after the parts that
/// could be read is returned beside the message.
pub fn tnef_message(raw: &[u8]) -> (MapiMessage, Option<String>) {
    let (t, err) = gromox_convert::tnef::decode_partial(raw);
    (
        to_mapi(&gromox_convert::mime_in::tnef_to_message(t)),
        err.map(|e| e.to_string()),
    )
}
