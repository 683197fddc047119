//! Delivery of one Internet message into a mailbox, as the delivery agent asks for it (Gromox
//! `deliver_message` with its rule processing): MIME → MAPI conversion (MS-OXCMAIL, through
//! `gromox-convert`), the receive folder for the message class (MS-OXCSTOR §2.2.1.1), the inbox
//! rules (MS-OXORULE §3.2.5.1) with the mailbox's out-of-office state, the store commit keeping
//! the original MIME, then the rules' follow-up steps.
//!
//! Rules: the enabled rules of the receive folder, in sequence order, are tested against the
//! converted message with the reference restriction evaluator; the actions of every matching
//! rule are collected until a matching rule has `ST_EXIT_LEVEL` (stop processing more rules).
//! Rules marked `ST_ONLY_WHEN_OOF` run only while out-of-office is on; rules with `ST_ERROR`
//! never run. Carried out here: move and copy (same store), delete, mark as read, tag (set a
//! property). Handed back to the delivery agent ([`MailDelivery`]): forward and delegate (SMTP
//! addresses to spool copies to), reply and OOF reply with a template (the template FAI message
//! rendered as a MIME entity, MS-OXORULE §2.2.5.1.2.2). Deferred actions become Deferred
//! Action Messages for the client (MS-OXORULE §2.2.6). Not carried out (reported in
//! `skipped`): bounce, moves into other stores.
//!
//! Point of durability: the store commit of [`Store::deliver_message`]; the follow-up steps
//! (copies, read state, tags) change an already stored message and are reported, not fatal.

use std::borrow::Cow;

use std::path::Path;

use gromox_exmdb_proto::MailDelivery;
use gromox_mapi::restriction::{Matcher, PropSource, SubObject};
use gromox_mapi::rule::{self, ActionData};
use gromox_mapi::{PropTag, PropVal, TaggedVal};

use crate::message::MessageContent;
use crate::store::{Obj, Store};
use crate::Result;

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
    /// Reply templates to answer the sender with: (template message id, PR_REPLY_TEMPLATE_ID).
    pub replies: Vec<(u64, [u8; 16])>,
    /// Deferred actions for the client: (rule id, rule provider, action).
    pub deferred: Vec<(u64, String, rule::Action)>,
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

/// The reply action data of a standard rule (MS-OXORULE §2.2.5.1.2.2): ReplyTemplateFID (8),
/// ReplyTemplateMID (8), ReplyTemplateGUID (16) → (template message id, GUID).
fn reply_template_ref(b: &[u8]) -> Option<(u64, [u8; 16])> {
    let mid = b.get(8..16)?;
    let guid: [u8; 16] = b.get(16..32)?.try_into().ok()?;
    Some((gromox_mapi::ids::gc_from_bytes(&mid[2..8]), guid))
}

/// Evaluate the rules of `folder` for `msg`; `oof` says whether out-of-office is on.
pub fn evaluate(store: &Store, folder: u64, msg: &MessageContent, oof: bool) -> Result<Outcome> {
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
                (rule::OP_DEFER_ACTION, _) => out.deferred.push((r.id, r.provider.clone(), a.clone())),
                (rule::OP_REPLY | rule::OP_OOF_REPLY, ActionData::Raw(b)) => match reply_template_ref(b) {
                    Some(t) => out.replies.push(t),
                    None => out
                        .skipped
                        .push(format!("{}: reply template reference not understood", r.name)),
                },
                (kind, _) => out.skipped.push(format!("{}: action type 0x{kind:02x}", r.name)),
            }
        }
        if r.state & rule::ST_EXIT_LEVEL != 0 {
            break;
        }
    }
    Ok(out)
}

/// The out-of-office settings of a mailbox (Gromox's `<maildir>/config/autoreply.cfg`,
/// `key = value` lines): `OOF_STATE` (0 off, 1 on, 2 scheduled between `START_TIME` and
/// `END_TIME`, Unix seconds), `ALLOW_EXTERNAL_OOF`, `EXTERNAL_AUDIENCE` (0: every outside
/// sender; 1: only known contacts).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OofSettings {
    pub state: u8,
    pub start: Option<i64>,
    pub end: Option<i64>,
    pub allow_external: bool,
    pub external_audience: u8,
}

impl OofSettings {
    /// Parse `autoreply.cfg`.
    pub fn parse(text: &str) -> OofSettings {
        let mut s = OofSettings::default();
        for line in text.lines() {
            let Some((k, v)) = line.split_once('=') else { continue };
            let v = v.trim();
            match k.trim().to_ascii_uppercase().as_str() {
                "OOF_STATE" => s.state = v.parse().unwrap_or(0),
                "START_TIME" => s.start = v.parse().ok(),
                "END_TIME" => s.end = v.parse().ok(),
                "ALLOW_EXTERNAL_OOF" => s.allow_external = v == "1" || v.eq_ignore_ascii_case("true"),
                "EXTERNAL_AUDIENCE" => s.external_audience = v.parse().unwrap_or(0),
                _ => {}
            }
        }
        s
    }

    /// The settings of the mailbox at `maildir` (defaults when there are none).
    pub fn of_mailbox(maildir: &Path) -> OofSettings {
        std::fs::read_to_string(maildir.join("config/autoreply.cfg"))
            .map(|t| OofSettings::parse(&t))
            .unwrap_or_default()
    }

    /// Whether replies are on at `now`.
    pub fn active(&self, now: i64) -> bool {
        match self.state {
            1 => true,
            2 => self.start.is_none_or(|s| now >= s) && self.end.is_none_or(|e| now < e),
            _ => false,
        }
    }
}

/// MIME → MAPI for delivery: conversion never fails, malformed MIME is converted as far as
/// it goes. Runs without the store (callers convert before taking the store lock).
pub fn convert(raw: &[u8]) -> gromox_convert::mapi::MapiMessage {
    gromox_convert::mapi::to_mapi(&gromox_convert::mime_in::mime_to_mapi(raw))
}

/// PR_REPLY_TEMPLATE_ID (MS-OXORULE §2.2.9.2).
const PR_REPLY_TEMPLATE_ID: PropTag = PropTag(0x65C2_0102);
/// Properties of a Deferred Action Message (MS-OXORULE §2.2.6, MS-OXPROPS).
pub const PR_CLIENT_ACTIONS: PropTag = PropTag(0x6645_0102);
pub const PR_DAM_ORIGINAL_ENTRYID: PropTag = PropTag(0x6646_0102);
pub const PR_DAM_BACK_PATCHED: PropTag = PropTag(0x6647_000B);
pub const PR_RULE_FOLDER_ENTRYID: PropTag = PropTag(0x6651_0102);
pub const PR_RULE_IDS: PropTag = PropTag(0x6675_0102);
pub const PR_RULE_PROVIDER: PropTag = PropTag(0x6681_001F);
/// PR_HAS_DAMS on the message a DAM refers to.
pub const PR_HAS_DAMS: PropTag = PropTag(0x3FEA_000B);

impl Store {
    /// Deliver the Internet message `raw` (already converted: `mapi`, see [`convert`]) for
    /// the recipient `rcpt` at Unix time `now`: receive folder, inbox rules, store commit
    /// keeping `raw`, rule follow-ups. `Err` means nothing was stored (quota: [`Error::QuotaExceeded`]).
    pub fn deliver_mail(
        &mut self,
        mapi: &gromox_convert::mapi::MapiMessage,
        raw: &[u8],
        now: i64,
    ) -> Result<MailDelivery> {
        let content = crate::imapview::from_bridge(self, mapi)?;
        let class = content
            .get(gromox_mapi::tags::PR_MESSAGE_CLASS)
            .and_then(|v| v.as_str())
            .unwrap_or("IPM.Note")
            .to_string();
        let inbox = self.receive_folder(&class)?;
        let oof = OofSettings::of_mailbox(self.dir()).active(now);
        let mut report = MailDelivery::default();
        let rules = match evaluate(self, inbox, &content, oof) {
            Ok(r) => r,
            Err(e) => {
                report.skipped.push(format!("inbox rules not evaluated: {e}"));
                Outcome::default()
            }
        };
        report.matched = rules.matched;
        report.skipped.extend(rules.skipped);
        report.forward_to = rules.forward_to;
        for (mid, guid) in &rules.replies {
            match self.reply_template(inbox, *mid, guid) {
                Some(t) => report.replies.push(t),
                None => report.skipped.push(format!("reply template {mid:#x} not found")),
            }
        }
        if rules.delete {
            if !rules.deferred.is_empty() {
                report.skipped.push("deferred actions: the message was deleted".into());
            }
            return Ok(report);
        }
        let target = rules
            .move_to
            .filter(|f| crate::store::folder_exists(self.conn(), *f).unwrap_or(false))
            .unwrap_or(inbox);
        let d = self.deliver_message(Some(target), &content, Some(raw))?;
        report.folder = d.folder;
        report.message = d.message;
        // The message is stored; what follows changes its state and is only reported.
        for f in &rules.copy_to {
            if let Err(e) = self.copy_message(d.message, *f) {
                report.skipped.push(format!("copy into folder {f:#x}: {e}"));
            }
        }
        if rules.mark_read {
            if let Err(e) = self.set_read(d.message, true) {
                report.skipped.push(format!("mark as read: {e}"));
            }
        }
        if !rules.tags.is_empty() {
            if let Err(e) = self.set_props(Obj::Message(d.message), &rules.tags) {
                report.skipped.push(format!("tag: {e}"));
            }
        }
        if !rules.deferred.is_empty() {
            if let Err(e) = self.write_dams(inbox, d.folder, d.message, &rules.deferred) {
                report.skipped.push(format!("deferred action message: {e}"));
            }
        }
        Ok(report)
    }

    /// Deferred Action Messages (MS-OXORULE §2.2.6, §3.2.5.1.2): one per rule provider in the
    /// Deferred Action folder, naming the delivered message, the folder whose rules ran, the
    /// rules and their deferred actions for the client (Outlook) to carry out; the message gets
    /// PR_HAS_DAMS.
    fn write_dams(
        &mut self,
        rule_folder: u64,
        folder: u64,
        mid: u64,
        deferred: &[(u64, String, rule::Action)],
    ) -> Result<()> {
        let original = self.message_entry_id(folder, mid)?;
        let rule_folder = self.folder_entry_id(rule_folder)?;
        let mut providers: Vec<&str> = deferred.iter().map(|d| d.1.as_str()).collect();
        providers.sort_unstable();
        providers.dedup();
        for provider in providers {
            let mine: Vec<_> = deferred.iter().filter(|d| d.1 == provider).collect();
            let mut ids = Vec::new();
            for (id, _, _) in &mine {
                if !ids.ends_with(&id.to_le_bytes()) {
                    ids.extend_from_slice(&id.to_le_bytes());
                }
            }
            let actions: Vec<rule::Action> = mine.iter().map(|d| d.2.clone()).collect();
            let mut dam = MessageContent::default();
            dam.set(
                gromox_mapi::tags::PR_MESSAGE_CLASS,
                PropVal::Unicode("IPC.Microsoft Exchange 4.0.Deferred Action".into()),
            );
            dam.set(PR_DAM_BACK_PATCHED, PropVal::Boolean(false));
            dam.set(PR_DAM_ORIGINAL_ENTRYID, PropVal::Binary(original.clone()));
            dam.set(PR_RULE_FOLDER_ENTRYID, PropVal::Binary(rule_folder.clone()));
            dam.set(
                PR_CLIENT_ACTIONS,
                PropVal::Binary(rule::encode_actions(&actions, false)),
            );
            dam.set(PR_RULE_IDS, PropVal::Binary(ids));
            dam.set(PR_RULE_PROVIDER, PropVal::Unicode(provider.to_string()));
            self.create_message(crate::layout::fid::DEFERRED_ACTION, &dam, false)?;
        }
        self.set_props(
            Obj::Message(mid),
            &[TaggedVal::new(PR_HAS_DAMS, PropVal::Boolean(true))],
        )
    }

    /// The reply template `mid` (or, when that id is stale, the associated message of
    /// `folder` whose PR_REPLY_TEMPLATE_ID is `guid`) as a MIME entity: Subject, Content-Type
    /// and the plain-text body (MS-OXORULE §3.2.5.1.2.2).
    fn reply_template(&self, folder: u64, mid: u64, guid: &[u8; 16]) -> Option<Vec<u8>> {
        let by_guid = |m: &MessageContent| {
            m.get(PR_REPLY_TEMPLATE_ID)
                .is_some_and(|v| matches!(v, PropVal::Binary(b) if b.as_slice() == guid))
        };
        let msg = match self.read_message(mid) {
            Ok(m) if by_guid(&m) || guid.iter().all(|b| *b == 0) => m,
            _ => self
                .list_messages(folder, true)
                .ok()?
                .into_iter()
                .filter_map(|m| self.read_message(m).ok())
                .find(by_guid)?,
        };
        let subject = msg
            .get(gromox_mapi::tags::PR_SUBJECT)
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .replace(['\r', '\n'], " ");
        let body = msg
            .get(gromox_mapi::tags::PR_BODY)
            .and_then(|v| v.as_str())
            .unwrap_or("");
        let mut out = String::new();
        if !subject.is_empty() {
            let subject = if subject.is_ascii() {
                subject
            } else {
                gromox_convert::mime_out::encode_words(&subject)
            };
            out.push_str(&format!("Subject: {subject}\r\n"));
        }
        out.push_str("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n");
        out.push_str(body);
        Some(out.into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gromox_mapi::entryid::{FolderEntryId, MessageEntryId};
    use gromox_mapi::restriction::Restriction;
    use gromox_mapi::tags::{PR_MESSAGE_CLASS, PR_SUBJECT};

    fn rule_with(actions: Vec<rule::Action>) -> crate::rules::Rule {
        crate::rules::Rule::new("client rule", Restriction::Exist(PR_SUBJECT), actions)
    }

    #[test]
    fn deferred_actions_become_a_dam_naming_the_message() {
        let t = tempfile::tempdir().unwrap();
        let mut st = Store::create_private(t.path(), "a@example.org", "en", false, &Default::default()).unwrap();
        let inbox = crate::layout::fid::INBOX;
        let defer = rule::Action {
            kind: rule::OP_DEFER_ACTION,
            flavor: 0,
            flags: 0,
            data: rule::ActionData::Raw(b"client data".to_vec()),
        };
        st.add_rule(inbox, &rule_with(vec![defer.clone()])).unwrap();
        let raw = b"From: a@example.net\r\nSubject: hello\r\n\r\nbody\r\n";
        let d = st.deliver_mail(&convert(raw), raw, 0).unwrap();
        assert_eq!(d.folder, inbox);
        assert_eq!(d.matched, ["client rule"]);
        assert!(d.skipped.is_empty(), "{:?}", d.skipped);
        let dams = st.list_messages(crate::layout::fid::DEFERRED_ACTION, false).unwrap();
        assert_eq!(dams.len(), 1);
        let dam = st.read_message(dams[0]).unwrap();
        assert_eq!(
            dam.get(PR_MESSAGE_CLASS).and_then(|v| v.as_str()),
            Some("IPC.Microsoft Exchange 4.0.Deferred Action")
        );
        assert_eq!(dam.get(PR_DAM_BACK_PATCHED), Some(&PropVal::Boolean(false)));
        assert_eq!(
            dam.get(PR_RULE_PROVIDER).and_then(|v| v.as_str()),
            Some("RuleOrganizer")
        );
        let bin = |tag| match dam.get(tag) {
            Some(PropVal::Binary(b)) => b.clone(),
            v => panic!("{tag:?}: {v:?}"),
        };
        let orig = MessageEntryId::parse(&bin(PR_DAM_ORIGINAL_ENTRYID)).unwrap();
        assert_eq!((orig.folder_gc, orig.message_gc), (inbox, d.message));
        assert_eq!(orig.message_database_guid, st.guid());
        assert_eq!(FolderEntryId::parse(&bin(PR_RULE_FOLDER_ENTRYID)).unwrap().gc, inbox);
        assert_eq!(
            rule::decode_actions(&bin(PR_CLIENT_ACTIONS), false).unwrap(),
            vec![defer]
        );
        let rule_id = st.rules(inbox).unwrap()[0].id;
        assert_eq!(bin(PR_RULE_IDS), rule_id.to_le_bytes());
        let msg = st.read_message(d.message).unwrap();
        assert_eq!(msg.get(PR_HAS_DAMS), Some(&PropVal::Boolean(true)));
    }

    #[test]
    fn reply_templates_are_found_by_guid_when_the_id_is_stale() {
        let t = tempfile::tempdir().unwrap();
        let mut st = Store::create_private(t.path(), "a@example.org", "en", false, &Default::default()).unwrap();
        let inbox = crate::layout::fid::INBOX;
        let guid = [9u8; 16];
        let mut tpl = MessageContent::default();
        tpl.set(PR_SUBJECT, PropVal::Unicode("Thanks".into()));
        tpl.set(gromox_mapi::tags::PR_BODY, PropVal::Unicode("Got it.".into()));
        tpl.set(PR_REPLY_TEMPLATE_ID, PropVal::Binary(guid.to_vec()));
        st.create_message(inbox, &tpl, true).unwrap();
        let mut data = vec![0u8; 16]; // FID and a MID that names no message
        data.extend_from_slice(&guid);
        st.add_rule(
            inbox,
            &rule_with(vec![rule::Action {
                kind: rule::OP_REPLY,
                flavor: 0,
                flags: 0,
                data: rule::ActionData::Raw(data),
            }]),
        )
        .unwrap();
        let raw = b"Subject: question\r\n\r\n?\r\n";
        let d = st.deliver_mail(&convert(raw), raw, 0).unwrap();
        let replies: Vec<String> = d
            .replies
            .iter()
            .map(|r| String::from_utf8_lossy(r).into_owned())
            .collect();
        assert_eq!(
            replies,
            vec!["Subject: Thanks\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGot it.".to_string()]
        );
        assert_ne!(d.message, 0);
    }
}
