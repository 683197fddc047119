//! Client of timerd (Gromox's timer(8gx) protocol): `ADD <seconds> <command>` → `TRUE <id>`,
//! `CANCEL <id>` → `TRUE`/`FALSE`, `PING` → `TRUE`.

use std::net::SocketAddr;
use std::time::Duration;

use crate::line::LineConn;
use crate::ClientError;

/// A connection to timerd, reconnected when the server closed it while idle.
pub struct TimerClient {
    addr: SocketAddr,
    timeout: Duration,
    conn: Option<LineConn>,
}

impl TimerClient {
    /// Connect to timerd at `addr`; `timeout` bounds connecting and each reply.
    pub fn connect(addr: SocketAddr, timeout: Duration) -> Result<TimerClient, ClientError> {
        let conn = LineConn::connect(addr, timeout)?;
        Ok(TimerClient {
            addr,
            timeout,
            conn: Some(conn),
        })
    }

    fn cmd(&mut self, line: &str) -> Result<String, ClientError> {
        if self.conn.as_ref().is_none_or(LineConn::is_closed_by_peer) {
            self.conn = Some(LineConn::connect(self.addr, self.timeout)?);
        }
        let Some(conn) = self.conn.as_mut() else {
            return Err(ClientError::Closed);
        };
        let r = conn.cmd(line);
        if r.is_err() {
            self.conn = None;
        }
        r
    }

    /// Run `command` (with `/bin/sh -c` on the timerd host) in `delay_secs` seconds (at least
    /// 1). Returns the timer id, once timerd has stored the timer durably.
    pub fn add(&mut self, delay_secs: u64, command: &str) -> Result<u64, ClientError> {
        if delay_secs == 0 {
            return Err(ClientError::InvalidArgument("delay must be at least one second"));
        }
        if command.trim().is_empty() || command.contains(['\r', '\n']) {
            return Err(ClientError::InvalidArgument("command is empty or has line breaks"));
        }
        let reply = self.cmd(&format!("ADD {delay_secs} {command}"))?;
        reply
            .strip_prefix("TRUE ")
            .and_then(|id| id.trim().parse().ok())
            .ok_or(ClientError::Protocol(format!("ADD answered {reply:?}")))
    }

    /// Cancel a pending timer. `Ok(false)`: no such timer (already run, running or unknown).
    pub fn cancel(&mut self, id: u64) -> Result<bool, ClientError> {
        match self.cmd(&format!("CANCEL {id}"))?.as_str() {
            "TRUE" => Ok(true),
            r if r.starts_with("FALSE") => Ok(false),
            r => Err(ClientError::Protocol(format!("CANCEL answered {r:?}"))),
        }
    }

    /// Check the connection.
    pub fn ping(&mut self) -> Result<(), ClientError> {
        match self.cmd("PING")?.as_str() {
            "TRUE" => Ok(()),
            r => Err(ClientError::Protocol(format!("PING answered {r:?}"))),
        }
    }
}
