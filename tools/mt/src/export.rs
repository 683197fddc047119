//! Exporters: store → EML files (RFC 5322), store → stream, EML files → mbox (RFC 4155).

use crate::stream::{FolderFrame, MessageFrame};
use crate::Error;
use exmdbd::{MessageContent, Store};
use gromox_convert::mapi::MapiMessage;
use std::collections::HashMap;
use std::io::Write;

/// A stored message in `gromox-mapi` bridge form (named properties resolved to names).
pub fn to_bridge(store: &Store, c: &MessageContent) -> Result<MapiMessage, Error> {
    Ok(exmdbd::imapview::to_bridge(store, c)?)
}

/// The RFC 5322 form of a stored message: the original MIME when kept, else generated.
pub fn message_eml(store: &Store, mid: u64) -> Result<Vec<u8>, Error> {
    Ok(store.message_rfc822(mid)?)
}

/// Folders to export: `(id, parent, name, container class)` below `root`, parents first.
pub fn folder_tree(store: &Store, root: u64) -> Result<Vec<exmdbd::FolderInfo>, Error> {
    let all: Vec<_> = store.list_folders()?.into_iter().filter(|f| !f.deleted).collect();
    let mut out = Vec::new();
    let mut queue = vec![root];
    while let Some(p) = queue.pop() {
        for f in all.iter().filter(|f| f.parent == Some(p)) {
            queue.push(f.id);
            out.push(f.clone());
        }
    }
    Ok(out)
}

/// Writes one EML file per message of every folder below `root` into `dir/<folder path>/`.
/// Returns the number of files written.
pub fn export_eml(store: &Store, root: u64, dir: &std::path::Path, errs: &mut dyn Write) -> Result<u64, Error> {
    let folders = folder_tree(store, root)?;
    let mut paths: HashMap<u64, std::path::PathBuf> = HashMap::new();
    paths.insert(root, dir.to_path_buf());
    let mut n = 0;
    for f in &folders {
        let parent = f
            .parent
            .and_then(|p| paths.get(&p).cloned())
            .unwrap_or_else(|| dir.to_path_buf());
        let path = parent.join(safe_name(&f.name));
        paths.insert(f.id, path.clone());
        let mids = store.list_messages(f.id, false)?;
        if mids.is_empty() {
            continue;
        }
        std::fs::create_dir_all(&path).map_err(|err| Error::Io {
            path: path.display().to_string(),
            err,
        })?;
        for mid in mids {
            match message_eml(store, mid) {
                Ok(b) => {
                    let file = path.join(format!("{mid:x}.eml"));
                    std::fs::write(&file, b).map_err(|err| Error::Io {
                        path: file.display().to_string(),
                        err,
                    })?;
                    n += 1;
                }
                Err(e) => {
                    let _ = writeln!(errs, "{}/{mid:x}: not exported: {e}", f.name);
                }
            }
        }
    }
    Ok(n)
}

/// Writes every contact (IPM.Contact) and distribution list (IPM.DistList, as a group vCard)
/// below `root` as vCards of `version` to `out`; returns how many.
pub fn export_vcard<W: Write>(
    store: &Store,
    root: u64,
    version: gromox_convert::vcard_export::VcardVersion,
    mut out: W,
    errs: &mut dyn Write,
) -> Result<u64, Error> {
    let mut n = 0;
    for f in folder_tree(store, root)? {
        for mid in store.list_messages(f.id, false)? {
            let c = match store.read_message(mid) {
                Ok(c) => c,
                Err(e) => {
                    let _ = writeln!(errs, "{}/{mid:x}: not exported: {e}", f.name);
                    continue;
                }
            };
            let is_contact = c
                .get(gromox_mapi::tags::PR_MESSAGE_CLASS)
                .and_then(|v| v.as_str())
                .map(str::to_ascii_lowercase)
                .is_some_and(|k| k.starts_with("ipm.contact") || k.starts_with("ipm.distlist"));
            if !is_contact {
                continue;
            }
            let m = gromox_convert::mapi::from_mapi(&to_bridge(store, &c)?);
            out.write_all(gromox_convert::vcard_export::contact_to_vcard_version(&m, version).as_bytes())
                .map_err(|err| Error::Io {
                    path: "stdout".into(),
                    err,
                })?;
            n += 1;
        }
    }
    out.flush().map_err(|err| Error::Io {
        path: "stdout".into(),
        err,
    })?;
    Ok(n)
}

/// A folder name usable as one path component.
fn safe_name(s: &str) -> String {
    let t: String = s
        .chars()
        .map(|c| {
            if c == '/' || c == '\\' || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    match t.as_str() {
        "" | "." | ".." => format!("_{t}"),
        _ => t,
    }
}

/// Writes the folders below `root` and their messages as a stream.
pub fn export_mt<W: Write>(store: &Store, root: u64, out: W, errs: &mut dyn Write) -> Result<(W, u64), Error> {
    let mut p = crate::produce::Producer::new(out)?;
    let folders = folder_tree(store, root)?;
    let mut n = 0;
    for f in &folders {
        p.w.folder(&FolderFrame {
            id: f.id,
            parent: match f.parent {
                Some(x) if x != root => x,
                _ => 0,
            },
            name: f.name.clone(),
            container_class: f.container_class.clone(),
        })?;
    }
    for f in &folders {
        for assoc in [false, true] {
            for mid in store.list_messages(f.id, assoc)? {
                let r = store
                    .read_message(mid)
                    .map_err(Error::from)
                    .and_then(|c| to_bridge(store, &c));
                match r {
                    Ok(b) => {
                        let message = p.to_mt(&b)?;
                        let mime = if assoc { None } else { store.message_mime(mid)? };
                        p.w.message(&MessageFrame {
                            folder: f.id,
                            associated: assoc,
                            source: format!("{}/{mid:x}", f.name),
                            message,
                            mime,
                        })?;
                        n += 1;
                    }
                    Err(e) => {
                        let _ = writeln!(errs, "{}/{mid:x}: not exported: {e}", f.name);
                    }
                }
            }
        }
    }
    Ok((p.finish()?, n))
}

/// Appends one message to an mbox (RFC 4155): "From " line, ">From " quoting, blank line.
pub fn mbox_append<W: Write>(out: &mut W, eml: &[u8]) -> std::io::Result<()> {
    out.write_all(b"From MAILER-DAEMON Thu Jan  1 00:00:00 1970\n")?;
    for line in eml.split_inclusive(|c| *c == b'\n') {
        let body = line.strip_suffix(b"\n").unwrap_or(line);
        let body = body.strip_suffix(b"\r").unwrap_or(body);
        if body.iter().skip_while(|c| **c == b'>').take(5).eq(b"From ".iter()) {
            out.write_all(b">")?;
        }
        out.write_all(body)?;
        out.write_all(b"\n")?;
    }
    out.write_all(b"\n")
}

fn class_of(c: &MessageContent) -> String {
    c.get(gromox_mapi::tags::PR_MESSAGE_CLASS)
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// `--ical`: every appointment, meeting object and task below `root` as one VCALENDAR
/// (RFC 5545, METHOD:PUBLISH; MS-OXCICAL via `gromox_convert::ical_export::items_to_ical`).
/// Returns the number of items written.
pub fn export_ical<W: Write>(store: &Store, root: u64, mut out: W, errs: &mut dyn Write) -> Result<u64, Error> {
    let mut items = Vec::new();
    for f in folder_tree(store, root)? {
        for mid in store.list_messages(f.id, false)? {
            let c = match store.read_message(mid) {
                Ok(c) => c,
                Err(e) => {
                    let _ = writeln!(errs, "{}/{mid:x}: not exported: {e}", f.name);
                    continue;
                }
            };
            let k = class_of(&c);
            if !(k.starts_with("ipm.appointment") || k.starts_with("ipm.schedule.meeting") || k.starts_with("ipm.task"))
            {
                continue;
            }
            items.push(gromox_convert::mapi::from_mapi(&to_bridge(store, &c)?));
        }
    }
    let text = gromox_convert::ical_export::items_to_ical(&items, Some("PUBLISH"));
    let io = |err| Error::Io {
        path: "stdout".into(),
        err,
    };
    out.write_all(text.as_bytes()).map_err(io)?;
    out.flush().map_err(io)?;
    Ok(items.len() as u64)
}

/// `--tnef DIR`: one TNEF stream (MS-OXTNEF, `winmail.dat` form) per message below `root`,
/// written as `DIR/<folder path>/<mid>.tnef`. Returns the number of files written.
pub fn export_tnef(store: &Store, root: u64, dir: &std::path::Path, errs: &mut dyn Write) -> Result<u64, Error> {
    let folders = folder_tree(store, root)?;
    let mut paths: HashMap<u64, std::path::PathBuf> = HashMap::new();
    paths.insert(root, dir.to_path_buf());
    let mkdir = |p: &std::path::Path| {
        std::fs::create_dir_all(p).map_err(|err| Error::Io {
            path: p.display().to_string(),
            err,
        })
    };
    mkdir(dir)?;
    let mut n = 0;
    for f in folders {
        let base = f
            .parent
            .and_then(|p| paths.get(&p).cloned())
            .unwrap_or_else(|| dir.to_path_buf());
        let p = base.join(safe_name(&f.name));
        paths.insert(f.id, p.clone());
        let mids = store.list_messages(f.id, false)?;
        if mids.is_empty() {
            continue;
        }
        mkdir(&p)?;
        for mid in mids {
            let c = match store.read_message(mid) {
                Ok(c) => c,
                Err(e) => {
                    let _ = writeln!(errs, "{}/{mid:x}: not exported: {e}", f.name);
                    continue;
                }
            };
            let m = gromox_convert::mapi::from_mapi(&to_bridge(store, &c)?);
            let file = p.join(format!("{mid:x}.tnef"));
            std::fs::write(&file, gromox_convert::tnef_export::encode(&m)).map_err(|err| Error::Io {
                path: file.display().to_string(),
                err,
            })?;
            n += 1;
        }
    }
    Ok(n)
}
