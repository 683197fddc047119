//! The exmdb RPC server: a [`gromox_runtime::Protocol`] executing [`gromox_exmdb_proto`] calls
//! against a shared [`StoreCache`] on the runtime's worker threads.
//!
//! Per connection: the first frame must be the version handshake; then each request frame
//! names a mailbox directory and a call. A malformed, truncated-then-closed or oversized frame
//! closes that connection only. Every mailbox directory is validated (absolute, no `..`, under
//! `<state>/user/` or `<state>/domain/`, an existing directory) and checked to be homed here.

use std::collections::HashSet;
use std::net::IpAddr;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use gromox_base::acl::HostsAllow;
use gromox_exmdb_proto::{self as proto, Call, FolderEntry, Response, Status};
use gromox_runtime::{ConnInfo, Cx, Next, Protocol, Session};

use crate::cache::StoreCache;
use crate::error::Error;
use crate::message::MessageContent;
use crate::store::Obj;

/// Decides whether a mailbox is homed on this server: `Ok(())`, or the name of its home.
pub type HomeCheck = Box<dyn Fn(&Path) -> Result<(), String> + Send + Sync>;

/// Shared server state.
pub struct ExmdbServer {
    pub cache: Arc<StoreCache>,
    state: PathBuf,
    acl: RwLock<HostsAllow>,
    home: Option<HomeCheck>,
    frozen: Mutex<HashSet<PathBuf>>,
    log: slog::Logger,
}

impl ExmdbServer {
    pub fn new(
        cache: Arc<StoreCache>,
        state: PathBuf,
        acl: HostsAllow,
        home: Option<HomeCheck>,
        log: slog::Logger,
    ) -> Self {
        ExmdbServer {
            cache,
            state,
            acl: RwLock::new(acl),
            home,
            frozen: Mutex::new(HashSet::new()),
            log,
        }
    }

    /// Replace the access list (SIGHUP).
    pub fn set_acl(&self, acl: HostsAllow) {
        *self.acl.write().unwrap_or_else(|p| p.into_inner()) = acl;
    }

    fn allows(&self, ip: IpAddr) -> bool {
        self.acl.read().unwrap_or_else(|p| p.into_inner()).allows(ip)
    }

    /// Validates a client-supplied mailbox directory.
    pub fn check_dir(&self, dir: &str) -> Result<PathBuf, (Status, String)> {
        let bad = |m: &str| (Status::BadMailbox, format!("{dir:?}: {m}"));
        let p = Path::new(dir);
        if !p.is_absolute()
            || p.components()
                .any(|c| !matches!(c, Component::RootDir | Component::Normal(_)))
        {
            return Err(bad("not a plain absolute path"));
        }
        let rel = p
            .strip_prefix(&self.state)
            .map_err(|_| bad("not under the state directory"))?;
        let mut comps = rel.components();
        let ok = match comps.next() {
            Some(Component::Normal(c)) => (c == "user" || c == "domain") && comps.next().is_some(),
            _ => false,
        };
        if !ok {
            return Err(bad("not a user/ or domain/ store"));
        }
        if !p.is_dir() {
            return Err((Status::NotFound, format!("{dir:?}: no such mailbox")));
        }
        if let Some(h) = &self.home {
            h(p).map_err(|home| (Status::MisroutedMailbox, format!("mailbox is homed on {home}")))?;
        }
        Ok(p.to_path_buf())
    }

    /// Executes one decoded request; returns the response payload.
    pub fn execute(&self, dir: &str, call: Call) -> Vec<u8> {
        match self.run(dir, call) {
            Ok(r) => proto::encode_response(&r),
            Err((s, m)) => {
                slog::debug!(self.log, "call failed"; "event" => "exmdb.call_failed", "dir" => dir, "status" => ?s, "error" => &m);
                proto::encode_error(s, &m)
            }
        }
    }

    fn run(&self, dir: &str, call: Call) -> Result<Response, (Status, String)> {
        let path = self.check_dir(dir)?;
        let frozen = self.frozen.lock().unwrap_or_else(|p| p.into_inner()).contains(&path);
        match call {
            Call::Thaw => {
                self.frozen.lock().unwrap_or_else(|p| p.into_inner()).remove(&path);
                return Ok(Response::Done);
            }
            Call::Freeze => {
                self.frozen.lock().unwrap_or_else(|p| p.into_inner()).insert(path);
                return Ok(Response::Done);
            }
            Call::Ping => {}
            _ if frozen => return Err((Status::Frozen, "mailbox is in maintenance mode".into())),
            Call::Unload => {
                return Err((Status::NotSupported, "unload is not implemented by this server".into()));
            }
            _ => {}
        }
        let store = self.cache.get(&path).map_err(err)?;
        let mut st = store.lock().unwrap_or_else(|p| p.into_inner());
        let r = match call {
            Call::Ping | Call::Freeze | Call::Thaw | Call::Unload => Response::Done,
            Call::GetStoreProps => Response::Props(st.get_props(Obj::Store).map_err(err)?),
            Call::SetStoreProps(p) => {
                st.set_props(Obj::Store, &p).map_err(err)?;
                Response::Done
            }
            Call::RemoveStoreProps(t) => {
                st.remove_props(Obj::Store, &t).map_err(err)?;
                Response::Done
            }
            Call::ListFolders => Response::Folders(
                st.list_folders()
                    .map_err(err)?
                    .into_iter()
                    .filter(|f| !f.deleted)
                    .map(|f| FolderEntry {
                        id: f.id,
                        parent: f.parent.unwrap_or(0),
                        name: f.name,
                        container_class: f.container_class,
                    })
                    .collect(),
            ),
            Call::CreateFolder { parent, name, class } => {
                Response::Id(st.create_folder(parent, &name, class.as_deref()).map_err(err)?)
            }
            Call::GetFolderProps(id) => Response::Props(st.get_props(Obj::Folder(id)).map_err(err)?),
            Call::GetMessageProps(id) => Response::Props(st.read_message(id).map_err(err)?.props),
            Call::DeliverMessage { folder, props, mime } => {
                let c = MessageContent {
                    props,
                    ..Default::default()
                };
                let d = st.deliver_message(folder, &c, mime.as_deref()).map_err(err)?;
                Response::Delivered {
                    folder: d.folder,
                    message: d.message,
                }
            }
            Call::SetReadState { mid, read } => {
                st.set_read(mid, read).map_err(err)?;
                Response::Done
            }
            Call::DeleteMessages { mids, hard } => {
                st.delete_messages(&mids, hard).map_err(err)?;
                Response::Done
            }
            Call::MoveMessages { mids, to } => {
                for m in mids {
                    st.move_message(m, to).map_err(err)?;
                }
                Response::Done
            }
            Call::EmptyFolder { folder, hard } => Response::Count(st.empty_folder(folder, hard).map_err(err)? as u64),
            Call::PurgeSoftdel => {
                let s = st.purge().map_err(err)?;
                Response::Count((s.messages + s.folders) as u64)
            }
            Call::PurgeDatafiles => Response::Count(st.purge_content().map_err(err)? as u64),
            Call::RecalcSizes => {
                let tx = st.conn.transaction().map_err(|e| err(e.into()))?;
                crate::message::recompute_store_size(&tx).map_err(err)?;
                tx.commit().map_err(|e| err(e.into()))?;
                Response::Done
            }
            Call::Vacuum => {
                st.conn().execute_batch("VACUUM").map_err(|e| err(e.into()))?;
                Response::Done
            }
        };
        Ok(r)
    }
}

fn err(e: Error) -> (Status, String) {
    let s = match &e {
        Error::NotFound(_) => Status::NotFound,
        Error::NameConflict(_) => Status::NameConflict,
        Error::QuotaExceeded { .. } => Status::QuotaExceeded,
        Error::AccessDenied => Status::AccessDenied,
        Error::InvalidName(_) | Error::InvalidArgument(_) => Status::BadRequest,
        _ => Status::StoreError,
    };
    (s, e.to_string())
}

/// The runtime protocol.
pub struct ExmdbProtocol(pub Arc<ExmdbServer>);

/// One connection.
pub struct ExmdbSession {
    srv: Arc<ExmdbServer>,
    allowed: bool,
    greeted: bool,
}

impl Protocol for ExmdbProtocol {
    type Session = ExmdbSession;
    fn accept(&self, info: &ConnInfo) -> ExmdbSession {
        ExmdbSession {
            srv: self.0.clone(),
            allowed: self.0.allows(info.peer.ip()),
            greeted: false,
        }
    }
    fn busy_reply(&self) -> &[u8] {
        // A handshake answer with a non-OK status: the client reports "busy" and retries.
        b"\x03\x00\x00\x00\x09\x01\x00"
    }
}

impl Session for ExmdbSession {
    fn connected(&mut self, cx: &mut Cx<'_>) -> Next {
        if !self.allowed {
            slog::warn!(self.srv.log, "connection refused by exmdb_hosts_allow"; "event" => "exmdb.acl_refused", "peer" => cx.info.peer.to_string());
            proto::write_frame(cx.out, &proto::handshake_response(Status::AccessDenied));
            return Next::Close;
        }
        Next::Read
    }

    fn input(&mut self, data: &[u8], cx: &mut Cx<'_>) -> (usize, Next) {
        let mut used = 0;
        loop {
            let (payload, n) = match proto::split_frame(&data[used..]) {
                Ok(Some(x)) => x,
                Ok(None) => return (used, Next::Read),
                Err(e) => return self.bad(cx, used, e),
            };
            used += n;
            if !self.greeted {
                if let Err(e) = proto::parse_handshake_request(payload) {
                    proto::write_frame(cx.out, &proto::handshake_response(Status::BadRequest));
                    return self.bad(cx, used, e);
                }
                self.greeted = true;
                proto::write_frame(cx.out, &proto::handshake_response(Status::Ok));
                continue;
            }
            match proto::decode_request(payload) {
                Ok((dir, call)) => {
                    let resp = self.srv.execute(&dir, call);
                    proto::write_frame(cx.out, &resp);
                }
                Err(e) => {
                    proto::write_frame(cx.out, &proto::encode_error(Status::BadRequest, &e.to_string()));
                    return self.bad(cx, used, e);
                }
            }
        }
    }
}

impl ExmdbSession {
    fn bad(&self, cx: &mut Cx<'_>, used: usize, e: proto::ProtoError) -> (usize, Next) {
        slog::warn!(self.srv.log, "malformed exmdb frame, closing"; "event" => "exmdb.bad_frame", "peer" => cx.info.peer.to_string(), "error" => e.to_string());
        (used, Next::Close)
    }
}
