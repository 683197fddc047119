//! Message and attachment instances of one exmdb connection (Gromox's instance calls;
//! MS-OXCMSG §3.2.5 message and attachment objects).
//!
//! An instance is an in-memory, editable copy: a top-level message (a [`MessageInstance`],
//! opened from the store or new), an attachment of a message instance, or the embedded
//! message of an attachment instance. Changes stay in the instance until it is flushed, and a
//! flush goes one level up, as MS-OXCMSG's save operations do: an embedded message is saved
//! into its attachment instance (§2.2.3.16 RopOpenEmbeddedMessage, then RopSaveChangesMessage),
//! an attachment into its message instance (§2.2.3.15 RopSaveChangesAttachment), and only a
//! top-level message instance is written to the store, in one transaction
//! ([`Store::flush_instance`], §2.2.3.3 RopSaveChangesMessage). Unflushed changes are lost when
//! the instance is unloaded or the connection closes.
//!
//! Instances are state of the connection that loaded them, like tables: their ids are valid
//! only there and for the mailbox they were loaded from, at most [`proto::MAX_INSTANCES`] are
//! held at once, together at most [`proto::MAX_INSTANCE_BYTES`] bytes by the store's size
//! accounting ([`crate::message::content_size`]; beyond: [`Error::TooBig`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use gromox_exmdb_proto as proto;
use gromox_mapi::tags::PR_ATTACH_METHOD;
use gromox_mapi::{PropTag, PropVal, TaggedVal};

use crate::error::{Error, Result};
use crate::message::{attachment_size, client_settable, content_size, props_size};
use crate::store::folder_exists;
use crate::{AttachmentContent, MessageContent, MessageInstance, Store};

/// PR_ATTACH_METHOD of an embedded message (MS-OXCMSG §2.2.2.9 afEmbeddedMessage).
const ATTACH_EMBEDDED_MSG: i32 = 5;

/// The instances one connection holds (see the module documentation).
#[derive(Debug, Default)]
pub struct Instances {
    next: u32,
    open: HashMap<u32, Inst>,
}

#[derive(Debug)]
struct Inst {
    /// The mailbox the instance was loaded from.
    path: PathBuf,
    kind: Kind,
    /// Bytes held, by the store's size accounting.
    size: u64,
}

#[derive(Debug)]
enum Kind {
    /// A top-level message.
    Message(MessageInstance),
    /// The embedded message of attachment instance `parent`.
    Embedded { parent: u32, content: MessageContent },
    /// An attachment of message instance `parent`.
    Attachment {
        parent: u32,
        slot: Slot,
        att: AttachmentContent,
    },
}

/// Where an attachment instance goes in its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// Added when flushed.
    New,
    /// The attachment at this index.
    At(u32),
    /// Deleted from the message meanwhile.
    Gone,
}

impl Kind {
    fn size(&self) -> u64 {
        match self {
            Kind::Message(m) => content_size(&m.content),
            Kind::Embedded { content, .. } => content_size(content),
            Kind::Attachment { att, .. } => attachment_size(att),
        }
    }

    fn message(&self) -> Result<&MessageContent> {
        match self {
            Kind::Message(m) => Ok(&m.content),
            Kind::Embedded { content, .. } => Ok(content),
            Kind::Attachment { .. } => Err(Error::InvalidArgument("not a message instance")),
        }
    }

    fn message_mut(&mut self) -> Result<&mut MessageContent> {
        match self {
            Kind::Message(m) => Ok(&mut m.content),
            Kind::Embedded { content, .. } => Ok(content),
            Kind::Attachment { .. } => Err(Error::InvalidArgument("not a message instance")),
        }
    }

    fn attachment(&self) -> Result<&AttachmentContent> {
        match self {
            Kind::Attachment { att, .. } => Ok(att),
            _ => Err(Error::InvalidArgument("not an attachment instance")),
        }
    }

    /// The property list of a message or attachment instance.
    fn props_mut(&mut self) -> &mut Vec<TaggedVal> {
        match self {
            Kind::Message(m) => &mut m.content.props,
            Kind::Embedded { content, .. } => &mut content.props,
            Kind::Attachment { att, .. } => &mut att.props,
        }
    }
}

/// Sets (replaces by property id) `props` in `list`.
fn set_props(list: &mut Vec<TaggedVal>, props: &[TaggedVal]) {
    for p in props {
        match list.iter_mut().find(|x| x.tag.id() == p.tag.id()) {
            Some(x) => *x = p.clone(),
            None => list.push(p.clone()),
        }
    }
}

impl Instances {
    /// Number of instances held.
    pub fn len(&self) -> usize {
        self.open.len()
    }

    /// Whether no instance is held.
    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    /// Bytes held by all instances.
    pub fn held_bytes(&self) -> u64 {
        self.open.values().map(|i| i.size).sum()
    }

    /// Refuses when `extra` more bytes would pass [`proto::MAX_INSTANCE_BYTES`].
    fn fits(&self, extra: u64) -> Result<()> {
        let total = self.held_bytes().saturating_add(extra);
        if total > proto::MAX_INSTANCE_BYTES {
            return Err(Error::TooBig(format!(
                "the connection's instances would hold {total} bytes (at most {})",
                proto::MAX_INSTANCE_BYTES
            )));
        }
        Ok(())
    }

    /// Adds an instance of `kind` (count and byte limits checked).
    fn insert(&mut self, path: &Path, kind: Kind) -> Result<u32> {
        if self.open.len() >= proto::MAX_INSTANCES {
            return Err(Error::InvalidArgument("too many instances on this connection"));
        }
        let size = kind.size();
        self.fits(size)?;
        // Not reused while the old instance is held.
        next_handle(&mut self.next, &self.open);
        self.open.insert(
            self.next,
            Inst {
                path: path.to_path_buf(),
                kind,
                size,
            },
        );
        Ok(self.next)
    }

    fn get(&self, path: &Path, id: u32) -> Result<&Inst> {
        match self.open.get(&id) {
            Some(i) if i.path == path => Ok(i),
            _ => Err(Error::NotFound("instance on this connection")),
        }
    }

    /// Runs `f` on instance `id`, after checking that `extra` more bytes fit, and updates its
    /// size.
    fn edit<T>(&mut self, path: &Path, id: u32, extra: u64, f: impl FnOnce(&mut Kind) -> Result<T>) -> Result<T> {
        self.get(path, id)?;
        self.fits(extra)?;
        let inst = self
            .open
            .get_mut(&id)
            .ok_or(Error::NotFound("instance on this connection"))?;
        let r = f(&mut inst.kind);
        inst.size = inst.kind.size();
        r
    }

    /// Gromox `load_message_instance`: message `mid` of `folder` (a live top-level message of
    /// it), or a new message of live `folder`.
    pub fn load_message(
        &mut self,
        path: &Path,
        st: &Store,
        folder: u64,
        mid: Option<u64>,
        associated: bool,
    ) -> Result<u32> {
        if self.open.len() >= proto::MAX_INSTANCES {
            return Err(Error::InvalidArgument("too many instances on this connection"));
        }
        let inst = match mid {
            None => {
                if !folder_exists(st.conn(), folder)? {
                    return Err(Error::NotFound("folder"));
                }
                MessageInstance::new(folder, associated)
            }
            Some(mid) => {
                let info = st.message_info(mid)?;
                if info.deleted || info.folder != folder {
                    return Err(Error::NotFound("message in that folder"));
                }
                self.fits(info.size)?;
                st.open_instance(mid)?
            }
        };
        self.insert(path, Kind::Message(inst))
    }

    /// Gromox `load_embedded_instance`: the embedded message of attachment instance
    /// `attachment`, or a new one that replaces it when flushed (`create`).
    pub fn load_embedded(&mut self, path: &Path, attachment: u32, create: bool) -> Result<u32> {
        let content = match (create, &self.get(path, attachment)?.kind.attachment()?.embedded) {
            (true, _) => MessageContent::default(),
            (false, Some(e)) => (**e).clone(),
            (false, None) => return Err(Error::NotFound("embedded message")),
        };
        self.insert(
            path,
            Kind::Embedded {
                parent: attachment,
                content,
            },
        )
    }

    /// Gromox `create_attachment_instance`: a new attachment of message instance `message`.
    pub fn create_attachment(&mut self, path: &Path, message: u32) -> Result<u32> {
        self.get(path, message)?.kind.message()?;
        self.insert(
            path,
            Kind::Attachment {
                parent: message,
                slot: Slot::New,
                att: AttachmentContent::default(),
            },
        )
    }

    /// Gromox `load_attachment_instance`: attachment `index` of message instance `message`.
    pub fn load_attachment(&mut self, path: &Path, message: u32, index: u32) -> Result<u32> {
        let att = self
            .get(path, message)?
            .kind
            .message()?
            .attachments
            .get(index as usize)
            .cloned()
            .ok_or(Error::NotFound("attachment"))?;
        self.insert(
            path,
            Kind::Attachment {
                parent: message,
                slot: Slot::At(index),
                att,
            },
        )
    }

    /// Gromox `delete_message_instance_attachment`: attachment `index` leaves message instance
    /// `message`; open attachment instances of later attachments follow their new index, one
    /// of the deleted attachment has nowhere to be flushed to.
    pub fn delete_attachment(&mut self, path: &Path, message: u32, index: u32) -> Result<()> {
        self.edit(path, message, 0, |k| {
            let atts = &mut k.message_mut()?.attachments;
            if index as usize >= atts.len() {
                return Err(Error::NotFound("attachment"));
            }
            atts.remove(index as usize);
            Ok(())
        })?;
        for inst in self.open.values_mut() {
            if let Kind::Attachment { parent, slot, .. } = &mut inst.kind {
                if *parent == message {
                    *slot = match *slot {
                        Slot::At(i) if i == index => Slot::Gone,
                        Slot::At(i) if i > index => Slot::At(i - 1),
                        s => s,
                    };
                }
            }
        }
        Ok(())
    }

    /// All properties of a message or attachment instance.
    pub fn props(&self, path: &Path, id: u32) -> Result<Vec<TaggedVal>> {
        Ok(match &self.get(path, id)?.kind {
            Kind::Message(m) => m.content.props.clone(),
            Kind::Embedded { content, .. } => content.props.clone(),
            Kind::Attachment { att, .. } => att.props.clone(),
        })
    }

    /// Gromox `set_instance_properties` (tags the store maintains on messages are skipped).
    pub fn set_props(&mut self, path: &Path, id: u32, mut props: Vec<TaggedVal>) -> Result<()> {
        self.edit(path, id, props_size(&props), |k| {
            if !matches!(k, Kind::Attachment { .. }) {
                props.retain(|p| client_settable(p.tag));
            }
            set_props(k.props_mut(), &props);
            Ok(())
        })
    }

    /// Gromox `remove_instance_properties` (by property id).
    pub fn remove_props(&mut self, path: &Path, id: u32, tags: &[PropTag]) -> Result<()> {
        self.edit(path, id, 0, |k| {
            k.props_mut().retain(|p| !tags.iter().any(|t| t.id() == p.tag.id()));
            Ok(())
        })
    }

    /// The recipient rows of a message instance.
    pub fn rcpts(&self, path: &Path, id: u32) -> Result<Vec<Vec<TaggedVal>>> {
        Ok(self.get(path, id)?.kind.message()?.recipients.clone())
    }

    /// Replaces the recipient rows of a message instance.
    pub fn set_rcpts(&mut self, path: &Path, id: u32, rcpts: Vec<Vec<TaggedVal>>) -> Result<()> {
        let extra = rcpts.iter().map(|r| props_size(r)).sum();
        self.edit(path, id, extra, |k| {
            k.message_mut()?.recipients = rcpts;
            Ok(())
        })
    }

    /// The properties of a message instance's attachments, in index order.
    pub fn attachments(&self, path: &Path, id: u32) -> Result<Vec<Vec<TaggedVal>>> {
        Ok(self
            .get(path, id)?
            .kind
            .message()?
            .attachments
            .iter()
            .map(|a| a.props.clone())
            .collect())
    }

    /// Gromox `read_message_instance`.
    pub fn read_message(&self, path: &Path, id: u32) -> Result<MessageContent> {
        Ok(self.get(path, id)?.kind.message()?.clone())
    }

    /// Gromox `read_attachment_instance`.
    pub fn read_attachment(&self, path: &Path, id: u32) -> Result<AttachmentContent> {
        Ok(self.get(path, id)?.kind.attachment()?.clone())
    }

    /// Gromox `write_message_instance`: the whole content replaced.
    pub fn write_message(&mut self, path: &Path, id: u32, content: MessageContent) -> Result<()> {
        self.edit(path, id, content_size(&content), |k| {
            *k.message_mut()? = content;
            Ok(())
        })
    }

    /// Gromox `unload_instance`.
    pub fn unload(&mut self, path: &Path, id: u32) -> Result<()> {
        self.get(path, id)?;
        self.open.remove(&id);
        Ok(())
    }

    /// Gromox `flush_instance`: a top-level message into the store (its message id), an
    /// attachment into its message instance (its index), an embedded message into its
    /// attachment instance (0). The parent instance must still be held.
    pub fn flush(&mut self, path: &Path, st: &mut Store, id: u32) -> Result<u64> {
        let inst = self.get(path, id)?;
        match &inst.kind {
            Kind::Message(_) => {
                let Some(Inst {
                    kind: Kind::Message(m),
                    size,
                    ..
                }) = self.open.get_mut(&id)
                else {
                    return Err(Error::NotFound("instance on this connection"));
                };
                let r = st.flush_instance(m);
                *size = content_size(&m.content);
                r
            }
            Kind::Attachment { parent, slot, att } => {
                let (parent, slot) = (*parent, *slot);
                if slot == Slot::Gone {
                    return Err(Error::NotFound("attachment (deleted from its message)"));
                }
                let att = att.clone();
                let extra = attachment_size(&att);
                let index = self.edit(path, parent, extra, |k| {
                    let atts = &mut k.message_mut()?.attachments;
                    match slot {
                        Slot::At(i) => {
                            *atts.get_mut(i as usize).ok_or(Error::NotFound("attachment"))? = att;
                            Ok(i)
                        }
                        _ => {
                            atts.push(att);
                            u32::try_from(atts.len() - 1).map_err(|_| Error::InvalidArgument("too many attachments"))
                        }
                    }
                })?;
                if let Some(Inst {
                    kind: Kind::Attachment { slot, .. },
                    ..
                }) = self.open.get_mut(&id)
                {
                    *slot = Slot::At(index);
                }
                Ok(u64::from(index))
            }
            Kind::Embedded { parent, content } => {
                let (parent, content) = (*parent, content.clone());
                self.edit(path, parent, content_size(&content), |k| {
                    let Kind::Attachment { att, .. } = k else {
                        return Err(Error::InvalidArgument("not an attachment instance"));
                    };
                    att.embedded = Some(Box::new(content));
                    set_props(
                        &mut att.props,
                        &[TaggedVal::new(PR_ATTACH_METHOD, PropVal::I4(ATTACH_EMBEDDED_MSG))],
                    );
                    Ok(())
                })?;
                Ok(0)
            }
        }
    }
}

/// Advances `next` to the next handle (per-connection instance and table ids) that is not 0
/// and not in `open`, wrapping around at u32::MAX.
pub(crate) fn next_handle<V>(next: &mut u32, open: &HashMap<u32, V>) -> u32 {
    loop {
        *next = next.wrapping_add(1).max(1);
        if !open.contains_key(next) {
            return *next;
        }
    }
}
