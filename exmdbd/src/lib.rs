//! exmdbd: the information store (DESIGN.md §4).
//!
//! One SQLite database per mailbox (`<maildir>/exmdb/exchange.sqlite3`) in Gromox 3.10's
//! layout (schema generation 27), big property values in content-addressed, zstd-compressed
//! files under `cid/`, original MIME of delivered mail under `eml/`.
//!
//! - [`schema`]: tables and the connection setup (every PRAGMA, durability);
//! - [`store`]: [`Store`] — open/create private and public stores, ids, properties, folders;
//! - [`message`]: messages, instances, read state, soft delete/purge, quotas, delivery;
//! - [`cid`]: content files; [`perms`]: folder permissions; [`notify`]: notifications;
//! - [`rules`]: server-side rules storage (MS-OXORULE);
//! - [`ics`]: incremental change synchronisation (MS-OXCFXICS): contents and hierarchy
//!   download from a client's state, import of client changes with conflict detection;
//! - [`table`]: content tables (restrict, sort, page, seek, bookmarks, find);
//! - [`search`]: search folders (criteria, background population, results kept current);
//! - [`instance`]: message and attachment instances of an RPC connection (MS-OXCMSG saves);
//! - [`probe`]: small probes and counters (message/folder presence, sums, change numbers);
//! - [`cache`]: shared open stores; [`mbck`]: integrity check; [`paths`]: mailbox paths;
//! - [`layout`]: default folder trees and localized names.

pub mod autoreply;
pub mod cache;
pub mod cid;
pub mod cli;
pub mod delivery;
pub mod error;
pub mod ics;
pub mod imapview;
pub mod instance;
pub mod layout;
pub mod mbck;
pub mod mbop;
pub mod message;
pub mod notify;
pub mod paths;
pub mod perms;
pub mod prefilter;
pub mod probe;
pub mod rpc;
pub mod rules;
pub mod schema;
pub mod search;
pub mod store;
pub mod table;

pub use error::{Error, Result};
pub use message::{AttachmentContent, Delivered, MessageContent, MessageInfo, MessageInstance, QuotaKind};
pub use notify::{Event, Notifier, StoreNotice};
pub use perms::Actor;
pub use schema::Durability;
pub use store::{FolderInfo, Obj, Store, StoreOptions};
