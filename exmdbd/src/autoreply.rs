//! Out-of-office reply bookkeeping: Gromox's `autoreply_ts` table (peer → time of the last
//! automatic reply), so a sender gets one reply per silence window (RFC 3834 §2).

use rusqlite::{params, OptionalExtension};

use crate::store::Store;
use crate::Result;

impl Store {
    /// Whether an automatic reply to `peer` is due at Unix time `now` given `window` seconds
    /// of silence; when it is, `now` is recorded as the last reply (check and record are one
    /// transaction, so concurrent deliveries reply once).
    pub fn autoreply_due(&mut self, peer: &str, now: i64, window: i64) -> Result<bool> {
        let peer = peer.to_lowercase();
        let tx = self.conn().unchecked_transaction()?;
        let last: Option<i64> = tx
            .query_row("SELECT ts FROM autoreply_ts WHERE peer=?1", [&peer], |r| r.get(0))
            .optional()?
            .flatten();
        if last.is_some_and(|t| now < t.saturating_add(window) && now >= t) {
            return Ok(false);
        }
        tx.execute(
            "INSERT INTO autoreply_ts (peer, ts) VALUES (?1, ?2) ON CONFLICT(peer) DO UPDATE SET ts=excluded.ts",
            params![peer, now],
        )?;
        tx.commit()?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_reply_per_window() {
        let dir = tempfile::tempdir().unwrap();
        let mut s =
            crate::Store::create_private(&dir.path().join("u"), "u@example.org", "en", false, &Default::default())
                .unwrap();
        assert!(s.autoreply_due("Peer@example.net", 1000, 3600).unwrap());
        assert!(!s.autoreply_due("peer@example.net", 2000, 3600).unwrap());
        assert!(s.autoreply_due("other@example.net", 2000, 3600).unwrap());
        assert!(s.autoreply_due("peer@example.net", 4601, 3600).unwrap());
        assert!(!s.autoreply_due("peer@example.net", 4602, 3600).unwrap());
    }
}
