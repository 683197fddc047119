//! Inbox rules at delivery (MS-OXORULE §3.2.5.1): the enabled rules of the receive folder,
//! in sequence order, are tested against the converted message with the reference
//! restriction evaluator; the actions of every matching rule are collected until a matching
//! rule has `ST_EXIT_LEVEL` (stop processing more rules). Rules marked `ST_ONLY_WHEN_OOF` run
//! only while the mailbox's out-of-office state is on; rules with `ST_ERROR` never run.
//!
//! Carried out: move and copy (same store), delete, mark as read, tag (set a property),
//! forward and delegate (the message is spooled to the recipients' SMTP addresses like a
//! directory forward). Not carried out (logged): reply, OOF reply, deferred actions, bounce,
//! moves into other stores.

use std::borrow::Cow;

use exmdbd::{MessageContent, Store};
use gromox_mapi::restriction::{Matcher, PropSource, SubObject};
use gromox_mapi::rule::{self, ActionData};
use gromox_mapi::{PropTag, PropVal, TaggedVal};

/// A converted message as the evaluator's source.
struct Msg<'a>(&'a MessageContent);

impl PropSource for Msg<'_> {
    fn prop(&self, tag: PropTag) -> Option<Cow<'_, PropVal>> {
        self.0
            .props
            .iter()
            .find(|t| t.tag.id() == tag.id())
            .map(|t| Cow::Borrowed(&t.val))
    }
    fn any_sub(&self, which: SubObject, f: &mut dyn FnMut(&dyn PropSource) -> bool) -> bool {
        match which {
            SubObject::Recipients => self.0.recipients.iter().any(|r| f(r)),
            SubObject::Attachments => self.0.attachments.iter().any(|a| f(&a.props)),
        }
    }
}

/// What the rules decided for one delivery.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Outcome {
    /// Deliver into this folder instead of the receive folder.
    pub move_to: Option<u64>,
    /// Copies into these folders.
    pub copy_to: Vec<u64>,
    /// Do not keep the message.
    pub delete: bool,
    pub mark_read: bool,
    /// Properties to set.
    pub tags: Vec<TaggedVal>,
    /// SMTP addresses to forward to.
    pub forward_to: Vec<String>,
    /// Names of the rules that matched, for the log.
    pub matched: Vec<String>,
    /// Actions that were skipped, for the log.
    pub skipped: Vec<String>,
}

const PR_SMTP_ADDRESS: PropTag = PropTag(0x39FE_001F);
const PR_EMAIL_ADDRESS: PropTag = PropTag(0x3003_001F);
const PR_ADDRTYPE: PropTag = PropTag(0x3002_001F);

fn smtp_of(props: &[TaggedVal]) -> Option<String> {
    let get = |t: PropTag| props.iter().find(|p| p.tag.id() == t.id()).and_then(|p| p.val.as_str());
    if let Some(a) = get(PR_SMTP_ADDRESS).filter(|a| a.contains('@')) {
        return Some(a.to_string());
    }
    match get(PR_ADDRTYPE) {
        Some(t) if t.eq_ignore_ascii_case("SMTP") => get(PR_EMAIL_ADDRESS).map(str::to_string),
        _ => None,
    }
}

/// Evaluate the rules of `folder` for `msg`; `oof` says whether out-of-office is on.
pub fn evaluate(store: &Store, folder: u64, msg: &MessageContent, oof: bool) -> exmdbd::Result<Outcome> {
    let mut out = Outcome::default();
    for r in store.rules(folder)? {
        if r.state & rule::ST_ENABLED == 0 || r.state & rule::ST_ERROR != 0 {
            continue;
        }
        if r.state & rule::ST_ONLY_WHEN_OOF != 0 && !oof {
            continue;
        }
        if !Matcher::new(&r.condition).matches(&Msg(msg)) {
            continue;
        }
        out.matched.push(r.name.clone());
        for a in &r.actions {
            match (a.kind, &a.data) {
                (
                    rule::OP_MOVE | rule::OP_COPY,
                    ActionData::MoveCopy {
                        same_store: true,
                        folder_eid,
                        ..
                    },
                ) => match rule::server_eid_folder(folder_eid) {
                    Some(f) if a.kind == rule::OP_MOVE && out.move_to.is_none() => out.move_to = Some(f),
                    Some(f) => out.copy_to.push(f),
                    None => out.skipped.push(format!("{}: folder reference not understood", r.name)),
                },
                (rule::OP_DELETE, _) => out.delete = true,
                (rule::OP_MARK_AS_READ, _) => out.mark_read = true,
                (rule::OP_TAG, ActionData::Tag(t)) => out.tags.push(t.clone()),
                (rule::OP_FORWARD | rule::OP_DELEGATE, ActionData::Recipients(rs)) => {
                    out.forward_to.extend(rs.iter().filter_map(|p| smtp_of(p)))
                }
                (kind, _) => out.skipped.push(format!("{}: action type 0x{kind:02x}", r.name)),
            }
        }
        if r.state & rule::ST_EXIT_LEVEL != 0 {
            break;
        }
    }
    Ok(out)
}
