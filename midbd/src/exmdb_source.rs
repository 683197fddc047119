//! [`StoreSource`] over exmdbd's RPC ([`gromox_clients::exmdb::ExmdbClient`]).

use std::net::SocketAddr;

use gromox_clients::exmdb::{ExmdbClient, ExmdbError, ExmdbOptions};
use gromox_exmdb_proto::{Call, Response, Status};

use crate::source::{FlagChange, MessageSummary, NewMessage, SourceError, StoreFolder, StoreSource};

/// The store behind an exmdbd.
pub struct ExmdbSource {
    client: ExmdbClient,
}

impl ExmdbSource {
    /// A source talking to the exmdbd at `addr`.
    pub fn new(addr: SocketAddr, opts: ExmdbOptions) -> Self {
        ExmdbSource {
            client: ExmdbClient::new(addr, opts),
        }
    }

    fn call(&self, maildir: &str, call: &Call) -> Result<Response, SourceError> {
        self.client.call(maildir, call).map_err(map_err)
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

fn unsupported(what: &str) -> SourceError {
    SourceError::Other(format!("exmdbd does not offer {what} yet"))
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

    fn folder_state(&self, _maildir: &str, _folder: u64) -> Result<(u64, u64), SourceError> {
        Err(unsupported("FolderState"))
    }

    fn list_messages(
        &self,
        _maildir: &str,
        _folder: u64,
        _after: u64,
        _limit: u32,
    ) -> Result<Vec<MessageSummary>, SourceError> {
        Err(unsupported("ListMessages"))
    }

    fn message_rfc822(&self, _maildir: &str, _mid: u64) -> Result<Vec<u8>, SourceError> {
        Err(unsupported("MessageRfc822"))
    }

    fn append(&self, _maildir: &str, _folder: u64, _msg: &NewMessage<'_>) -> Result<u64, SourceError> {
        Err(unsupported("AppendRfc822"))
    }

    fn set_flags(&self, _maildir: &str, _mid: u64, _change: &FlagChange) -> Result<(), SourceError> {
        Err(unsupported("SetMessageFlags"))
    }

    fn copy_messages(&self, _maildir: &str, _mids: &[u64], _to: u64) -> Result<Vec<u64>, SourceError> {
        Err(unsupported("CopyMessages"))
    }

    fn move_messages(&self, _maildir: &str, _mids: &[u64], _to: u64) -> Result<Vec<u64>, SourceError> {
        Err(unsupported("MoveMessages with ids"))
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

    fn delete_folder(&self, _maildir: &str, _folder: u64) -> Result<(), SourceError> {
        Err(unsupported("DeleteFolder"))
    }

    fn move_folder(&self, _maildir: &str, _folder: u64, _parent: u64, _name: &str) -> Result<(), SourceError> {
        Err(unsupported("MoveFolder"))
    }
}
