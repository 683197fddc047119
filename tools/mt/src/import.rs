//! The importer: stream frames → an information store, in process through the `exmdbd`
//! library or over the exmdb RPC (see [`crate::target`]). Each message is written in its own
//! transaction, so everything before a broken frame stays imported.

use crate::stream::{FolderFrame, Frame, MessageFrame, MtAttachment, MtMessage, Reader};
use crate::target::Target;
use crate::Error;
use exmdbd::layout::fid;
use exmdbd::{AttachmentContent, MessageContent};
use gromox_mapi::tags::PR_MESSAGE_CLASS;
use gromox_mapi::{PropName, PropTag, TaggedVal};
use std::collections::HashMap;
use std::io::{IsTerminal, Read, Write};
use std::time::Instant;

/// Importer options.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Base folder name (under the IPM subtree); created if missing.
    pub base: Option<String>,
    /// Delivery mode: messages go through `deliver_message` to the receive folder.
    pub deliver: bool,
    /// Print each message's properties.
    pub print_props: bool,
    /// Print the folder tree as it is built.
    pub tree: bool,
    pub verbose: bool,
    /// Show a progress line (only when stderr is a terminal).
    pub progress: bool,
}

/// Counts of an import.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub folders_created: u64,
    pub folders_spliced: u64,
    pub messages: u64,
    pub failed: u64,
    pub bytes: u64,
    /// The stream was incomplete or broken (message of the error).
    pub stream_error: Option<String>,
}

/// Writes stream frames into a store.
pub struct Importer<'a> {
    store: &'a mut dyn Target,
    opts: Options,
    base: Option<u64>,
    folders: HashMap<u64, u64>,
    parents: HashMap<u64, u64>,
    names: HashMap<u16, u16>,
    pub stats: Stats,
    out: Box<dyn Write + 'a>,
}

fn ipm_root(store: &dyn Target) -> u64 {
    if store.is_private() {
        fid::IPMSUBTREE
    } else {
        exmdbd::layout::fid::PUB_IPMSUBTREE
    }
}

/// The default folder of a private store a top folder of the stream stands for, by its name in
/// any of the store's languages (`exmdbd::layout::folder_name`) or Outlook's English variants:
/// so a German PST's "Posteingang" is spliced into an English store's "Inbox" and vice versa.
fn special_folder(name: &str) -> Option<u64> {
    const SPECIAL: [(&str, u64); 11] = [
        ("Inbox", fid::INBOX),
        ("Drafts", fid::DRAFT),
        ("Outbox", fid::OUTBOX),
        ("Sent Items", fid::SENT_ITEMS),
        ("Deleted Items", fid::DELETED_ITEMS),
        ("Calendar", fid::CALENDAR),
        ("Journal", fid::JOURNAL),
        ("Notes", fid::NOTES),
        ("Tasks", fid::TASKS),
        ("Contacts", fid::CONTACTS),
        ("Junk Email", fid::JUNK),
    ];
    let n = if name.eq_ignore_ascii_case("Junk E-mail") {
        "Junk Email"
    } else {
        name
    };
    SPECIAL.iter().find_map(|(en, id)| {
        let hit = en.eq_ignore_ascii_case(n)
            || exmdbd::layout::LANGUAGES
                .iter()
                .any(|l| exmdbd::layout::folder_name(en, l).eq_ignore_ascii_case(n));
        hit.then_some(*id)
    })
}

impl<'a> Importer<'a> {
    /// Prepares an import into `store`; `out` receives -p/-t/-v output.
    pub fn new(store: &'a mut dyn Target, opts: Options, out: Box<dyn Write + 'a>) -> Result<Self, Error> {
        let base = match &opts.base {
            Some(name) => {
                let root = ipm_root(store);
                Some(match store.find_folder(root, name)? {
                    Some(f) => f,
                    None => store.create_folder(root, name, None)?,
                })
            }
            None => None,
        };
        Ok(Importer {
            store,
            opts,
            base,
            folders: HashMap::new(),
            parents: HashMap::new(),
            names: HashMap::new(),
            stats: Stats::default(),
            out,
        })
    }

    /// Default folder of a message addressed to the base (folder 0) without -B.
    fn default_folder(&self, class: &str) -> u64 {
        if !self.store.is_private() {
            return ipm_root(self.store);
        }
        let c = class.to_ascii_lowercase();
        if c.starts_with("ipm.appointment") || c.starts_with("ipm.schedule") {
            fid::CALENDAR
        } else if c.starts_with("ipm.contact") || c.starts_with("ipm.distlist") {
            fid::CONTACTS
        } else if c.starts_with("ipm.task") {
            fid::TASKS
        } else if c.starts_with("ipm.stickynote") {
            fid::NOTES
        } else if c.starts_with("ipm.activity") {
            fid::JOURNAL
        } else {
            fid::INBOX
        }
    }

    fn folder(&mut self, f: &FolderFrame) -> Result<(), Error> {
        let parent = match f.parent {
            0 => self.base.unwrap_or_else(|| ipm_root(self.store)),
            p => match self.folders.get(&p) {
                Some(x) => *x,
                None => self.base.unwrap_or_else(|| ipm_root(self.store)),
            },
        };
        let mut found = self.store.find_folder(parent, &f.name)?;
        if found.is_none() && parent == fid::IPMSUBTREE && self.store.is_private() {
            // A default folder under another language's (or Outlook's) name.
            if let Some(sf) = special_folder(&f.name) {
                if self.store.folder_exists(sf)? {
                    found = Some(sf);
                }
            }
        }
        let id = match found {
            Some(x) => {
                self.stats.folders_spliced += 1;
                x
            }
            None => {
                self.stats.folders_created += 1;
                self.store
                    .create_folder(parent, &f.name, f.container_class.as_deref())?
            }
        };
        if self.opts.tree {
            let depth = {
                let mut d = 0;
                let mut p = f.parent;
                while p != 0 && d < 64 {
                    d += 1;
                    p = self.folders_parent(p);
                }
                d
            };
            let _ = writeln!(self.out, "{}{} (folder {:#x})", "  ".repeat(depth), f.name, id);
        }
        self.parents.insert(f.id, f.parent);
        self.folders.insert(f.id, id);
        Ok(())
    }

    fn folders_parent(&self, id: u64) -> u64 {
        self.parents.get(&id).copied().unwrap_or(0)
    }

    fn map_props(&mut self, p: &[TaggedVal]) -> Vec<TaggedVal> {
        let mut out = Vec::with_capacity(p.len());
        for t in p {
            if t.tag.id() < 0x8000 {
                out.push(t.clone());
            } else if let Some(id) = self.names.get(&t.tag.id()) {
                out.push(TaggedVal {
                    tag: PropTag((u32::from(*id) << 16) | (t.tag.0 & 0xFFFF)),
                    val: t.val.clone(),
                });
            } else if self.opts.verbose {
                let _ = writeln!(self.out, "dropping {:#010x}: not in the named-property map", t.tag.0);
            }
        }
        out
    }

    fn content(&mut self, m: &MtMessage) -> MessageContent {
        MessageContent {
            props: self.map_props(&m.props),
            recipients: m.recipients.iter().map(|r| self.map_props(r)).collect(),
            attachments: m
                .attachments
                .iter()
                .map(|a: &MtAttachment| AttachmentContent {
                    props: self.map_props(&a.props),
                    embedded: a.embedded.as_ref().map(|e| Box::new(self.content(e))),
                })
                .collect(),
        }
    }

    fn message(&mut self, m: &MessageFrame) -> Result<(), Error> {
        let c = self.content(&m.message);
        let class = c
            .get(PR_MESSAGE_CLASS)
            .and_then(|v| v.as_str())
            .unwrap_or("IPM.Note")
            .to_string();
        let target = match m.folder {
            0 => self.base,
            f => Some(
                self.folders
                    .get(&f)
                    .copied()
                    .or(self.base)
                    .unwrap_or_else(|| ipm_root(self.store)),
            ),
        };
        let mid = if self.opts.deliver {
            self.store.deliver(target, &c, m.mime.as_deref())?
        } else {
            let folder = target.unwrap_or_else(|| self.default_folder(&class));
            match (&m.mime, m.associated) {
                (Some(mime), false) => self.store.deliver(Some(folder), &c, Some(mime))?,
                _ => self.store.create(folder, &c, m.associated)?,
            }
        };
        if self.opts.verbose {
            let _ = writeln!(self.out, "{}: imported as message {:#x}", m.source, mid);
        }
        if self.opts.print_props {
            let _ = writeln!(self.out, "message {} ({}):", m.source, class);
            for p in &c.props {
                let _ = writeln!(self.out, "  {:#010x} = {}", p.tag.0, show(&p.val));
            }
            for (i, r) in c.recipients.iter().enumerate() {
                let _ = writeln!(self.out, "  recipient {i}: {} props", r.len());
            }
            for (i, a) in c.attachments.iter().enumerate() {
                let _ = writeln!(self.out, "  attachment {i}: {} props", a.props.len());
            }
        }
        Ok(())
    }

    /// Handles one frame. Per-message store failures are reported on `errs` and counted;
    /// only store-wide failures are returned.
    pub fn frame(&mut self, f: Frame, errs: &mut dyn Write) -> Result<(), Error> {
        match f {
            Frame::Folder(f) => self.folder(&f)?,
            Frame::Named(id, n) => self.named(id, &n)?,
            Frame::Message(m) => {
                let size = m.mime.as_ref().map_or(0, |b| b.len() as u64);
                match self.message(&m) {
                    Ok(()) => {
                        self.stats.messages += 1;
                        self.stats.bytes += size;
                    }
                    Err(e) => {
                        self.stats.failed += 1;
                        let _ = writeln!(errs, "{}: not imported: {e}", m.source);
                    }
                }
            }
            Frame::End(n) => {
                if self.opts.verbose {
                    let _ = writeln!(self.out, "end of stream ({n} messages announced)");
                }
            }
        }
        Ok(())
    }

    fn named(&mut self, id: u16, n: &PropName) -> Result<(), Error> {
        if let Some(sid) = self.store.named_propid(n)? {
            self.names.insert(id, sid);
        }
        Ok(())
    }

    /// Imports a whole stream. A broken stream ends the import with the error recorded in
    /// [`Stats::stream_error`] (and printed on `errs`); what came before stays imported.
    pub fn run<R: Read>(&mut self, inp: R, errs: &mut dyn Write) -> Result<Stats, Error> {
        let mut r = Reader::new(inp)?;
        let tty = self.opts.progress && std::io::stderr().is_terminal();
        let start = Instant::now();
        let mut last = start;
        loop {
            match r.next_frame() {
                Ok(Some(f)) => self.frame(f, errs)?,
                Ok(None) => break,
                Err(e) => {
                    let _ = writeln!(errs, "stream: {e}; everything before it was imported");
                    self.stats.stream_error = Some(e.to_string());
                    break;
                }
            }
            if tty && last.elapsed().as_millis() >= 500 {
                last = Instant::now();
                let s = start.elapsed().as_secs_f64().max(1e-3);
                eprint!(
                    "\r{} messages, {:.1} MB, {:.0} msg/s   ",
                    self.stats.messages,
                    r.bytes as f64 / 1e6,
                    self.stats.messages as f64 / s
                );
            }
        }
        if tty {
            eprintln!();
        }
        Ok(self.stats.clone())
    }
}

fn show(v: &gromox_mapi::PropVal) -> String {
    let s = format!("{v:?}");
    if s.len() > 120 {
        let mut cut = 117;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        format!("{}...", &s[..cut])
    } else {
        s
    }
}
