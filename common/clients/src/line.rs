//! A blocking line connection (CRLF) with timeouts, shared by the text-protocol clients.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::ClientError;

/// Longest reply line accepted from a server.
pub const MAX_REPLY: usize = 64 * 1024;

/// One connection to a line-based service.
pub struct LineConn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl LineConn {
    /// Connect within `timeout`, use `timeout` for reads and writes, and read the greeting,
    /// which must be `OK` (anything else is returned as [`ClientError::Refused`]).
    pub fn connect(addr: SocketAddr, timeout: Duration) -> Result<LineConn, ClientError> {
        let stream = TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        stream.set_nodelay(true)?;
        let mut c = LineConn {
            stream,
            buf: Vec::new(),
        };
        let greeting = c.read_line()?;
        if greeting != "OK" {
            return Err(ClientError::Refused(greeting));
        }
        Ok(c)
    }

    /// Change the read timeout (`None`: block).
    pub fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.stream.set_read_timeout(t)
    }

    /// Send one line (CRLF appended).
    pub fn send(&mut self, line: &str) -> Result<(), ClientError> {
        let mut data = Vec::with_capacity(line.len() + 2);
        data.extend_from_slice(line.as_bytes());
        data.extend_from_slice(b"\r\n");
        self.stream.write_all(&data)?;
        Ok(())
    }

    /// Read one line without its line end. A read timeout is returned as the I/O error
    /// (`WouldBlock`/`TimedOut`); bytes read so far are kept for the next call.
    pub fn read_line(&mut self) -> Result<String, ClientError> {
        loop {
            if let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.buf.drain(..=pos).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return String::from_utf8(line).map_err(|_| ClientError::Protocol("reply is not UTF-8".into()));
            }
            if self.buf.len() > MAX_REPLY {
                return Err(ClientError::Protocol("reply line too long".into()));
            }
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(ClientError::Closed);
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Send a command and read its one-line reply.
    pub fn cmd(&mut self, line: &str) -> Result<String, ClientError> {
        self.send(line)?;
        self.read_line()
    }

    /// Whether the server has closed this (idle) connection: a non-blocking peek sees EOF.
    pub fn is_closed_by_peer(&self) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        if self.stream.set_nonblocking(true).is_err() {
            return true;
        }
        let mut b = [0u8; 1];
        let closed = match self.stream.peek(&mut b) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => e.kind() != io::ErrorKind::WouldBlock,
        };
        closed || self.stream.set_nonblocking(false).is_err()
    }
}
