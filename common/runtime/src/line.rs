//! Line framing for the text protocols (eventd, timerd and the like): cut CRLF- or
//! LF-terminated lines out of buffered input with a hard cap, and discard an over-long line
//! without buffering it, reporting it once as [`Frame::TooLong`] so the protocol can answer
//! inside the protocol and go on (DESIGN.md §8: frame first, parse second).

/// One framed unit of input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A complete line without its CRLF/LF.
    Line(&'a [u8]),
    /// A line longer than the limit ended here; it was discarded.
    TooLong,
}

/// Cuts lines of at most `MAX` bytes (line end not counted) out of buffered input.
#[derive(Debug, Default, Clone)]
pub struct LineFramer<const MAX: usize> {
    /// Inside an over-long line: discard input up to the next LF.
    discarding: bool,
}

impl<const MAX: usize> LineFramer<MAX> {
    /// Take the next frame from `data`. Returns the frame (if one is complete) and the number
    /// of bytes consumed; `(None, n)` with `n > 0` means bytes of an over-long line were
    /// discarded, `(None, 0)` means more input is needed.
    pub fn next<'a>(&mut self, data: &'a [u8]) -> (Option<Frame<'a>>, usize) {
        let nl = data.iter().position(|&b| b == b'\n');
        if self.discarding {
            return match nl {
                Some(i) => {
                    self.discarding = false;
                    (Some(Frame::TooLong), i + 1)
                }
                None => (None, data.len()),
            };
        }
        match nl {
            Some(i) => {
                let line = &data[..i];
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if line.len() > MAX {
                    (Some(Frame::TooLong), i + 1)
                } else {
                    (Some(Frame::Line(line)), i + 1)
                }
            }
            // `MAX + 1` leaves room for a CR that may precede the LF still to come.
            None if data.len() > MAX + 1 => {
                self.discarding = true;
                (None, data.len())
            }
            None => (None, 0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_partial_and_over_long() {
        let mut f = LineFramer::<8>::default();
        assert_eq!(f.next(b"PING\r\nQU"), (Some(Frame::Line(b"PING")), 6));
        assert_eq!(f.next(b"QU"), (None, 0));
        assert_eq!(f.next(b"QUIT\n"), (Some(Frame::Line(b"QUIT")), 5));
        // Exactly MAX bytes plus CRLF is a line; one more byte is too long.
        assert_eq!(f.next(b"12345678\r\n"), (Some(Frame::Line(b"12345678")), 10));
        assert_eq!(f.next(b"123456789\r\n"), (Some(Frame::TooLong), 11));
        // An over-long line without its end yet is discarded as it arrives, reported once.
        assert_eq!(f.next(b"0123456789ab"), (None, 12));
        assert_eq!(f.next(b"cdef"), (None, 4));
        assert_eq!(f.next(b"gh\r\nPING\r\n"), (Some(Frame::TooLong), 4));
        assert_eq!(f.next(b"PING\r\n"), (Some(Frame::Line(b"PING")), 6));
    }
}
