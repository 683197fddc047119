//! Exporters: store → EML files (RFC 5322), store → stream, EML files → mbox (RFC 4155).
//!
//! Every exporter reads through [`Source`]: a store opened in this process (the `exmdbd`
//! library) or a mailbox behind exmdbd over the exmdb RPC ([`RpcSource`], `gromox-export
//! --rpc`, routed to the mailbox's home server like `gromox-import --rpc`).

use crate::stream::{FolderFrame, MessageFrame};
use crate::Error;
use exmdbd::{MessageContent, Store};
use gromox_clients::exmdb::{ExmdbClient, ExmdbError};
use gromox_convert::mapi::{MapiAttachment, MapiMessage};
use gromox_exmdb_proto::{Call, Response};
use gromox_mapi::{PropName, PropVal, TaggedVal};
use std::cell::RefCell;
use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;

/// What an export reads: folders, message lists, whole messages and their RFC 5322 form.
pub trait Source {
    /// Every live folder of the store.
    fn src_folders(&self) -> Result<Vec<exmdbd::FolderInfo>, Error>;
    /// The live messages of a folder, normal or associated (FAI).
    fn src_messages(&self, folder: u64, associated: bool) -> Result<Vec<u64>, Error>;
    /// A whole message in the store's terms (named properties by the store's ids).
    fn src_read(&self, mid: u64) -> Result<MessageContent, Error>;
    /// A stored message with its named properties resolved to names.
    fn src_bridge(&self, c: &MessageContent) -> Result<MapiMessage, Error>;
    /// The RFC 5322 form: the original MIME when kept, else generated.
    fn src_eml(&self, mid: u64) -> Result<Vec<u8>, Error>;
    /// The original MIME only (`None`: not kept, or not knowable from this source).
    fn src_mime(&self, mid: u64) -> Result<Option<Vec<u8>>, Error>;
    /// What this source cannot export, said once per export (`None`: nothing).
    fn src_limits(&self) -> Option<&'static str> {
        None
    }
}

impl Source for Store {
    fn src_folders(&self) -> Result<Vec<exmdbd::FolderInfo>, Error> {
        Ok(self.list_folders()?.into_iter().filter(|f| !f.deleted).collect())
    }
    fn src_messages(&self, folder: u64, associated: bool) -> Result<Vec<u64>, Error> {
        Ok(self.list_messages(folder, associated)?)
    }
    fn src_read(&self, mid: u64) -> Result<MessageContent, Error> {
        Ok(self.read_message(mid)?)
    }
    fn src_bridge(&self, c: &MessageContent) -> Result<MapiMessage, Error> {
        Ok(exmdbd::imapview::to_bridge(self, c)?)
    }
    fn src_eml(&self, mid: u64) -> Result<Vec<u8>, Error> {
        Ok(self.message_rfc822(mid)?)
    }
    fn src_mime(&self, mid: u64) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.message_mime(mid)?)
    }
}

fn rpc(e: ExmdbError) -> Error {
    Error::Usage(format!("exmdb: {e}"))
}

/// A mailbox behind exmdbd, read with ListFolders, ListMessages, ReadMessage, MessageRfc822
/// and GetNamedPropNames (names cached per export).
pub struct RpcSource {
    client: Arc<ExmdbClient>,
    dir: String,
    names: RefCell<HashMap<u16, Option<PropName>>>,
}

/// Messages per ListMessages call.
const PAGE: u32 = 1000;

impl RpcSource {
    /// The associated (FAI) messages of a folder, read through an associated content table
    /// (ListMessages lists normal messages only): PR_MID of every row, page by page.
    fn fai_messages(&self, folder: u64) -> Result<Vec<u64>, Error> {
        let mut t = self.client.tables().map_err(rpc)?;
        let info = t.load_content_table(&self.dir, folder, true, None, &[]).map_err(rpc)?;
        let mut out = Vec::with_capacity(info.rows as usize);
        while out.len() < info.rows as usize {
            let rows = t
                .query(&self.dir, info.id, &[gromox_mapi::tags::PR_MID], PAGE, true, false)
                .map_err(rpc)?;
            if rows.is_empty() {
                break;
            }
            out.extend(
                rows.iter()
                    .filter_map(|r| r.first()?.as_ref()?.as_i64())
                    .map(|m| m as u64),
            );
        }
        t.unload(&self.dir, info.id).map_err(rpc)?;
        Ok(out)
    }

    pub fn new(client: Arc<ExmdbClient>, dir: &str) -> RpcSource {
        RpcSource {
            client,
            dir: dir.to_string(),
            names: RefCell::new(HashMap::new()),
        }
    }

    /// Whether the mailbox is a private store (it has an Inbox, id 0x0d, under IPM_SUBTREE).
    pub fn is_private(&self) -> Result<bool, Error> {
        Ok(self
            .src_folders()?
            .iter()
            .any(|f| f.id == exmdbd::layout::fid::INBOX && f.parent == Some(exmdbd::layout::fid::IPMSUBTREE)))
    }

    /// Resolves every named-property id of `c` (and its attachments and embedded messages)
    /// not cached yet with one GetNamedPropNames call.
    fn learn_names(&self, c: &MessageContent) -> Result<(), Error> {
        fn collect(c: &MessageContent, out: &mut Vec<u16>) {
            let ids = c
                .props
                .iter()
                .chain(c.recipients.iter().flatten())
                .chain(c.attachments.iter().flat_map(|a| a.props.iter()))
                .map(|t| t.tag.id())
                .filter(|id| *id >= 0x8000);
            out.extend(ids);
            for a in &c.attachments {
                if let Some(e) = &a.embedded {
                    collect(e, out);
                }
            }
        }
        let mut ids = Vec::new();
        collect(c, &mut ids);
        {
            let known = self.names.borrow();
            ids.retain(|id| !known.contains_key(id));
        }
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return Ok(());
        }
        let names = self.client.get_named_propnames(&self.dir, &ids).map_err(rpc)?;
        self.names.borrow_mut().extend(ids.into_iter().zip(names));
        Ok(())
    }

    fn split(&self, p: &[TaggedVal]) -> (Vec<TaggedVal>, Vec<(PropName, PropVal)>) {
        let names = self.names.borrow();
        let mut tagged = Vec::new();
        let mut named = Vec::new();
        for t in p {
            if t.tag.id() < 0x8000 {
                tagged.push(t.clone());
            } else if let Some(Some(n)) = names.get(&t.tag.id()) {
                named.push((n.clone(), t.val.clone()));
            }
        }
        (tagged, named)
    }

    fn bridge(&self, c: &MessageContent) -> MapiMessage {
        let (props, named) = self.split(&c.props);
        MapiMessage {
            props,
            named,
            recipients: c.recipients.iter().map(|r| self.split(r).0).collect(),
            attachments: c
                .attachments
                .iter()
                .map(|a| {
                    let (props, named) = self.split(&a.props);
                    MapiAttachment {
                        props,
                        named,
                        embedded: a.embedded.as_ref().map(|e| Box::new(self.bridge(e))),
                    }
                })
                .collect(),
        }
    }
}

impl Source for RpcSource {
    fn src_folders(&self) -> Result<Vec<exmdbd::FolderInfo>, Error> {
        match self.client.call(&self.dir, &Call::ListFolders).map_err(rpc)? {
            Response::Folders(v) => Ok(v
                .into_iter()
                .map(|f| exmdbd::FolderInfo {
                    id: f.id,
                    parent: (f.parent != 0).then_some(f.parent),
                    name: f.name,
                    container_class: f.container_class,
                    deleted: false,
                })
                .collect()),
            r => Err(Error::Usage(format!("exmdb: unexpected answer {r:?}"))),
        }
    }
    fn src_messages(&self, folder: u64, associated: bool) -> Result<Vec<u64>, Error> {
        if associated {
            return self.fai_messages(folder);
        }
        let mut out = Vec::new();
        let mut after = 0;
        loop {
            let page = self
                .client
                .list_messages(&self.dir, folder, after, PAGE, 0)
                .map_err(rpc)?;
            let n = page.len();
            out.extend(page.iter().map(|m| m.mid));
            match page.last() {
                Some(m) if n as u32 >= PAGE && m.mid > after => after = m.mid,
                _ => break,
            }
        }
        Ok(out)
    }
    fn src_read(&self, mid: u64) -> Result<MessageContent, Error> {
        self.client.read_message(&self.dir, mid).map_err(rpc)
    }
    fn src_bridge(&self, c: &MessageContent) -> Result<MapiMessage, Error> {
        self.learn_names(c)?;
        Ok(self.bridge(c))
    }
    fn src_eml(&self, mid: u64) -> Result<Vec<u8>, Error> {
        self.client.message_rfc822(&self.dir, mid).map_err(rpc)
    }
    fn src_mime(&self, _mid: u64) -> Result<Option<Vec<u8>>, Error> {
        // MessageRfc822 answers the kept MIME or a generated one without saying which, so
        // the stream carries the message itself (see src_limits).
        Ok(None)
    }
    fn src_limits(&self) -> Option<&'static str> {
        Some(
            "over the exmdb RPC --mt streams carry messages without their original MIME (no call returns only a kept MIME)",
        )
    }
}

/// A stored message in `gromox-mapi` bridge form (named properties resolved to names).
pub fn to_bridge<S: Source + ?Sized>(store: &S, c: &MessageContent) -> Result<MapiMessage, Error> {
    store.src_bridge(c)
}

/// The RFC 5322 form of a stored message: the original MIME when kept, else generated.
pub fn message_eml<S: Source + ?Sized>(store: &S, mid: u64) -> Result<Vec<u8>, Error> {
    store.src_eml(mid)
}

/// Folders to export: `(id, parent, name, container class)` below `root`, parents first.
pub fn folder_tree<S: Source + ?Sized>(store: &S, root: u64) -> Result<Vec<exmdbd::FolderInfo>, Error> {
    let all = store.src_folders()?;
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
pub fn export_eml<S: Source + ?Sized>(
    store: &S,
    root: u64,
    dir: &std::path::Path,
    errs: &mut dyn Write,
) -> Result<u64, Error> {
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
        let mids = store.src_messages(f.id, false)?;
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
pub fn export_vcard<S: Source + ?Sized, W: Write>(
    store: &S,
    root: u64,
    version: gromox_convert::vcard_export::VcardVersion,
    mut out: W,
    errs: &mut dyn Write,
) -> Result<u64, Error> {
    let mut n = 0;
    for f in folder_tree(store, root)? {
        for mid in store.src_messages(f.id, false)? {
            let c = match store.src_read(mid) {
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
pub fn export_mt<S: Source + ?Sized, W: Write>(
    store: &S,
    root: u64,
    out: W,
    errs: &mut dyn Write,
) -> Result<(W, u64), Error> {
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
            for mid in store.src_messages(f.id, assoc)? {
                let r = store.src_read(mid).and_then(|c| to_bridge(store, &c));
                match r {
                    Ok(b) => {
                        let message = p.to_mt(&b)?;
                        let mime = if assoc { None } else { store.src_mime(mid)? };
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
pub fn export_ical<S: Source + ?Sized, W: Write>(
    store: &S,
    root: u64,
    mut out: W,
    errs: &mut dyn Write,
) -> Result<u64, Error> {
    let mut items = Vec::new();
    for f in folder_tree(store, root)? {
        for mid in store.src_messages(f.id, false)? {
            let c = match store.src_read(mid) {
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
pub fn export_tnef<S: Source + ?Sized>(
    store: &S,
    root: u64,
    dir: &std::path::Path,
    errs: &mut dyn Write,
) -> Result<u64, Error> {
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
        let mids = store.src_messages(f.id, false)?;
        if mids.is_empty() {
            continue;
        }
        mkdir(&p)?;
        for mid in mids {
            let c = match store.src_read(mid) {
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
