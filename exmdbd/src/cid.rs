//! Content files: big property values (bodies, HTML, compressed RTF, transport headers,
//! attachment data) kept outside the database under `cid/`.
//!
//! Values shorter than [`INLINE_MAX`] stay in the database as a BLOB holding a zstd frame
//! (Gromox never writes BLOBs for these tags, so TEXT = file reference and BLOB = inline value
//! is unambiguous); this avoids one small file (and its filesystem block) per message body.
//!
//! For larger values, the `propval` is the TEXT path of its file relative to `cid/`, like
//! Gromox 3.10 does (e.g. `Y-32/f272db62571ee87356df6b26feb299`; files are zstd frames, a `Y-`
//! prefix marks zstd). Gromox names its files randomly; this store names them by content:
//! `Y-<first 2 hex of SHA-256>/<next 30 hex>`, so identical values in one mailbox share one file
//! and Gromox can still read them. Files are written once, via a temporary file in `tmp/`
//! and `rename`, so a crash leaves either no file or the complete one; a crash between file and
//! database commit leaves at worst an unreferenced file, which `purge_content` and `gromox-mbck -p`
//! remove.

use crate::error::{Error, Result};
use crate::schema::Durability;
use gromox_mapi::PropTag;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Raw size from which a content value goes to a file in `cid/` instead of inline.
pub const INLINE_MAX: usize = 8192;

/// Largest delivered MIME message kept inside the database (table `kept_mime`, name prefix
/// `I-`) instead of as a file under `eml/`: creating one file per message is what limits
/// delivery rates on ext4 (inode and directory allocation), and a small file wastes most of
/// its 4 KiB block. Larger messages keep Gromox's `eml/` layout.
pub const MIME_INLINE_MAX: usize = 128 * 1024;

/// Prefix of kept-MIME names stored in the database rather than under `eml/`.
pub const INLINE_MIME_PREFIX: &str = "I-";

/// The table holding inline kept MIME (created on first use, so stores Gromox made stay as
/// they are until we deliver into them).
pub const KEPT_MIME_DDL: &str = "CREATE TABLE IF NOT EXISTS kept_mime (name TEXT PRIMARY KEY, data BLOB NOT NULL)";

/// Whether values of this tag live in `cid/` (Gromox's set).
pub fn is_cid_tag(tag: PropTag) -> bool {
    matches!(tag.0 >> 16, 0x1000 | 0x1013 | 0x1009 | 0x007D) || tag.0 == 0x3701_0102
}

/// Whether `name` is a well-formed content file name (`X-hh/` + hex-ish, no traversal).
pub fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    if b.len() < 6 || b.len() > 80 || b[1] != b'-' || !b[0].is_ascii_uppercase() {
        return false;
    }
    let Some(slash) = name.find('/') else { return false };
    if name[slash + 1..].contains('/') || slash + 1 >= name.len() {
        return false;
    }
    name.bytes()
        .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'/' || c == b'.')
        && !name.contains("..")
}

/// Content-derived name of `data` with the given one-letter prefix.
pub fn name_for(prefix: char, data: &[u8]) -> String {
    let h = Sha256::digest(data);
    let hex: String = h.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("{prefix}-{}/{}", &hex[..2], &hex[2..])
}

/// Writes `data` compressed under `base/<name>` unless it exists; returns the name.
pub fn store(maildir: &Path, sub: &str, prefix: char, data: &[u8], durability: Durability) -> Result<String> {
    let name = name_for(prefix, data);
    let path = maildir.join(sub).join(&name);
    if path.exists() {
        return Ok(name);
    }
    let dir = path.parent().ok_or(Error::InvalidArgument("content path"))?;
    // stat before mkdir: a failing mkdir costs the filesystem far more than a lookup.
    if !dir.is_dir() {
        std::fs::create_dir_all(dir)?;
    }
    let tmpdir = maildir.join("tmp");
    if !tmpdir.is_dir() {
        std::fs::create_dir_all(&tmpdir)?;
    }
    let tmp = tmpdir.join(format!(
        "cid.{}.{:x}.tmp",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    ));
    let res = (|| -> Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        let z = compress(data)?;
        f.write_all(&z)?;
        if durability == Durability::Power {
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &path)?;
        if durability == Durability::Power {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res.map(|_| name)
}

thread_local! {
    static COMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> =
        const { std::cell::RefCell::new(None) };
}

/// zstd level for content and MIME files.
pub const ZSTD_LEVEL: i32 = 3;

/// zstd-compresses `data` (level [`ZSTD_LEVEL`]) with a per-thread reused context.
pub fn compress(data: &[u8]) -> std::io::Result<Vec<u8>> {
    COMPRESSOR.with(|c| {
        let mut c = c.borrow_mut();
        if c.is_none() {
            *c = Some(zstd::bulk::Compressor::new(ZSTD_LEVEL)?);
        }
        match c.as_mut() {
            Some(z) => z.compress(data),
            None => zstd::bulk::compress(data, ZSTD_LEVEL),
        }
    })
}

/// Hard limit for one decompressed content file.
pub const MAX_CONTENT: usize = 1 << 30;

/// Reads a content file: zstd frames are decompressed, other files returned as they are.
pub fn load(maildir: &Path, sub: &str, name: &str) -> Result<Vec<u8>> {
    if !valid_name(name) {
        return Err(Error::Corrupt(format!("bad content file name {name:?}")));
    }
    let raw = std::fs::read(maildir.join(sub).join(name))?;
    decode(&raw)
}

/// Decodes file bytes (zstd frame or plain). Entry point of the `cid` fuzz target.
pub fn decode(raw: &[u8]) -> Result<Vec<u8>> {
    if raw.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        let mut out = Vec::new();
        let mut dec = zstd::stream::read::Decoder::new(raw)?;
        let n = std::io::copy(&mut std::io::Read::take(&mut dec, MAX_CONTENT as u64 + 1), &mut out)?;
        if n as usize > MAX_CONTENT {
            return Err(Error::Corrupt("content file too large".into()));
        }
        Ok(out)
    } else {
        Ok(raw.to_vec())
    }
}

/// Path of a content file.
pub fn path(maildir: &Path, sub: &str, name: &str) -> PathBuf {
    maildir.join(sub).join(name)
}

/// Every file name below `maildir/sub` (as `X-hh/rest`).
pub fn list(maildir: &Path, sub: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let base = maildir.join(sub);
    let Ok(rd) = std::fs::read_dir(&base) else {
        return Ok(out);
    };
    for d in rd {
        let d = d?;
        if !d.file_type()?.is_dir() {
            continue;
        }
        let dn = d.file_name().to_string_lossy().into_owned();
        for f in std::fs::read_dir(d.path())? {
            let f = f?;
            out.push(format!("{dn}/{}", f.file_name().to_string_lossy()));
        }
    }
    Ok(out)
}

/// Fuzz entry point (`content_file` target): decodes file bytes as read from `cid/`/`eml/`
/// and validates them as a reference name.
pub fn fuzz_content(data: &[u8]) {
    let _ = decode(data);
    if let Ok(s) = std::str::from_utf8(data) {
        if valid_name(s) {
            assert!(!s.contains("..") && s.matches('/').count() == 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuzz_seeds() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/seeds/content_file");
        let mut n = 0;
        for e in std::fs::read_dir(dir).unwrap() {
            fuzz_content(&std::fs::read(e.unwrap().path()).unwrap());
            n += 1;
        }
        assert!(n >= 4);
    }

    #[test]
    fn gromox_content_file_decodes() {
        let raw = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fuzz/seeds/content_file/gromox_body_zstd"
        ))
        .unwrap();
        let text = decode(&raw).unwrap();
        assert!(text.starts_with(b"Hello Alice, this is test message number 1."));
        let trunc = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fuzz/seeds/content_file/truncated_zstd"
        ))
        .unwrap();
        assert!(decode(&trunc).is_err());
    }

    #[test]
    fn names() {
        assert!(valid_name("Y-32/f272db62571ee87356df6b26feb299"));
        assert!(valid_name(&name_for('Y', b"x")));
        for bad in [
            "../etc/passwd",
            "Y-32/../x",
            "Y-32/a/b",
            "y-32/a",
            "Y-32/",
            "/Y-32",
            "Y-3 2/a",
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
