//! Where the importer writes: a store opened in this process (the `exmdbd` library), or a store
//! served by exmdbd over the exmdb RPC ([`RpcTarget`], `gromox-import --rpc`), as Gromox's
//! `gromox-mt2exm` does. Both take the same converted messages and give the same result.

use std::sync::Arc;

use exmdbd::{MessageContent, Store};
use gromox_clients::exmdb::{ExmdbClient, ExmdbError};
use gromox_exmdb_proto::{self as proto, Call, FolderEntry, Response};
use gromox_mapi::tags::PR_MESSAGE_FLAGS;
use gromox_mapi::PropName;

use crate::Error;

/// The store operations an import needs.
pub trait Target {
    /// A private mailbox (not a public store).
    fn is_private(&self) -> bool;
    /// The live child folder `name` of `parent` (case-insensitive), if any.
    fn find_folder(&mut self, parent: u64, name: &str) -> Result<Option<u64>, Error>;
    /// Create folder `name` under `parent`; its id.
    fn create_folder(&mut self, parent: u64, name: &str, class: Option<&str>) -> Result<u64, Error>;
    /// Whether folder `id` exists and is not deleted.
    fn folder_exists(&mut self, id: u64) -> Result<bool, Error>;
    /// The store's id of a named property, created when new (`None`: the store has none left).
    fn named_propid(&mut self, n: &PropName) -> Result<Option<u16>, Error>;
    /// Store a message as delivered mail (`folder` `None`: the receive folder), keeping its
    /// original MIME when there is one; the message id.
    fn deliver(&mut self, folder: Option<u64>, c: &MessageContent, mime: Option<&[u8]>) -> Result<u64, Error>;
    /// Store a message as it is (normal or associated); the message id.
    fn create(&mut self, folder: u64, c: &MessageContent, associated: bool) -> Result<u64, Error>;
}

impl Target for Store {
    fn is_private(&self) -> bool {
        Store::is_private(self)
    }
    fn find_folder(&mut self, parent: u64, name: &str) -> Result<Option<u64>, Error> {
        Ok(Store::find_folder(self, parent, name)?)
    }
    fn create_folder(&mut self, parent: u64, name: &str, class: Option<&str>) -> Result<u64, Error> {
        Ok(Store::create_folder(self, parent, name, class)?)
    }
    fn folder_exists(&mut self, id: u64) -> Result<bool, Error> {
        Ok(self.list_folders()?.iter().any(|x| x.id == id && !x.deleted))
    }
    fn named_propid(&mut self, n: &PropName) -> Result<Option<u16>, Error> {
        Ok(self.get_named_propid(n, true)?)
    }
    fn deliver(&mut self, folder: Option<u64>, c: &MessageContent, mime: Option<&[u8]>) -> Result<u64, Error> {
        Ok(self.deliver_message(folder, c, mime)?.message)
    }
    fn create(&mut self, folder: u64, c: &MessageContent, associated: bool) -> Result<u64, Error> {
        Ok(self.create_message(folder, c, associated)?)
    }
}

/// A mailbox behind exmdbd.
pub struct RpcTarget {
    client: Arc<ExmdbClient>,
    dir: String,
    private: bool,
    /// The folder list, read once and kept up to date with the folders created.
    folders: Option<Vec<FolderEntry>>,
}

fn rpc(e: ExmdbError) -> Error {
    Error::Usage(format!("exmdb: {e}"))
}

impl RpcTarget {
    /// The mailbox directory `dir` over `client`. A private store is told from a public one by
    /// its default folders (only a private store has an Inbox, id 0x0d under IPM_SUBTREE).
    pub fn new(client: Arc<ExmdbClient>, dir: &str) -> Result<RpcTarget, Error> {
        let mut t = RpcTarget {
            client,
            dir: dir.to_string(),
            private: false,
            folders: None,
        };
        t.private = t
            .folders()?
            .iter()
            .any(|f| f.id == exmdbd::layout::fid::INBOX && f.parent == exmdbd::layout::fid::IPMSUBTREE);
        Ok(t)
    }

    fn folders(&mut self) -> Result<&mut Vec<FolderEntry>, Error> {
        if self.folders.is_none() {
            let v = match self.client.call(&self.dir, &Call::ListFolders).map_err(rpc)? {
                Response::Folders(v) => v,
                r => return Err(Error::Usage(format!("exmdb: unexpected answer {r:?}"))),
            };
            self.folders = Some(v);
        }
        Ok(self.folders.get_or_insert_with(Vec::new))
    }
}

impl Target for RpcTarget {
    fn is_private(&self) -> bool {
        self.private
    }
    fn find_folder(&mut self, parent: u64, name: &str) -> Result<Option<u64>, Error> {
        Ok(self
            .folders()?
            .iter()
            .find(|f| f.parent == parent && f.name.eq_ignore_ascii_case(name))
            .map(|f| f.id))
    }
    fn create_folder(&mut self, parent: u64, name: &str, class: Option<&str>) -> Result<u64, Error> {
        let call = Call::CreateFolder {
            parent,
            name: name.to_string(),
            class: class.map(str::to_string),
        };
        let id = match self.client.call(&self.dir, &call).map_err(rpc)? {
            Response::Id(id) => id,
            r => return Err(Error::Usage(format!("exmdb: unexpected answer {r:?}"))),
        };
        self.folders()?.push(FolderEntry {
            id,
            parent,
            name: name.to_string(),
            container_class: class.map(str::to_string),
        });
        Ok(id)
    }
    fn folder_exists(&mut self, id: u64) -> Result<bool, Error> {
        Ok(self.folders()?.iter().any(|f| f.id == id))
    }
    fn named_propid(&mut self, n: &PropName) -> Result<Option<u16>, Error> {
        let ids = self
            .client
            .get_named_propids(&self.dir, true, std::slice::from_ref(n))
            .map_err(rpc)?;
        Ok(ids.first().copied().filter(|id| *id != 0))
    }
    fn deliver(&mut self, folder: Option<u64>, c: &MessageContent, mime: Option<&[u8]>) -> Result<u64, Error> {
        match (folder, mime) {
            // Delivered mail with its MIME: the store converts it, runs the inbox rules and
            // keeps the MIME, as for mail from lmtpd.
            (None, Some(m)) => {
                let d = self.client.deliver_mail(&self.dir, "", "", m, 0).map_err(rpc)?;
                Ok(d.message)
            }
            // Into a given folder, keeping the MIME (read state from the stream's flags).
            (Some(f), Some(m)) => {
                let read = matches!(c.get(PR_MESSAGE_FLAGS), Some(gromox_mapi::PropVal::I4(v)) if v & 1 != 0);
                let flags = proto::ImapFlags {
                    read,
                    ..Default::default()
                };
                self.client.append_rfc822(&self.dir, f, m, &flags, None).map_err(rpc)
            }
            (f, None) => self.create(f.unwrap_or(exmdbd::layout::fid::INBOX), c, false),
        }
    }
    fn create(&mut self, folder: u64, c: &MessageContent, associated: bool) -> Result<u64, Error> {
        self.client.write_message(&self.dir, folder, associated, c).map_err(rpc)
    }
}
