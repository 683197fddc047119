//! [`StoreSource`] over exmdbd's RPC ([`gromox_clients::exmdb::ExmdbClient`]).

use std::net::SocketAddr;

use gromox_clients::exmdb::{ExmdbError, ExmdbOptions, ExmdbRouter};
use gromox_exmdb_proto::{Call, ImapFlags, Response, Status};
use gromox_mapi::props::{PropTag, PropVal};

/// PR_ATTR_HIDDEN (MS-OXPROPS).
const PR_ATTR_HIDDEN: PropTag = PropTag(0x10F4_000B);
/// PR_MESSAGE_SIZE_EXTENDED: the store's size in bytes.
const PR_MESSAGE_SIZE_EXTENDED: PropTag = PropTag(0x0E08_0014);
/// PR_PROHIBIT_SEND_QUOTA, PR_PROHIBIT_RECEIVE_QUOTA (KiB).
const PR_PROHIBIT_SEND_QUOTA: PropTag = PropTag(0x666E_0003);
const PR_PROHIBIT_RECEIVE_QUOTA: PropTag = PropTag(0x666A_0003);

use crate::source::{FlagChange, MessageSummary, NewMessage, SourceError, StoreFolder, StoreSource};

/// The stores behind exmdbd: the local one, or each mailbox's home server (DESIGN.md §5).
pub struct ExmdbSource {
    router: ExmdbRouter,
}

impl ExmdbSource {
    /// A source talking to the exmdbd at `addr` for every mailbox.
    pub fn new(addr: SocketAddr, opts: ExmdbOptions) -> Self {
        ExmdbSource {
            router: ExmdbRouter::new(addr, "", opts),
        }
    }

    /// A source routing each mailbox to its home server: `router` knows this host's exmdbd
    /// and how to find a mailbox's home.
    pub fn routed(router: ExmdbRouter) -> Self {
        ExmdbSource { router }
    }

    fn call(&self, maildir: &str, call: &Call) -> Result<Response, SourceError> {
        self.router
            .for_maildir(maildir)
            .and_then(|c| c.call(maildir, call))
            .map_err(map_err)
    }
}

fn map_err(e: ExmdbError) -> SourceError {
    match e {
        ExmdbError::Call(Status::NotFound, _) => SourceError::NotFound,
        ExmdbError::Call(Status::NameConflict, _) => SourceError::Exists,
        ExmdbError::Call(Status::BadMailbox | Status::MisroutedMailbox, _) => SourceError::NoMailbox,
        ExmdbError::Call(Status::QuotaExceeded, _) => SourceError::Quota,
        e => SourceError::Other(e.to_string()),
    }
}

fn unexpected(r: Response) -> SourceError {
    SourceError::Other(format!("unexpected exmdb response {r:?}"))
}

impl StoreSource for ExmdbSource {
    fn list_folders(&self, maildir: &str) -> Result<Vec<StoreFolder>, SourceError> {
        match self.call(maildir, &Call::ListFolders)? {
            Response::Folders(v) => Ok(v
                .into_iter()
                .map(|f| StoreFolder {
                    id: f.id,
                    parent: f.parent,
                    name: f.name,
                    class: f.container_class,
                })
                .collect()),
            r => Err(unexpected(r)),
        }
    }

    fn folder_state(&self, maildir: &str, folder: u64) -> Result<(u64, u64), SourceError> {
        match self.call(maildir, &Call::FolderState { folder })? {
            Response::FolderState { max_cn, count } => Ok((max_cn, count)),
            r => Err(unexpected(r)),
        }
    }

    fn list_messages(
        &self,
        maildir: &str,
        folder: u64,
        after_mid: u64,
        limit: u32,
        min_cn: u64,
    ) -> Result<Vec<MessageSummary>, SourceError> {
        match self.call(
            maildir,
            &Call::ListMessages {
                folder,
                after_mid,
                limit,
                min_cn,
            },
        )? {
            Response::Messages(v) => Ok(v
                .into_iter()
                .map(|m| MessageSummary {
                    mid: m.mid,
                    change_number: m.change_number,
                    read: m.flags.read,
                    flagged: m.flags.flagged,
                    answered: m.flags.answered,
                    forwarded: m.flags.forwarded,
                    draft: m.flags.draft,
                    keywords: m.flags.keywords,
                    delivery_time: m.delivery_time,
                })
                .collect()),
            r => Err(unexpected(r)),
        }
    }

    fn message_rfc822(&self, maildir: &str, mid: u64) -> Result<Vec<u8>, SourceError> {
        match self.call(maildir, &Call::MessageRfc822 { mid })? {
            Response::Bytes(b) => Ok(b),
            r => Err(unexpected(r)),
        }
    }

    fn append(&self, maildir: &str, folder: u64, msg: &NewMessage<'_>) -> Result<u64, SourceError> {
        let call = Call::AppendRfc822 {
            folder,
            mime: msg.mime.to_vec(),
            flags: ImapFlags {
                read: msg.read,
                flagged: msg.flagged,
                answered: msg.answered,
                forwarded: msg.forwarded,
                draft: msg.draft,
                keywords: msg.keywords.clone(),
            },
            delivery_time: Some(msg.delivery_time),
        };
        match self.call(maildir, &call)? {
            Response::Delivered { message, .. } => Ok(message),
            r => Err(unexpected(r)),
        }
    }

    fn set_flags(&self, maildir: &str, mid: u64, c: &FlagChange) -> Result<(), SourceError> {
        let call = Call::SetMessageFlags {
            mid,
            read: c.read,
            flagged: c.flagged,
            answered: c.answered,
            forwarded: c.forwarded,
            keywords: c.keywords.clone(),
        };
        match self.call(maildir, &call)? {
            Response::Done => Ok(()),
            r => Err(unexpected(r)),
        }
    }

    fn copy_messages(&self, maildir: &str, mids: &[u64], to: u64) -> Result<Vec<u64>, SourceError> {
        match self.call(
            maildir,
            &Call::CopyMessages {
                mids: mids.to_vec(),
                to,
            },
        )? {
            Response::Ids(v) if v.len() == mids.len() => Ok(v),
            r => Err(unexpected(r)),
        }
    }

    fn move_messages(&self, maildir: &str, mids: &[u64], to: u64) -> Result<Vec<u64>, SourceError> {
        match self.call(
            maildir,
            &Call::MoveMessages {
                mids: mids.to_vec(),
                to,
            },
        )? {
            Response::Ids(v) if v.len() == mids.len() => Ok(v),
            r => Err(unexpected(r)),
        }
    }

    fn delete_messages(&self, maildir: &str, mids: &[u64]) -> Result<(), SourceError> {
        match self.call(
            maildir,
            &Call::DeleteMessages {
                mids: mids.to_vec(),
                hard: true,
            },
        )? {
            Response::Done | Response::Count(_) => Ok(()),
            r => Err(unexpected(r)),
        }
    }

    fn create_folder(&self, maildir: &str, parent: u64, name: &str) -> Result<u64, SourceError> {
        let call = Call::CreateFolder {
            parent,
            name: name.to_string(),
            class: Some("IPF.Note".into()),
        };
        match self.call(maildir, &call)? {
            Response::Id(id) => Ok(id),
            r => Err(unexpected(r)),
        }
    }

    fn delete_folder(&self, maildir: &str, folder: u64) -> Result<(), SourceError> {
        match self.call(maildir, &Call::DeleteFolder { folder, hard: true })? {
            Response::Done | Response::Count(_) => Ok(()),
            r => Err(unexpected(r)),
        }
    }

    fn move_folder(&self, maildir: &str, folder: u64, parent: u64, name: &str) -> Result<(), SourceError> {
        let call = Call::MoveFolder {
            folder,
            parent,
            name: name.to_string(),
        };
        match self.call(maildir, &call)? {
            Response::Done => Ok(()),
            r => Err(unexpected(r)),
        }
    }

    fn folder_hidden(&self, maildir: &str, folder: u64) -> Result<bool, SourceError> {
        match self.call(maildir, &Call::GetFolderProps(folder))? {
            Response::Props(v) => Ok(v
                .iter()
                .any(|p| p.tag == PR_ATTR_HIDDEN && matches!(p.val, PropVal::Boolean(true)))),
            r => Err(unexpected(r)),
        }
    }

    fn mailbox_rights(&self, maildir: &str, user: &str) -> Result<u32, SourceError> {
        match self.call(maildir, &Call::MailboxRights { user: user.into() })? {
            Response::Count(r) => Ok(u32::try_from(r).unwrap_or(0)),
            r => Err(unexpected(r)),
        }
    }

    fn quota(&self, maildir: &str) -> Result<Option<(u64, u64)>, SourceError> {
        let props = match self.call(maildir, &Call::GetStoreProps)? {
            Response::Props(v) => v,
            r => return Err(unexpected(r)),
        };
        let get = |t: PropTag| {
            props
                .iter()
                .find(|p| p.tag == t)
                .and_then(|p| p.val.as_i64())
                .filter(|v| *v > 0)
        };
        let used = get(PR_MESSAGE_SIZE_EXTENDED).unwrap_or(0) as u64;
        Ok(get(PR_PROHIBIT_SEND_QUOTA)
            .or_else(|| get(PR_PROHIBIT_RECEIVE_QUOTA))
            .map(|kib| (used, kib as u64 * 1024)))
    }
}
