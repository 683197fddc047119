//! COMPRESS=DEFLATE (RFC 4978): raw DEFLATE (RFC 1951) in both directions after the tagged
//! OK, with a sync flush after each burst of server output so the client can decode every
//! response as soon as it arrives.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// Per-connection compression state.
pub struct Deflate {
    comp: Compress,
    decomp: Decompress,
    /// Decompressed client input not yet consumed by the framer.
    pub inbuf: Vec<u8>,
    /// How much of `inbuf` is consumed.
    pub inpos: usize,
}

/// Decompression failed (corrupt stream).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Corrupt;

impl Default for Deflate {
    fn default() -> Self {
        Self::new()
    }
}

impl Deflate {
    /// Fresh raw-DEFLATE streams (no zlib header, RFC 4978 §3).
    pub fn new() -> Self {
        Deflate {
            comp: Compress::new(Compression::new(6), false),
            decomp: Decompress::new(false),
            inbuf: Vec::new(),
            inpos: 0,
        }
    }

    /// Unconsumed decompressed input.
    pub fn pending(&self) -> &[u8] {
        &self.inbuf[self.inpos..]
    }

    /// Inflate `data` onto the input buffer. `max` bounds the unconsumed plaintext (a
    /// decompression bomb is an error, not an allocation).
    pub fn inflate(&mut self, data: &[u8], max: usize) -> Result<(), Corrupt> {
        if self.inpos > 0 {
            self.inbuf.drain(..self.inpos);
            self.inpos = 0;
        }
        let mut pos = 0;
        loop {
            if self.inbuf.len() > max {
                return Err(Corrupt);
            }
            self.inbuf.reserve((data.len() - pos) * 4 + 256);
            let before_in = self.decomp.total_in();
            let before_out = self.decomp.total_out();
            let status = self
                .decomp
                .decompress_vec(&data[pos..], &mut self.inbuf, FlushDecompress::Sync)
                .map_err(|_| Corrupt)?;
            let consumed = (self.decomp.total_in() - before_in) as usize;
            pos += consumed;
            let produced = self.decomp.total_out() - before_out;
            let full = self.inbuf.len() == self.inbuf.capacity();
            match status {
                Status::StreamEnd => return Ok(()),
                _ if pos >= data.len() && !full => return Ok(()),
                _ if produced == 0 && pos >= data.len() => return Ok(()),
                // No progress with input left and room to write: the stream is broken.
                _ if produced == 0 && consumed == 0 && !full => return Err(Corrupt),
                _ => {}
            }
        }
    }

    /// Deflate `plain` onto `out` with a sync flush.
    pub fn deflate(&mut self, plain: &[u8], out: &mut Vec<u8>) {
        let mut pos = 0;
        loop {
            out.reserve((plain.len() - pos) / 2 + 64);
            let before_in = self.comp.total_in();
            let before_out = self.comp.total_out();
            // Compressing into a Vec does not fail for a healthy stream; on failure stop
            // rather than spin.
            if self.comp.compress_vec(&plain[pos..], out, FlushCompress::Sync).is_err() {
                return;
            }
            pos += (self.comp.total_in() - before_in) as usize;
            let progressed = self.comp.total_in() != before_in || self.comp.total_out() != before_out;
            if (pos >= plain.len() && out.len() < out.capacity()) || !progressed {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_in_pieces() {
        let mut server = Deflate::new();
        let mut client = Deflate::new();
        let mut wire = Vec::new();
        server.deflate(b"* OK hello\r\n", &mut wire);
        server.deflate(&b"x".repeat(100_000), &mut wire);
        for chunk in wire.chunks(7) {
            client.inflate(chunk, 1 << 20).unwrap();
        }
        assert_eq!(client.pending().len(), 12 + 100_000);
        assert!(client.pending().starts_with(b"* OK hello\r\n"));
        assert!(Deflate::new().inflate(b"\xff\xff\xff\xff", 1000).is_err());
    }

    #[test]
    fn bomb_is_refused() {
        let mut a = Deflate::new();
        let mut wire = Vec::new();
        a.deflate(&vec![0u8; 1 << 20], &mut wire);
        assert!(wire.len() < 10_000);
        assert!(Deflate::new().inflate(&wire, 64 * 1024).is_err());
    }
}
