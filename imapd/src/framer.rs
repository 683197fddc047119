//! Command framing (RFC 9051 §2.2.1, §4.3, §7.5; RFC 7888 LITERAL+; RFC 3516 `~{n}`).
//!
//! An IMAP command is one line, or several lines joined by literals: a line ending in
//! `{n}` (synchronizing — the server must answer `+ ` before the client sends the `n`
//! octets), `{n+}` (non-synchronizing, RFC 7888) or `~{n}` / `~{n+}` (binary literal,
//! RFC 3516) is followed by `n` octets and then the rest of the command.
//!
//! [`Framer`] is incremental and sans-I/O: it is fed whatever bytes have arrived, copies the
//! current command into its own buffer (so large literals never have to sit in the runtime's
//! input buffer), and reports when a continuation request is due, when a whole command is
//! framed, or when the command is broken. It enforces hard caps on line length and literal
//! size. A broken command is discarded *exactly*: framing continues through its remaining
//! lines and non-synchronizing literals without storing them, and the error is reported
//! once the command ends, so the next command starts cleanly.

use crate::error::ParseError;

/// Framing limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest command line (between literals), CRLF included.
    pub line_max: usize,
    /// Largest literal accepted (`imap_literal_max`).
    pub literal_max: u64,
    /// Largest whole command (lines plus literals); MULTIAPPEND is bounded by this.
    pub command_max: u64,
    /// Deepest parenthesis nesting the parser accepts.
    pub depth_max: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            line_max: 64 * 1024,
            literal_max: 64 * 1024 * 1024,
            command_max: 128 * 1024 * 1024,
            depth_max: 16,
        }
    }
}

/// What [`Framer::feed`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// More input is needed.
    Incomplete,
    /// A synchronizing literal was announced and accepted: send `+ ...` and feed on.
    Continue,
    /// A complete command is in [`Framer::command`]; call [`Framer::reset`] after use.
    Command,
    /// The command was broken and has been discarded; answer `BAD` (tagged when the tag is known).
    Error(ParseError),
    /// A non-synchronizing literal too large even to skip was announced: answer `BAD`, then
    /// close the connection (RFC 7888 §4).
    Fatal(ParseError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Line,
    Literal { left: u64 },
}

/// Incremental command framer; see the module docs.
#[derive(Debug)]
pub struct Framer {
    limits: Limits,
    buf: Vec<u8>,
    state: State,
    /// Where the line being read starts in `buf`.
    line_start: usize,
    /// Bytes of the current line seen (also counted while discarding).
    line_len: usize,
    /// Total bytes of the command seen.
    total: u64,
    /// Set once the command is known to be broken: nothing more is stored.
    discard: Option<ParseError>,
    /// Last bytes of the current line while discarding (to spot a literal announcement).
    tail: Vec<u8>,
    /// Tag of the command, remembered before discarding drops the buffer.
    tag: Option<Vec<u8>>,
}

/// A literal announced at the end of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LiteralAnnounce {
    pub len: u64,
    pub sync: bool,
}

/// Recognise `{n}`, `{n+}`, `~{n}`, `~{n+}` right before the line end (CRLF or bare LF
/// already removed). Returns `Err(())` when braces are present but malformed.
pub(crate) fn literal_at_end(line: &[u8]) -> Option<Result<LiteralAnnounce, ()>> {
    let l = line.strip_suffix(b"}")?;
    let open = l.iter().rposition(|&b| b == b'{')?;
    let inner = &l[open + 1..];
    let (digits, sync) = match inner.strip_suffix(b"+") {
        Some(d) => (d, false),
        None => (inner, true),
    };
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return Some(Err(()));
    }
    let mut len: u64 = 0;
    for &d in digits {
        len = len * 10 + u64::from(d - b'0');
    }
    Some(Ok(LiteralAnnounce { len, sync }))
}

/// The tag at the start of a command, if it is a valid tag (RFC 9051 §9 `tag`).
pub fn tag_of(buf: &[u8]) -> Option<&[u8]> {
    let end = buf.iter().position(|&b| b == b' ' || b == b'\r' || b == b'\n')?;
    let t = &buf[..end];
    if !t.is_empty() && t.iter().all(|&b| crate::parser::is_astring_char(b) && b != b'+') {
        Some(t)
    } else {
        None
    }
}

impl Framer {
    /// A framer enforcing `limits`.
    pub fn new(limits: Limits) -> Self {
        Framer {
            limits,
            buf: Vec::new(),
            state: State::Line,
            line_start: 0,
            line_len: 0,
            total: 0,
            discard: None,
            tail: Vec::new(),
            tag: None,
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Change the limits (e.g. after login); applies from the next announced literal.
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// The framed command (valid after [`Frame::Command`]).
    pub fn command(&self) -> &[u8] {
        &self.buf
    }

    /// Take the framed command out (valid after [`Frame::Command`]) and start on the next
    /// one; hand the buffer back with [`Framer::recycle`] to keep its capacity.
    pub fn take_command(&mut self) -> Vec<u8> {
        let b = std::mem::take(&mut self.buf);
        self.reset();
        b
    }

    /// Give a buffer from [`Framer::take_command`] back for reuse (large ones are dropped).
    pub fn recycle(&mut self, mut buf: Vec<u8>) {
        if self.buf.capacity() == 0 && buf.capacity() <= 256 * 1024 {
            buf.clear();
            self.buf = buf;
        }
    }

    /// Whether no part of a command has been received yet.
    pub fn is_idle(&self) -> bool {
        self.total == 0
    }

    /// Forget the current command and start on the next one. Keeps the buffer's capacity
    /// unless it grew large (a big APPEND), which is released.
    pub fn reset(&mut self) {
        self.buf.clear();
        if self.buf.capacity() > 256 * 1024 {
            self.buf = Vec::new();
        }
        self.state = State::Line;
        self.line_start = 0;
        self.line_len = 0;
        self.total = 0;
        self.discard = None;
        self.tail.clear();
        self.tag = None;
    }

    fn fail(&mut self, msg: &str) {
        if self.discard.is_none() {
            if self.tag.is_none() {
                self.tag = tag_of(&self.buf).map(<[u8]>::to_vec);
            }
            self.discard = Some(ParseError::new(self.tag.as_deref(), msg));
            self.buf.clear();
        }
    }

    fn finish_error(&mut self) -> Frame {
        let e = self
            .discard
            .take()
            .unwrap_or_else(|| ParseError::new(None, "Invalid command"));
        self.reset();
        Frame::Error(e)
    }

    /// Feed input. Returns how many bytes of `data` were consumed and what happened; call
    /// again with the rest after acting on the event (the rest may hold further commands).
    pub fn feed(&mut self, data: &[u8]) -> (usize, Frame) {
        let mut pos = 0;
        loop {
            match self.state {
                State::Literal { left } => {
                    let n = (left.min((data.len() - pos) as u64)) as usize;
                    if self.discard.is_none() {
                        self.buf.extend_from_slice(&data[pos..pos + n]);
                    }
                    pos += n;
                    self.total += n as u64;
                    let left = left - n as u64;
                    if left > 0 {
                        self.state = State::Literal { left };
                        return (pos, Frame::Incomplete);
                    }
                    self.state = State::Line;
                    self.line_start = self.buf.len();
                    self.line_len = 0;
                    self.tail.clear();
                }
                State::Line => {
                    let rest = &data[pos..];
                    let nl = rest.iter().position(|&b| b == b'\n');
                    let take = nl.map_or(rest.len(), |i| i + 1);
                    let chunk = &rest[..take];
                    pos += take;
                    self.total += take as u64;
                    self.line_len += take;
                    if self.discard.is_none() {
                        if self.line_len > self.limits.line_max {
                            if self.tag.is_none() {
                                let mut head = self.buf.clone();
                                head.extend_from_slice(&chunk[..chunk.len().min(128)]);
                                self.tag = tag_of(&head).map(<[u8]>::to_vec);
                            }
                            self.fail("Command line too long");
                        } else {
                            self.buf.extend_from_slice(chunk);
                        }
                    }
                    if self.discard.is_some() {
                        self.tail.extend_from_slice(chunk);
                        if self.tail.len() > 32 {
                            self.tail.drain(..self.tail.len() - 32);
                        }
                    }
                    if nl.is_none() {
                        return (pos, Frame::Incomplete);
                    }
                    // A full line: does it announce a literal?
                    let line: &[u8] = if self.discard.is_some() {
                        &self.tail
                    } else {
                        &self.buf[self.line_start..]
                    };
                    let line = line.strip_suffix(b"\n").unwrap_or(line);
                    let line = line.strip_suffix(b"\r").unwrap_or(line);
                    if self.tag.is_none() && self.discard.is_none() {
                        self.tag = tag_of(&self.buf).map(<[u8]>::to_vec);
                    }
                    match literal_at_end(line) {
                        None => {
                            if self.discard.is_some() {
                                return (pos, self.finish_error());
                            }
                            return (pos, Frame::Command);
                        }
                        Some(Err(())) => {
                            self.fail("Invalid literal");
                            return (pos, self.finish_error());
                        }
                        Some(Ok(lit)) => {
                            if !lit.sync && lit.len > self.limits.command_max {
                                self.fail("Literal too large");
                                let e = self
                                    .discard
                                    .take()
                                    .unwrap_or_else(|| ParseError::new(None, "Literal too large"));
                                self.reset();
                                return (pos, Frame::Fatal(e));
                            }
                            if lit.len > self.limits.literal_max
                                || self.total.saturating_add(lit.len) > self.limits.command_max
                            {
                                self.fail("Literal too large");
                                if lit.sync {
                                    // The client waits for our go-ahead, which never comes:
                                    // the command ends here (RFC 9051 §7.5).
                                    return (pos, self.finish_error());
                                }
                            }
                            if self.discard.is_some() && lit.sync {
                                return (pos, self.finish_error());
                            }
                            self.state = State::Literal { left: lit.len };
                            if lit.sync {
                                return (pos, Frame::Continue);
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> Framer {
        Framer::new(Limits {
            line_max: 40,
            literal_max: 10,
            command_max: 100,
            depth_max: 8,
        })
    }

    #[test]
    fn simple_line_and_pipelining() {
        let mut f = small();
        let data = b"a NOOP\r\nb NOOP\r\n";
        let (n, ev) = f.feed(data);
        assert_eq!((n, ev), (8, Frame::Command));
        assert_eq!(f.command(), b"a NOOP\r\n");
        f.reset();
        let (n2, ev) = f.feed(&data[n..]);
        assert_eq!((n2, ev), (8, Frame::Command));
    }

    #[test]
    fn sync_literal_needs_continuation() {
        let mut f = small();
        let (n, ev) = f.feed(b"a LOGIN {3}\r\n");
        assert_eq!((n, ev), (13, Frame::Continue));
        let (n, ev) = f.feed(b"bo");
        assert_eq!((n, ev), (2, Frame::Incomplete));
        let (n, ev) = f.feed(b"b pw\r\nc");
        assert_eq!((n, ev), (6, Frame::Command));
        assert_eq!(f.command(), b"a LOGIN {3}\r\nbob pw\r\n");
    }

    #[test]
    fn nonsync_literal_flows() {
        let mut f = small();
        let data = b"a LOGIN {3+}\r\nbob ~{2+}\r\npw\r\nnext";
        let (n, ev) = f.feed(data);
        assert_eq!(ev, Frame::Command);
        assert_eq!(&data[n..], b"next");
    }

    #[test]
    fn too_big_sync_literal_rejected_without_reading_it() {
        let mut f = small();
        let (n, ev) = f.feed(b"t1 APPEND x {11}\r\nt2 NOOP\r\n");
        assert_eq!(n, 18);
        match ev {
            Frame::Error(e) => assert_eq!(e.tag.as_deref(), Some("t1")),
            e => panic!("{e:?}"),
        }
        assert!(f.is_idle());
        let (_, ev) = f.feed(b"t2 NOOP\r\n");
        assert_eq!(ev, Frame::Command);
    }

    #[test]
    fn too_big_nonsync_literal_is_skipped_exactly() {
        let mut f = small();
        let data = b"t1 APPEND x {12+}\r\n0123456789ab rest\r\nt2 NOOP\r\n";
        let (n, ev) = f.feed(data);
        assert!(
            matches!(ev, Frame::Error(ref e) if e.tag.as_deref() == Some("t1")),
            "{ev:?}"
        );
        assert_eq!(&data[n..], b"t2 NOOP\r\n");
    }

    #[test]
    fn huge_nonsync_literal_is_fatal() {
        let mut f = small();
        let (_, ev) = f.feed(b"t1 APPEND x {101+}\r\nxxx");
        assert!(
            matches!(ev, Frame::Fatal(ref e) if e.tag.as_deref() == Some("t1")),
            "{ev:?}"
        );
    }

    #[test]
    fn long_line_discarded_until_newline() {
        let mut f = small();
        let mut data = b"tag ".to_vec();
        data.extend(std::iter::repeat_n(b'x', 100));
        data.extend_from_slice(b"\r\nnext NOOP\r\n");
        let (n, ev) = f.feed(&data[..50]);
        assert_eq!((n, ev), (50, Frame::Incomplete));
        let (n2, ev) = f.feed(&data[50..]);
        assert!(
            matches!(ev, Frame::Error(ref e) if e.tag.as_deref() == Some("tag")),
            "{ev:?}"
        );
        assert_eq!(&data[50 + n2..], b"next NOOP\r\n");
    }

    #[test]
    fn bad_literal_and_untagged() {
        let mut f = small();
        let (_, ev) = f.feed(b"a x {1a}\r\n");
        assert!(matches!(ev, Frame::Error(_)));
        f.reset();
        let mut long = vec![b'('; 60];
        long.extend_from_slice(b"\r\n");
        let (_, ev) = f.feed(&long);
        assert!(matches!(ev, Frame::Error(ref e) if e.tag.is_none()), "{ev:?}");
    }
}
