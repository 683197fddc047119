//! The intermediate mail-transfer stream ("GXRS-MT"), documented byte-for-byte in the crate
//! README. A [`Writer`] emits frames; a [`Reader`] yields them one at a time with memory
//! bounded by [`MAX_FRAME`], never trusting a length field.

use gromox_mapi::sqlcodec::{self, SqlValue};
use gromox_mapi::{Guid, PropName, PropNameKind, PropTag, TaggedVal};
use std::io::{Read, Write};

/// Magic at the start of every stream.
pub const MAGIC: &[u8; 8] = b"GXRS-MT\0";
/// Stream format version.
pub const VERSION: u32 = 1;
/// Hard cap of one frame's payload (bytes).
pub const MAX_FRAME: u32 = 64 << 20;
/// Nesting cap for embedded messages.
const MAX_DEPTH: u32 = 32;

/// Errors reading or writing a stream.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("not an MT stream (bad magic)")]
    BadMagic,
    #[error("unsupported MT stream version {0}")]
    Version(u32),
    #[error("{what}: truncated stream")]
    Truncated { what: String },
    #[error("{what}: frame length {len} exceeds cap {MAX_FRAME}")]
    TooLong { what: String, len: u32 },
    #[error("{what}: unknown frame type 0x{kind:02x}")]
    UnknownFrame { what: String, kind: u8 },
    #[error("{what}: malformed payload ({why})")]
    Malformed { what: String, why: &'static str },
}

/// One folder of the folder map: source id, parent source id (0 = the import base), name.
#[derive(Debug, Clone, PartialEq)]
pub struct FolderFrame {
    pub id: u64,
    pub parent: u64,
    pub name: String,
    pub container_class: Option<String>,
}

/// A message in stream form: tags ≥ 0x8000 refer to the stream's named-property map.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MtMessage {
    pub props: Vec<TaggedVal>,
    pub recipients: Vec<Vec<TaggedVal>>,
    pub attachments: Vec<MtAttachment>,
}

/// An attachment in stream form.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MtAttachment {
    pub props: Vec<TaggedVal>,
    pub embedded: Option<Box<MtMessage>>,
}

/// A message frame: target folder (source id, 0 = base), FAI flag, content, original MIME.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageFrame {
    pub folder: u64,
    pub associated: bool,
    /// Where the message came from (file path, mbox message number), for error lines.
    pub source: String,
    pub message: MtMessage,
    pub mime: Option<Vec<u8>>,
}

/// A frame of the stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Folder(FolderFrame),
    /// Named-property map entry: stream id (≥ 0x8000) → name.
    Named(u16, PropName),
    Message(Box<MessageFrame>),
    /// End marker with the number of message frames written.
    End(u64),
}

const K_FOLDER: u8 = b'F';
const K_NAMED: u8 = b'N';
const K_MESSAGE: u8 = b'M';
const K_END: u8 = b'E';

/// Writes a stream.
pub struct Writer<W: Write> {
    out: W,
    messages: u64,
    buf: Vec<u8>,
}

impl<W: Write> Writer<W> {
    /// Writes the magic and version.
    pub fn new(mut out: W) -> Result<Self, StreamError> {
        out.write_all(MAGIC)?;
        out.write_all(&VERSION.to_le_bytes())?;
        Ok(Writer {
            out,
            messages: 0,
            buf: Vec::new(),
        })
    }

    fn frame(&mut self, kind: u8) -> Result<(), StreamError> {
        let len = u32::try_from(self.buf.len()).ok().filter(|l| *l <= MAX_FRAME);
        let Some(len) = len else {
            return Err(StreamError::TooLong {
                what: "frame being written".into(),
                len: u32::MAX,
            });
        };
        self.out.write_all(&[kind])?;
        self.out.write_all(&len.to_le_bytes())?;
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }

    /// Writes a folder frame.
    pub fn folder(&mut self, f: &FolderFrame) -> Result<(), StreamError> {
        self.buf.clear();
        put_u64(&mut self.buf, f.id);
        put_u64(&mut self.buf, f.parent);
        put_str(&mut self.buf, &f.name);
        put_str(&mut self.buf, f.container_class.as_deref().unwrap_or(""));
        self.frame(K_FOLDER)
    }

    /// Writes a named-property map entry.
    pub fn named(&mut self, id: u16, n: &PropName) -> Result<(), StreamError> {
        self.buf.clear();
        self.buf.extend_from_slice(&id.to_le_bytes());
        self.buf.extend_from_slice(&n.guid.0);
        match &n.kind {
            PropNameKind::Lid(l) => {
                self.buf.push(0);
                put_u32(&mut self.buf, *l);
            }
            PropNameKind::Name(s) => {
                self.buf.push(1);
                put_str(&mut self.buf, s);
            }
        }
        self.frame(K_NAMED)
    }

    /// Writes a message frame.
    pub fn message(&mut self, m: &MessageFrame) -> Result<(), StreamError> {
        self.buf.clear();
        put_u64(&mut self.buf, m.folder);
        self.buf.push(u8::from(m.associated));
        put_str(&mut self.buf, &m.source);
        put_msg(&mut self.buf, &m.message);
        match &m.mime {
            Some(b) => {
                self.buf.push(1);
                put_bytes(&mut self.buf, b);
            }
            None => self.buf.push(0),
        }
        self.frame(K_MESSAGE)?;
        self.messages += 1;
        Ok(())
    }

    /// Writes the end frame and flushes; returns the inner writer.
    pub fn finish(mut self) -> Result<W, StreamError> {
        self.buf.clear();
        let n = self.messages;
        put_u64(&mut self.buf, n);
        self.frame(K_END)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

fn put_u32(b: &mut Vec<u8>, v: u32) {
    b.extend_from_slice(&v.to_le_bytes());
}
fn put_u64(b: &mut Vec<u8>, v: u64) {
    b.extend_from_slice(&v.to_le_bytes());
}
fn put_bytes(b: &mut Vec<u8>, d: &[u8]) {
    put_u32(b, d.len() as u32);
    b.extend_from_slice(d);
}
fn put_str(b: &mut Vec<u8>, s: &str) {
    put_bytes(b, s.as_bytes());
}
fn put_props(b: &mut Vec<u8>, p: &[TaggedVal]) {
    put_u32(b, p.len() as u32);
    for t in p {
        put_u32(b, t.tag.0);
        match sqlcodec::encode(&t.val) {
            SqlValue::Integer(i) => {
                b.push(0);
                b.extend_from_slice(&i.to_le_bytes());
            }
            SqlValue::Real(r) => {
                b.push(1);
                b.extend_from_slice(&r.to_le_bytes());
            }
            SqlValue::Text(s) => {
                b.push(2);
                put_str(b, &s);
            }
            SqlValue::Blob(d) => {
                b.push(3);
                put_bytes(b, &d);
            }
        }
    }
}
fn put_msg(b: &mut Vec<u8>, m: &MtMessage) {
    put_props(b, &m.props);
    put_u32(b, m.recipients.len() as u32);
    for r in &m.recipients {
        put_props(b, r);
    }
    put_u32(b, m.attachments.len() as u32);
    for a in &m.attachments {
        put_props(b, &a.props);
        match &a.embedded {
            Some(e) => {
                b.push(1);
                put_msg(b, e);
            }
            None => b.push(0),
        }
    }
}

/// Reads a stream frame by frame.
pub struct Reader<R: Read> {
    inp: R,
    /// Number of frames read so far (for error messages).
    pub frames: u64,
    /// Bytes consumed so far.
    pub bytes: u64,
    done: bool,
}

impl<R: Read> Reader<R> {
    /// Checks magic and version.
    pub fn new(mut inp: R) -> Result<Self, StreamError> {
        let mut h = [0u8; 12];
        read_full(&mut inp, &mut h).map_err(|e| match e {
            StreamError::Truncated { .. } => StreamError::BadMagic,
            e => e,
        })?;
        if &h[..8] != MAGIC {
            return Err(StreamError::BadMagic);
        }
        let v = u32::from_le_bytes([h[8], h[9], h[10], h[11]]);
        if v != VERSION {
            return Err(StreamError::Version(v));
        }
        Ok(Reader {
            inp,
            frames: 0,
            bytes: 12,
            done: false,
        })
    }

    /// The next frame; `Ok(None)` after the end frame. A stream ending without an end frame
    /// is an error naming the frame that was expected.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, StreamError> {
        if self.done {
            return Ok(None);
        }
        let what = format!("frame #{} at byte {}", self.frames + 1, self.bytes);
        let mut h = [0u8; 5];
        read_full(&mut self.inp, &mut h).map_err(|e| with_what(e, &what))?;
        let kind = h[0];
        let len = u32::from_le_bytes([h[1], h[2], h[3], h[4]]);
        if len > MAX_FRAME {
            return Err(StreamError::TooLong { what, len });
        }
        let what = match kind {
            K_FOLDER => format!("folder {what}"),
            K_NAMED => format!("named-property {what}"),
            K_MESSAGE => format!("message {what}"),
            K_END => format!("end {what}"),
            _ => return Err(StreamError::UnknownFrame { what, kind }),
        };
        // Read through `take` so a lying length never allocates more than what arrives.
        let mut payload = Vec::new();
        (&mut self.inp).take(len as u64).read_to_end(&mut payload)?;
        if payload.len() != len as usize {
            return Err(StreamError::Truncated { what });
        }
        self.frames += 1;
        self.bytes += 5 + len as u64;
        let f = decode_frame(kind, &payload).map_err(|why| StreamError::Malformed {
            what: what.clone(),
            why,
        })?;
        if matches!(f, Frame::End(_)) {
            self.done = true;
        }
        Ok(Some(f))
    }
}

fn with_what(e: StreamError, what: &str) -> StreamError {
    match e {
        StreamError::Truncated { .. } => StreamError::Truncated { what: what.into() },
        e => e,
    }
}

fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> Result<(), StreamError> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => return Err(StreamError::Truncated { what: String::new() }),
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

struct Cur<'a> {
    d: &'a [u8],
}

type R<T> = Result<T, &'static str>;

impl<'a> Cur<'a> {
    fn take(&mut self, n: usize) -> R<&'a [u8]> {
        if n > self.d.len() {
            return Err("field runs past the frame");
        }
        let (a, b) = self.d.split_at(n);
        self.d = b;
        Ok(a)
    }
    fn u8(&mut self) -> R<u8> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> R<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> R<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    fn bytes(&mut self) -> R<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    fn str(&mut self) -> R<String> {
        String::from_utf8(self.bytes()?.to_vec()).map_err(|_| "string is not UTF-8")
    }
    /// A count of items each at least `min` bytes long, checked against what is left.
    fn count(&mut self, min: usize) -> R<usize> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min) > self.d.len() {
            return Err("count exceeds the frame");
        }
        Ok(n)
    }
}

fn get_props(c: &mut Cur) -> R<Vec<TaggedVal>> {
    let n = c.count(5)?;
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        let tag = PropTag(c.u32()?);
        let sv = match c.u8()? {
            0 => SqlValue::Integer(c.u64()? as i64),
            1 => SqlValue::Real(f64::from_bits(c.u64()?)),
            2 => SqlValue::Text(c.str()?),
            3 => SqlValue::Blob(c.bytes()?.to_vec()),
            _ => return Err("unknown value kind"),
        };
        let ty = tag.ptype().ok_or("unknown property type")?;
        let val = sqlcodec::decode(ty, sv).map_err(|_| "value does not fit its type")?;
        v.push(TaggedVal { tag, val });
    }
    Ok(v)
}

fn get_msg(c: &mut Cur, depth: u32) -> R<MtMessage> {
    if depth > MAX_DEPTH {
        return Err("embedded messages nested too deep");
    }
    let props = get_props(c)?;
    let n = c.count(4)?;
    let mut recipients = Vec::with_capacity(n);
    for _ in 0..n {
        recipients.push(get_props(c)?);
    }
    let n = c.count(5)?;
    let mut attachments = Vec::with_capacity(n);
    for _ in 0..n {
        let props = get_props(c)?;
        let embedded = match c.u8()? {
            0 => None,
            1 => Some(Box::new(get_msg(c, depth + 1)?)),
            _ => return Err("bad embedded flag"),
        };
        attachments.push(MtAttachment { props, embedded });
    }
    Ok(MtMessage {
        props,
        recipients,
        attachments,
    })
}

fn decode_frame(kind: u8, p: &[u8]) -> R<Frame> {
    let mut c = Cur { d: p };
    let f = match kind {
        K_FOLDER => {
            let id = c.u64()?;
            let parent = c.u64()?;
            let name = c.str()?;
            let cc = c.str()?;
            if id == 0 {
                return Err("folder id 0 is reserved for the base");
            }
            Frame::Folder(FolderFrame {
                id,
                parent,
                name,
                container_class: (!cc.is_empty()).then_some(cc),
            })
        }
        K_NAMED => {
            let b = c.take(2)?;
            let id = u16::from_le_bytes([b[0], b[1]]);
            if id < 0x8000 {
                return Err("named-property id below 0x8000");
            }
            let mut g = [0u8; 16];
            g.copy_from_slice(c.take(16)?);
            let kind = match c.u8()? {
                0 => PropNameKind::Lid(c.u32()?),
                1 => PropNameKind::Name(c.str()?),
                _ => return Err("bad name kind"),
            };
            Frame::Named(id, PropName { guid: Guid(g), kind })
        }
        K_MESSAGE => {
            let folder = c.u64()?;
            let associated = c.u8()? != 0;
            let source = c.str()?;
            let message = get_msg(&mut c, 0)?;
            let mime = match c.u8()? {
                0 => None,
                1 => Some(c.bytes()?.to_vec()),
                _ => return Err("bad MIME flag"),
            };
            Frame::Message(Box::new(MessageFrame {
                folder,
                associated,
                source,
                message,
                mime,
            }))
        }
        K_END => Frame::End(c.u64()?),
        _ => return Err("unknown frame"),
    };
    if !c.d.is_empty() {
        return Err("trailing bytes in frame");
    }
    Ok(f)
}

/// Fuzz entry point: reads a whole stream from bytes, discarding frames.
pub fn fuzz_read(data: &[u8]) {
    if let Ok(mut r) = Reader::new(data) {
        while let Ok(Some(_)) = r.next_frame() {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lying_length_is_refused_before_allocation() {
        let mut s = MAGIC.to_vec();
        s.extend_from_slice(&VERSION.to_le_bytes());
        s.extend_from_slice(&[K_MESSAGE, 0xff, 0xff, 0xff, 0x05]);
        let mut r = Reader::new(&s[..]).unwrap();
        let e = r.next_frame().unwrap_err().to_string();
        assert!(e.contains("frame #1") && e.contains("exceeds cap"), "{e}");
        // Within the cap but longer than the data: truncated, naming the message frame.
        let mut s2 = s[..12].to_vec();
        s2.extend_from_slice(&[K_MESSAGE, 100, 0, 0, 0, 1, 2, 3]);
        let e = Reader::new(&s2[..]).unwrap().next_frame().unwrap_err().to_string();
        assert_eq!(e, "message frame #1 at byte 12: truncated stream");
    }

    #[test]
    fn frames_round_trip() {
        let mut w = Writer::new(Vec::new()).unwrap();
        let f = FolderFrame {
            id: 5,
            parent: 0,
            name: "Fächer".into(),
            container_class: Some("IPF.Note".into()),
        };
        w.folder(&f).unwrap();
        let n = PropName {
            guid: Guid([7; 16]),
            kind: PropNameKind::Name("Keywords".into()),
        };
        w.named(0x8000, &n).unwrap();
        let m = MessageFrame {
            folder: 5,
            associated: false,
            source: "x.eml".into(),
            message: MtMessage {
                props: vec![
                    TaggedVal::new(PropTag(0x0037_001F), gromox_mapi::PropVal::Unicode("s".into())),
                    TaggedVal::new(
                        PropTag(0x8000_101F),
                        gromox_mapi::PropVal::MvUnicode(vec!["a".into(), "b".into()]),
                    ),
                ],
                recipients: vec![vec![TaggedVal::new(PropTag(0x0C15_0003), gromox_mapi::PropVal::I4(1))]],
                attachments: vec![MtAttachment {
                    props: vec![],
                    embedded: Some(Box::default()),
                }],
            },
            mime: Some(b"Subject: s\r\n\r\n".to_vec()),
        };
        w.message(&m).unwrap();
        let out = w.finish().unwrap();
        let mut r = Reader::new(&out[..]).unwrap();
        assert_eq!(r.next_frame().unwrap(), Some(Frame::Folder(f)));
        assert_eq!(r.next_frame().unwrap(), Some(Frame::Named(0x8000, n)));
        assert_eq!(r.next_frame().unwrap(), Some(Frame::Message(Box::new(m))));
        assert_eq!(r.next_frame().unwrap(), Some(Frame::End(1)));
        assert_eq!(r.next_frame().unwrap(), None);
    }
}
