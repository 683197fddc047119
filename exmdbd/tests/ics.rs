//! Incremental change synchronisation (MS-OXCFXICS) through the store API: contents and
//! hierarchy downloads from client states, convergence after purges, imports with conflict
//! detection, and a 250,000-message folder.

use exmdbd::ics::{
    ContentSync, ContentSyncOptions, FolderImport, ImportOutcome, MessageImport, MessageMoveImport, SyncState,
};
use exmdbd::layout::fid;
use exmdbd::{MessageContent, Obj, Store, StoreOptions};
use gromox_mapi::ids::{Pcl, Xid};
use gromox_mapi::idset::GlobSet;
use gromox_mapi::tags::*;
use gromox_mapi::{Guid, PropVal, TaggedVal};
use std::collections::{BTreeMap, BTreeSet};

const INBOX: u64 = fid::INBOX;

fn store(dir: &std::path::Path) -> Store {
    Store::create_private(dir, "ics@example.org", "en", false, &StoreOptions::default()).unwrap()
}

fn mail(subject: &str) -> MessageContent {
    let mut c = MessageContent::default();
    c.set(PR_MESSAGE_CLASS, PropVal::Unicode("IPM.Note".into()));
    c.set(PR_SUBJECT, PropVal::Unicode(subject.into()));
    c
}

fn subject_of(st: &Store, mid: u64) -> String {
    st.read_message(mid)
        .unwrap()
        .get(PR_SUBJECT)
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_owned()
}

/// What a client's replica of one folder holds: per message its change key and read flag.
#[derive(Default)]
struct Client {
    state: SyncState,
    have: BTreeMap<u64, (Vec<u8>, bool)>,
}

impl Client {
    /// Downloads and applies a contents sync; returns it for inspection.
    fn sync(&mut self, st: &Store, folder: u64, opts: &ContentSyncOptions) -> ContentSync {
        let s = st.sync_contents(folder, &self.state, opts).unwrap();
        let mut n = 0;
        // Headers in small batches, as a stream producer would read them.
        while n < s.changed.len() {
            for h in st.sync_message_headers(&s, n, 2).unwrap() {
                self.have.insert(h.header.mid, (h.header.change_key, h.header.read));
            }
            n += 2;
        }
        for d in s.deleted.iter() {
            self.have.remove(&d);
        }
        for r in s.read.iter() {
            self.have.get_mut(&r).unwrap().1 = true;
        }
        for r in s.unread.iter() {
            self.have.get_mut(&r).unwrap().1 = false;
        }
        self.state = s.state.clone();
        s
    }
    fn ids(&self) -> BTreeSet<u64> {
        self.have.keys().copied().collect()
    }
}

fn server_ids(st: &Store, folder: u64, fai: bool) -> BTreeSet<u64> {
    let mut v: BTreeSet<u64> = st.list_messages(folder, false).unwrap().into_iter().collect();
    if fai {
        v.extend(st.list_messages(folder, true).unwrap());
    }
    v
}

fn ids(g: &GlobSet) -> Vec<u64> {
    g.iter().collect()
}

fn normal_only() -> ContentSyncOptions {
    ContentSyncOptions {
        fai: false,
        ..Default::default()
    }
}

#[test]
fn empty_state_returns_everything() {
    let t = tempfile::tempdir().unwrap();
    let mut st = store(t.path());
    let m: Vec<u64> = (0..3)
        .map(|i| st.create_message(INBOX, &mail(&format!("m{i}")), false).unwrap())
        .collect();
    let fai = st.create_message(INBOX, &mail("view settings"), true).unwrap();
    st.set_read(m[1], true).unwrap();

    let s = st.sync_contents(INBOX, &SyncState::new(), &normal_only()).unwrap();
    assert_eq!(s.changed, m, "normal messages only, oldest change first");
    assert!(s.deleted.is_empty() && s.read.is_empty() && s.unread.is_empty());
    let all = st.sync_contents(INBOX, &SyncState::new(), &Default::default()).unwrap();
    assert_eq!(all.changed.len(), 4);
    assert!(all.changed.contains(&fai));
    let h = st.sync_message_headers(&all, 0, 10).unwrap();
    assert_eq!(h.len(), 4);
    let g = st.guid();
    for x in &h {
        assert!(x.new);
        assert_eq!(x.header.source_key, Xid::from_gc(g, x.header.mid).to_bytes());
        assert_eq!(x.header.change_key, Xid::from_gc(g, x.header.change_number).to_bytes());
        assert!(Pcl::parse(&x.header.pcl)
            .unwrap()
            .includes(&Pcl(vec![Xid::parse(&x.header.change_key).unwrap()])));
        assert_eq!(x.header.associated, x.header.mid == fai);
        assert_eq!(x.header.read, x.header.mid == m[1]);
    }
    // The state after it: the ids given, everything seen; a sync from it returns nothing.
    assert_eq!(all.state.given.get(&g).count(), 4);
    let again = st.sync_contents(INBOX, &all.state, &Default::default()).unwrap();
    assert!(again.is_empty(), "{again:?}");
    // The state survives its property form (what the client keeps).
    let props = all.state.to_properties();
    let back = SyncState::from_properties(props.iter().map(|(t, v)| (*t, v.as_slice()))).unwrap();
    assert_eq!(back, all.state);

    // Hierarchy from an empty state: every live folder below IPM_SUBTREE, parents first.
    let hs = st.sync_hierarchy(fid::IPMSUBTREE, &SyncState::new()).unwrap();
    let folders = st.list_folders().unwrap();
    let mut below = BTreeSet::new();
    let mut grew = true;
    while grew {
        grew = false;
        for f in &folders {
            if !f.deleted && f.parent.is_some_and(|p| p == fid::IPMSUBTREE || below.contains(&p)) && below.insert(f.id)
            {
                grew = true;
            }
        }
    }
    let got: BTreeSet<u64> = hs.changed.iter().map(|f| f.folder).collect();
    assert_eq!(got, below);
    let inbox = hs.changed.iter().find(|f| f.folder == INBOX).unwrap();
    assert!(
        inbox.parent_source_key.is_empty(),
        "directly below the synchronised folder"
    );
    assert!(inbox
        .props
        .iter()
        .any(|p| p.tag == PR_DISPLAY_NAME && p.val.as_str() == Some("Inbox")));
    let mut pos = BTreeMap::new();
    for (i, f) in hs.changed.iter().enumerate() {
        pos.insert(f.folder, i);
        if f.parent != fid::IPMSUBTREE {
            assert!(pos[&f.parent] < i, "parent before child");
            assert_eq!(f.parent_source_key, st.folder_source_key(f.parent).unwrap());
        }
    }
    assert!(st
        .sync_hierarchy(fid::IPMSUBTREE, &hs.state)
        .unwrap()
        .changed
        .is_empty());
}

#[test]
fn contents_changes_are_returned_exactly_once() {
    let t = tempfile::tempdir().unwrap();
    let mut st = store(t.path());
    let m: Vec<u64> = (0..7)
        .map(|i| st.create_message(INBOX, &mail(&format!("m{i}")), false).unwrap())
        .collect();
    let mut c = Client::default();
    let first = c.sync(&st, INBOX, &Default::default());
    assert_eq!(first.changed.len(), 7);
    assert_eq!(c.ids(), server_ids(&st, INBOX, true));

    // New message, changed property, read flag, soft delete, hard delete, move away.
    let new = st.create_message(INBOX, &mail("new"), false).unwrap();
    let mut inst = st.open_instance(m[0]).unwrap();
    inst.content.set(PR_SUBJECT, PropVal::Unicode("m0 edited".into()));
    st.flush_instance(&mut inst).unwrap();
    st.set_read(m[1], true).unwrap();
    st.delete_messages(&[m[2]], false).unwrap();
    st.delete_messages(&[m[3]], true).unwrap();
    let moved = st.move_message(m[4], fid::DRAFT).unwrap();
    // An IMAP flag change through the store is a content change too.
    st.touch_message(m[5]).unwrap();

    let s = c.sync(&st, INBOX, &Default::default());
    let changed: BTreeSet<u64> = s.changed.iter().copied().collect();
    assert_eq!(changed, BTreeSet::from([new, m[0], m[5]]));
    assert_eq!(ids(&s.deleted), vec![m[2], m[3], m[4]]);
    assert_eq!(ids(&s.read), vec![m[1]]);
    assert!(s.unread.is_empty());
    let h = st.sync_message_headers(&s, 0, 10).unwrap();
    assert!(h.iter().find(|x| x.header.mid == new).unwrap().new);
    assert!(!h.iter().find(|x| x.header.mid == m[0]).unwrap().new);
    assert_eq!(c.ids(), server_ids(&st, INBOX, true));
    assert!(c.have[&m[1]].1, "read flag applied");

    let again = c.sync(&st, INBOX, &Default::default());
    assert!(again.is_empty(), "{again:?}");

    // Unread again, and restored from soft deletion: both come back.
    st.set_read(m[1], false).unwrap();
    st.restore_messages(&[m[2]]).unwrap();
    let s = c.sync(&st, INBOX, &Default::default());
    assert_eq!(ids(&s.unread), vec![m[1]]);
    assert_eq!(s.changed, vec![m[2]]);
    assert_eq!(c.ids(), server_ids(&st, INBOX, true));

    // The target folder sees the moved message as new.
    let mut d = Client::default();
    let s = d.sync(&st, fid::DRAFT, &Default::default());
    assert_eq!(s.changed, vec![moved]);
    assert_eq!(subject_of(&st, moved), "m4");
}

#[test]
fn options_select_normal_fai_and_read_state() {
    let t = tempfile::tempdir().unwrap();
    let mut st = store(t.path());
    let n = st.create_message(INBOX, &mail("normal"), false).unwrap();
    let f = st.create_message(INBOX, &mail("fai"), true).unwrap();
    let fai_only = ContentSyncOptions {
        normal: false,
        read_state: false,
        ..Default::default()
    };
    let mut a = Client::default();
    assert_eq!(a.sync(&st, INBOX, &fai_only).changed, vec![f]);
    let mut b = Client::default();
    assert_eq!(b.sync(&st, INBOX, &normal_only()).changed, vec![n]);
    st.set_read(n, true).unwrap();
    let no_read = ContentSyncOptions {
        read_state: false,
        ..normal_only()
    };
    let s = b.sync(&st, INBOX, &no_read);
    assert!(s.is_empty(), "read state not asked for");
    // Deleting the FAI message: the FAI client learns it, the normal one has nothing to learn.
    st.delete_messages(&[f], true).unwrap();
    assert_eq!(ids(&a.sync(&st, INBOX, &fai_only).deleted), vec![f]);
    assert!(b.sync(&st, INBOX, &normal_only()).deleted.is_empty());
}

#[test]
fn hierarchy_changes_are_returned_exactly_once() {
    let t = tempfile::tempdir().unwrap();
    let mut st = store(t.path());
    let b = st.create_folder(INBOX, "B", None).unwrap();
    let c = st.create_folder(INBOX, "C", None).unwrap();
    let d = st.create_folder(INBOX, "D", None).unwrap();
    let e = st.create_folder(INBOX, "E", None).unwrap();
    let e1 = st.create_folder(e, "E1", None).unwrap();
    let first = st.sync_hierarchy(fid::IPMSUBTREE, &SyncState::new()).unwrap();
    let state = first.state;

    let a = st.create_folder(INBOX, "A", Some("IPF.Note")).unwrap();
    st.set_props(
        Obj::Folder(b),
        &[TaggedVal::new(PR_DISPLAY_NAME, PropVal::Unicode("B renamed".into()))],
    )
    .unwrap();
    st.delete_folder(c, false).unwrap();
    st.delete_folder(d, true).unwrap();
    st.move_folder(e, a).unwrap();

    let s = st.sync_hierarchy(fid::IPMSUBTREE, &state).unwrap();
    let got: Vec<u64> = s.changed.iter().map(|f| f.folder).collect();
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(BTreeSet::from_iter(got.iter().copied()), BTreeSet::from([a, b, e]));
    assert!(got.iter().position(|&x| x == a) < got.iter().position(|&x| x == e));
    let fb = s.changed.iter().find(|f| f.folder == b).unwrap();
    assert!(fb
        .props
        .iter()
        .any(|p| p.tag == PR_DISPLAY_NAME && p.val.as_str() == Some("B renamed")));
    assert_eq!(
        s.changed.iter().find(|f| f.folder == e).unwrap().parent_source_key,
        st.folder_source_key(a).unwrap()
    );
    assert_eq!(ids(&s.deleted), vec![c, d]);
    assert!(!s.deleted.contains(e1), "moved with its parent, still in the subtree");
    let again = st.sync_hierarchy(fid::IPMSUBTREE, &s.state).unwrap();
    assert!(again.changed.is_empty() && again.deleted.is_empty());

    // A sync of the subtree under A only: A's children.
    let sub = st.sync_hierarchy(a, &SyncState::new()).unwrap();
    assert_eq!(sub.changed.iter().map(|f| f.folder).collect::<Vec<_>>(), vec![e, e1]);
    // Moving E out of A is a deletion there (E1 with it).
    st.move_folder(e, INBOX).unwrap();
    let s = st.sync_hierarchy(a, &sub.state).unwrap();
    assert!(s.changed.is_empty());
    assert_eq!(ids(&s.deleted), vec![e, e1]);
}

#[test]
fn old_state_converges_after_a_purge() {
    let t = tempfile::tempdir().unwrap();
    let mut st = store(t.path());
    let m: Vec<u64> = (0..6)
        .map(|i| st.create_message(INBOX, &mail(&format!("m{i}")), false).unwrap())
        .collect();
    let mut old = Client::default();
    old.sync(&st, INBOX, &Default::default());
    let mut mid_way = Client::default();
    mid_way.sync(&st, INBOX, &Default::default());

    st.delete_messages(&[m[0], m[1]], false).unwrap();
    mid_way.sync(&st, INBOX, &Default::default());
    st.delete_messages(&[m[2]], false).unwrap();
    let new = st.create_message(INBOX, &mail("after"), false).unwrap();
    let stats = st.purge().unwrap();
    assert_eq!(stats.messages, 3);

    let s = old.sync(&st, INBOX, &Default::default());
    assert_eq!(ids(&s.deleted), vec![m[0], m[1], m[2]]);
    assert_eq!(s.changed, vec![new]);
    assert_eq!(old.ids(), server_ids(&st, INBOX, true));
    let s = mid_way.sync(&st, INBOX, &Default::default());
    assert_eq!(ids(&s.deleted), vec![m[2]]);
    assert_eq!(mid_way.ids(), server_ids(&st, INBOX, true));
    assert!(old.sync(&st, INBOX, &Default::default()).is_empty());

    // Folders too: soft-deleted, purged, still reported from an old hierarchy state.
    let f = st.create_folder(INBOX, "gone", None).unwrap();
    let h = st.sync_hierarchy(INBOX, &SyncState::new()).unwrap();
    st.delete_folder(f, false).unwrap();
    st.purge().unwrap();
    let s = st.sync_hierarchy(INBOX, &h.state).unwrap();
    assert_eq!(ids(&s.deleted), vec![f]);
}

fn ck_of(st: &Store, mid: u64) -> (Vec<u8>, Vec<u8>) {
    let p = st.get_props(Obj::Message(mid)).unwrap();
    let get = |t| {
        p.iter()
            .find(|x| x.tag == t)
            .and_then(|x| x.val.as_bytes())
            .unwrap()
            .to_vec()
    };
    (get(PR_CHANGE_KEY), get(PR_PREDECESSOR_CHANGE_LIST))
}

#[test]
fn imports_detect_conflicts_and_sync_to_other_clients() {
    let t = tempfile::tempdir().unwrap();
    let mut st = store(t.path());
    let m: Vec<u64> = (0..6)
        .map(|i| st.create_message(INBOX, &mail(&format!("m{i}")), false).unwrap())
        .collect();
    let g = st.guid();
    let client_guid = Guid([0xC1; 16]);
    let mut a = Client::default();
    let mut b = Client::default();
    a.sync(&st, INBOX, &Default::default());
    b.sync(&st, INBOX, &Default::default());
    let sk = |mid: u64| Xid::from_gc(g, mid).to_bytes();

    // A changes m0 knowing the server's version: its PCL includes the server's change key.
    let (_, server_pcl) = ck_of(&st, m[0]);
    let mut pcl = Pcl::parse(&server_pcl).unwrap();
    let a_ck = Xid::from_gc(client_guid, 1);
    pcl.merge(a_ck.clone());
    let edited = mail("m0 by A");
    let imp = MessageImport {
        source_key: &sk(m[0]),
        change_key: Some(&a_ck.to_bytes()),
        pcl: Some(&pcl.to_bytes()),
        associated: false,
        content: &edited,
    };
    assert_eq!(
        st.import_message_change(INBOX, &imp, Some(&mut a.state)).unwrap(),
        ImportOutcome::Updated(m[0])
    );
    assert_eq!(subject_of(&st, m[0]), "m0 by A");
    assert_eq!(ck_of(&st, m[0]).0, a_ck.to_bytes(), "the client's change key is kept");
    // The same change again is old news.
    assert_eq!(
        st.import_message_change(INBOX, &imp, None).unwrap(),
        ImportOutcome::Ignored(m[0])
    );
    assert!(
        a.sync(&st, INBOX, &Default::default()).is_empty(),
        "A does not get its own change"
    );
    let s = b.sync(&st, INBOX, &Default::default());
    assert_eq!(s.changed, vec![m[0]]);
    assert_eq!(b.have[&m[0]].0, a_ck.to_bytes());

    // A changes m1 from its old version while the server changed it too: a conflict.
    let (_, old_pcl) = ck_of(&st, m[1]);
    let mut inst = st.open_instance(m[1]).unwrap();
    inst.content
        .set(PR_SUBJECT, PropVal::Unicode("m1 on the server".into()));
    st.flush_instance(&mut inst).unwrap();
    let mut pcl = Pcl::parse(&old_pcl).unwrap();
    let a_ck2 = Xid::from_gc(client_guid, 2);
    pcl.merge(a_ck2.clone());
    let conflicting = mail("m1 by A");
    let imp = MessageImport {
        source_key: &sk(m[1]),
        change_key: Some(&a_ck2.to_bytes()),
        pcl: Some(&pcl.to_bytes()),
        associated: false,
        content: &conflicting,
    };
    assert_eq!(
        st.import_message_change(INBOX, &imp, Some(&mut a.state)).unwrap(),
        ImportOutcome::Conflict(m[1])
    );
    assert_eq!(subject_of(&st, m[1]), "m1 on the server");
    assert_eq!(
        a.sync(&st, INBOX, &Default::default()).changed,
        vec![m[1]],
        "A gets the server's version"
    );

    // A creates a message with an id it reserved, and one with a source key of its own.
    let (lo, hi) = st.reserve_ids(10).unwrap();
    assert!(hi - lo == 9 && lo > m[5]);
    let n1 = mail("new by A");
    let imp = MessageImport {
        source_key: &Xid::from_gc(g, lo).to_bytes(),
        change_key: Some(&Xid::from_gc(client_guid, 3).to_bytes()),
        pcl: None,
        associated: false,
        content: &n1,
    };
    assert_eq!(
        st.import_message_change(INBOX, &imp, Some(&mut a.state)).unwrap(),
        ImportOutcome::Created(lo)
    );
    let foreign = Xid::from_gc(client_guid, 0x77).to_bytes();
    let n2 = mail("foreign key");
    let imp = MessageImport {
        source_key: &foreign,
        change_key: Some(&Xid::from_gc(client_guid, 4).to_bytes()),
        pcl: None,
        associated: false,
        content: &n2,
    };
    let ImportOutcome::Created(fm) = st.import_message_change(INBOX, &imp, Some(&mut a.state)).unwrap() else {
        panic!()
    };
    assert_ne!(fm, 0x77);
    assert_eq!(st.message_source_key(fm).unwrap(), foreign);
    // An id outside any reserved range is not taken as it is.
    let n3 = mail("unreserved");
    let imp3 = MessageImport {
        source_key: &Xid::from_gc(g, hi + 1000).to_bytes(),
        change_key: None,
        pcl: None,
        associated: false,
        content: &n3,
    };
    let ImportOutcome::Created(um) = st.import_message_change(INBOX, &imp3, Some(&mut a.state)).unwrap() else {
        panic!()
    };
    assert_ne!(um, hi + 1000);
    // A changes its foreign-keyed message again: found by its key, replaced.
    let mut pcl = Pcl::default();
    pcl.merge(Xid::from_gc(client_guid, 4));
    pcl.merge(Xid::from_gc(client_guid, 5));
    let n2b = mail("foreign key, edited");
    let imp = MessageImport {
        source_key: &foreign,
        change_key: Some(&Xid::from_gc(client_guid, 5).to_bytes()),
        pcl: Some(&pcl.to_bytes()),
        associated: false,
        content: &n2b,
    };
    assert_eq!(
        st.import_message_change(INBOX, &imp, Some(&mut a.state)).unwrap(),
        ImportOutcome::Updated(fm)
    );

    // Deletions and read states.
    assert_eq!(
        st.import_deletions(INBOX, &[&sk(m[2]), &sk(0xdead)], false, Some(&mut a.state))
            .unwrap(),
        1
    );
    assert_eq!(
        st.import_read_states(INBOX, &[(&sk(m[3]), true)], None, Some(&mut a.state))
            .unwrap(),
        1
    );
    assert!(st.is_read(m[3]).unwrap());
    // A also applies its own imports to its replica (as a client does).
    for x in [lo, fm, um] {
        a.have.insert(x, (Vec::new(), false));
    }
    a.have.remove(&m[2]);
    let s = a.sync(&st, INBOX, &Default::default());
    assert!(s.is_empty(), "A's own imports are not downloaded again: {s:?}");
    assert_eq!(a.ids(), server_ids(&st, INBOX, true));

    let s = b.sync(&st, INBOX, &Default::default());
    let changed: BTreeSet<u64> = s.changed.iter().copied().collect();
    assert_eq!(changed, BTreeSet::from([m[1], lo, fm, um]));
    assert_eq!(ids(&s.deleted), vec![m[2]]);
    assert_eq!(ids(&s.read), vec![m[3]]);
    let h = st.sync_message_headers(&s, 0, 10).unwrap();
    assert_eq!(
        h.iter().find(|x| x.header.mid == fm).unwrap().header.source_key,
        foreign
    );
    assert_eq!(b.ids(), server_ids(&st, INBOX, true));

    // A moves m4 from the Inbox to Drafts (its Drafts state records the move).
    let mut a_drafts = Client::default();
    a_drafts.sync(&st, fid::DRAFT, &Default::default());
    let mut b_drafts = Client::default();
    b_drafts.sync(&st, fid::DRAFT, &Default::default());
    let (_, pcl4) = ck_of(&st, m[4]);
    let mv = MessageMoveImport {
        source_folder: &st.folder_source_key(INBOX).unwrap(),
        source_message: &sk(m[4]),
        pcl: &pcl4,
        destination_message: &Xid::from_gc(g, lo + 1).to_bytes(),
        change_key: Some(&Xid::from_gc(client_guid, 6).to_bytes()),
    };
    assert_eq!(
        st.import_message_move(fid::DRAFT, &mv, Some(&mut a_drafts.state))
            .unwrap(),
        ImportOutcome::Moved {
            mid: lo + 1,
            server_newer: false
        }
    );
    a_drafts.have.insert(lo + 1, (Vec::new(), false));
    assert!(a_drafts.sync(&st, fid::DRAFT, &Default::default()).is_empty());
    assert_eq!(
        b_drafts.sync(&st, fid::DRAFT, &Default::default()).changed,
        vec![lo + 1]
    );
    assert_eq!(ids(&b.sync(&st, INBOX, &Default::default()).deleted), vec![m[4]]);
    assert_eq!(subject_of(&st, lo + 1), "m4");

    // Bad input is an error, not a panic.
    let bad = MessageImport {
        source_key: &[1, 2, 3],
        change_key: None,
        pcl: None,
        associated: false,
        content: &n1,
    };
    assert!(st.import_message_change(INBOX, &bad, None).is_err());
    let bad_pcl = MessageImport {
        source_key: &sk(m[5]),
        change_key: None,
        pcl: Some(&[0x16, 1]),
        associated: false,
        content: &n1,
    };
    assert!(st.import_message_change(INBOX, &bad_pcl, None).is_err());
}

#[test]
fn hierarchy_imports() {
    let t = tempfile::tempdir().unwrap();
    let mut st = store(t.path());
    let g = st.guid();
    let client_guid = Guid([0xC2; 16]);
    let a0 = st.sync_hierarchy(fid::IPMSUBTREE, &SyncState::new()).unwrap();
    let mut a = a0.state.clone();
    let mut b = a0.state;
    let (lo, _) = st.reserve_ids(4).unwrap();
    let fsk = Xid::from_gc(g, lo).to_bytes();
    let inbox_sk = st.folder_source_key(INBOX).unwrap();
    let class = [TaggedVal::new(PR_CONTAINER_CLASS, PropVal::Unicode("IPF.Note".into()))];
    let imp = FolderImport {
        parent_source_key: &inbox_sk,
        source_key: &fsk,
        change_key: Some(&Xid::from_gc(client_guid, 1).to_bytes()),
        pcl: None,
        name: "Projects",
        props: &class,
    };
    assert_eq!(
        st.import_folder_change(fid::IPMSUBTREE, &imp, Some(&mut a)).unwrap(),
        ImportOutcome::Created(lo)
    );
    assert_eq!(st.find_folder(INBOX, "Projects").unwrap(), Some(lo));
    let sa = st.sync_hierarchy(fid::IPMSUBTREE, &a).unwrap();
    assert!(sa.changed.is_empty() && sa.deleted.is_empty(), "A made it");
    let sb = st.sync_hierarchy(fid::IPMSUBTREE, &b).unwrap();
    assert_eq!(sb.changed.len(), 1);
    assert_eq!(sb.changed[0].source_key, fsk);
    assert_eq!(sb.changed[0].parent_source_key, inbox_sk);
    b = sb.state;

    // Rename and move to the top of the subtree (empty parent key), knowing the last version.
    let mut pcl = Pcl::default();
    pcl.merge(Xid::from_gc(client_guid, 1));
    pcl.merge(Xid::from_gc(client_guid, 2));
    let imp = FolderImport {
        parent_source_key: &[],
        source_key: &fsk,
        change_key: Some(&Xid::from_gc(client_guid, 2).to_bytes()),
        pcl: Some(&pcl.to_bytes()),
        name: "Projects 2026",
        props: &[],
    };
    assert_eq!(
        st.import_folder_change(fid::IPMSUBTREE, &imp, Some(&mut a)).unwrap(),
        ImportOutcome::Updated(lo)
    );
    assert_eq!(st.find_folder(fid::IPMSUBTREE, "Projects 2026").unwrap(), Some(lo));
    assert!(st.sync_hierarchy(fid::IPMSUBTREE, &a).unwrap().changed.is_empty());
    let sb = st.sync_hierarchy(fid::IPMSUBTREE, &b).unwrap();
    assert_eq!(sb.changed.len(), 1);
    assert!(sb.changed[0].parent_source_key.is_empty());
    b = sb.state;

    // A stale rename (its PCL lacks the server's last change) conflicts.
    st.set_props(
        Obj::Folder(lo),
        &[TaggedVal::new(PR_COMMENT, PropVal::Unicode("server side".into()))],
    )
    .unwrap();
    let stale = FolderImport {
        name: "Stale",
        change_key: Some(&Xid::from_gc(client_guid, 3).to_bytes()),
        ..imp
    };
    assert_eq!(
        st.import_folder_change(fid::IPMSUBTREE, &stale, None).unwrap(),
        ImportOutcome::Conflict(lo)
    );
    // A name taken by a sibling is refused.
    let dup = FolderImport {
        parent_source_key: &[],
        source_key: &Xid::from_gc(client_guid, 0x99).to_bytes(),
        change_key: None,
        pcl: None,
        name: "Inbox",
        props: &[],
    };
    assert!(st.import_folder_change(fid::IPMSUBTREE, &dup, None).is_err());

    // Deletion.
    let sa = st.sync_hierarchy(fid::IPMSUBTREE, &a).unwrap();
    a = sa.state;
    assert_eq!(st.import_folder_deletions(&[&fsk], false, Some(&mut a)).unwrap(), 1);
    let sa = st.sync_hierarchy(fid::IPMSUBTREE, &a).unwrap();
    assert!(sa.changed.is_empty() && sa.deleted.is_empty());
    let sb = st.sync_hierarchy(fid::IPMSUBTREE, &b).unwrap();
    assert_eq!(ids(&sb.deleted), vec![lo]);
}

/// A 250,000-message folder: the sync holds ids and ranges, not messages; the states stay
/// a few bytes because ids and change numbers are contiguous.
#[test]
fn large_folder_sync_is_bounded() {
    const N: u64 = 250_000;
    let t = tempfile::tempdir().unwrap();
    let st = store(t.path());
    // Rows written directly (a delivery each would take minutes in a debug build); the ids
    // come from a range of their own.
    let c = st.conn();
    let base: i64 = 0x100_0000;
    c.execute_batch("BEGIN").unwrap();
    let cn0: i64 = c
        .query_row("SELECT config_value FROM configurations WHERE config_id=4", [], |r| {
            r.get(0)
        })
        .unwrap();
    {
        let mut ins = c
            .prepare(
                "INSERT INTO messages (message_id, parent_fid, is_deleted, is_associated, change_number, read_state, \
                 message_size) VALUES (?1, ?2, 0, 0, ?3, 0, 100)",
            )
            .unwrap();
        for i in 0..N as i64 {
            ins.execute(rusqlite::params![base + i, INBOX as i64, cn0 + 1 + i])
                .unwrap();
        }
    }
    c.execute(
        "UPDATE configurations SET config_value=?1 WHERE config_id=4",
        [cn0 + N as i64],
    )
    .unwrap();
    c.execute(
        "INSERT INTO allocated_eids (range_begin, range_end, allocate_time, is_system) VALUES (?1, ?2, 0, NULL)",
        [base, base + N as i64],
    )
    .unwrap();
    c.execute_batch("COMMIT").unwrap();

    let s = st.sync_contents(INBOX, &SyncState::new(), &Default::default()).unwrap();
    assert_eq!(s.changed.len() as u64, N);
    let props = s.state.to_properties();
    let size: usize = props.iter().map(|(_, v)| v.len()).sum();
    assert!(size < 200, "state of {size} bytes");
    let h = st.sync_message_headers(&s, 1000, 100).unwrap();
    assert_eq!(h.len(), 100);
    assert_eq!(h[0].header.mid, base as u64 + 1000);
    let again = st.sync_contents(INBOX, &s.state, &Default::default()).unwrap();
    assert!(again.is_empty());
    // Every other message deleted: 125,000 single ids, still one range set of ids.
    c.execute(
        "UPDATE messages SET is_deleted=1 WHERE parent_fid=?1 AND message_id % 2 = 0",
        [INBOX as i64],
    )
    .unwrap();
    let d = st.sync_contents(INBOX, &s.state, &Default::default()).unwrap();
    assert_eq!(d.deleted.count(), N / 2);
    assert!(d.changed.is_empty());
}

/// Public stores keep read state per user: a sync reports the synchronising user's changes only.
#[test]
fn public_store_read_state_is_per_user() {
    let t = tempfile::tempdir().unwrap();
    let mut st = Store::create_public(t.path(), "example.org", false, &StoreOptions::default()).unwrap();
    let f = st.create_folder(fid::PUB_IPMSUBTREE, "Shared", None).unwrap();
    let m = st.create_message(f, &mail("shared"), false).unwrap();
    let opts = |u: &str| ContentSyncOptions {
        user: Some(u.into()),
        ..Default::default()
    };
    let mut anna = Client::default();
    let mut bert = Client::default();
    assert_eq!(anna.sync(&st, f, &opts("anna")).changed, vec![m]);
    assert_eq!(bert.sync(&st, f, &opts("bert")).changed, vec![m]);
    st.set_read_for_user(m, "anna", true).unwrap();
    assert_eq!(ids(&anna.sync(&st, f, &opts("anna")).read), vec![m]);
    // A new message's header carries the user's read flag.
    let m2 = st.create_message(f, &mail("second"), false).unwrap();
    st.set_read_for_user(m2, "anna", true).unwrap();
    let mut carl = Client::default();
    carl.sync(&st, f, &opts("anna"));
    assert!(carl.have[&m2].1 && carl.have[&m].1);
    let mut dora = Client::default();
    dora.sync(&st, f, &opts("dora"));
    assert!(!dora.have[&m2].1);
    assert_eq!(anna.sync(&st, f, &opts("anna")).changed, vec![m2]);
    assert_eq!(bert.sync(&st, f, &opts("bert")).changed, vec![m2]);
    assert!(bert.sync(&st, f, &opts("bert")).is_empty());
    // Imported by bert: recorded in his state, seen by nobody else.
    let sk = Xid::from_gc(st.guid(), m).to_bytes();
    assert!(
        st.import_read_states(f, &[(&sk, true)], None, None).is_err(),
        "needs a user"
    );
    st.import_read_states(f, &[(&sk, true)], Some("bert"), Some(&mut bert.state))
        .unwrap();
    assert!(st.is_read_for_user(m, "bert").unwrap());
    assert!(bert.sync(&st, f, &opts("bert")).is_empty());
    assert!(anna.sync(&st, f, &opts("anna")).is_empty());
}

/// A mailbox written by Gromox 3.10 synchronises: its change keys and PCLs are read as they are.
#[test]
fn gromox_reference_store_synchronises() {
    let t = tempfile::tempdir().unwrap();
    let fx = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gromox-sample-store.tar.gz");
    let ok = std::process::Command::new("tar")
        .arg("xzf")
        .arg(&fx)
        .arg("-C")
        .arg(t.path())
        .status()
        .unwrap();
    assert!(ok.success());
    let dir = t.path().join("after-3-deliveries/alice@gx.test");
    let mut st = Store::open(&dir, &StoreOptions::default()).unwrap();
    let mut c = Client::default();
    let s = c.sync(&st, INBOX, &Default::default());
    assert_eq!(s.changed.len(), 3);
    for h in st.sync_message_headers(&s, 0, 10).unwrap() {
        let ck = Xid::parse(&h.header.change_key).unwrap();
        assert!(Pcl::parse(&h.header.pcl).unwrap().includes(&Pcl(vec![ck])));
    }
    let h = st.sync_hierarchy(fid::IPMSUBTREE, &SyncState::new()).unwrap();
    assert!(h.changed.iter().any(|f| f.folder == INBOX));
    // A change made here shows up for the client like any other.
    let m = s.changed[0];
    st.set_read(m, true).unwrap();
    let s = c.sync(&st, INBOX, &Default::default());
    assert_eq!(ids(&s.read), vec![m]);
}
