//! Golden tests at the protocol boundary: request bytes in, response bytes out.

mod common;

use common::*;
use imapd::session::Config;

const CAPS_PRE: &str = "CAPABILITY IMAP4rev1 IMAP4rev2 AUTH=PLAIN SASL-IR SPECIAL-USE XLIST UNSELECT UIDPLUS IDLE LITERAL+ ENABLE MOVE ESEARCH SEARCHRES LIST-EXTENDED LIST-STATUS STATUS=SIZE NAMESPACE ID CHILDREN BINARY CONDSTORE MULTIAPPEND UTF8=ACCEPT QUOTA QUOTA=RES-STORAGE SORT THREAD=ORDEREDSUBJECT THREAD=REFERENCES QRESYNC";
const CAPS_AUTH: &str = "CAPABILITY IMAP4rev1 IMAP4rev2 SPECIAL-USE XLIST UNSELECT UIDPLUS IDLE LITERAL+ ENABLE MOVE ESEARCH SEARCHRES LIST-EXTENDED LIST-STATUS STATUS=SIZE NAMESPACE ID CHILDREN BINARY CONDSTORE MULTIAPPEND UTF8=ACCEPT QUOTA QUOTA=RES-STORAGE SORT THREAD=ORDEREDSUBJECT THREAD=REFERENCES QRESYNC COMPRESS=DEFLATE";

#[test]
fn greeting_capability_noop_logout() {
    let mut h = Harness::new();
    assert_eq!(h.greet(), format!("* OK [{CAPS_PRE}] gromox-rs IMAP service ready\r\n"));
    assert_eq!(
        h.send_str("a1 CAPABILITY\r\n"),
        format!("* {CAPS_PRE}\r\na1 OK CAPABILITY completed\r\n")
    );
    assert_eq!(h.send_str("a2 noop\r\n"), "a2 OK NOOP completed\r\n");
    assert_eq!(
        h.send_str("a3 LOGOUT\r\n"),
        "* BYE Logging out\r\na3 OK LOGOUT completed\r\n"
    );
    assert_eq!(h.last, gromox_runtime::Next::Close);
}

#[test]
fn login_success_failure_and_state_checks() {
    let mut h = Harness::new();
    h.greet();
    assert_eq!(h.send_str("a SELECT INBOX\r\n"), "a BAD Log in first\r\n");
    assert_eq!(
        h.send_str("b LOGIN bob wrong\r\n"),
        "b NO [AUTHENTICATIONFAILED] Authentication failed\r\n"
    );
    assert_eq!(
        h.send_str("c LOGIN \"bob\" {6+}\r\nsecret\r\n"),
        format!("c OK [{CAPS_AUTH}] Logged in\r\n")
    );
    assert_eq!(h.idle_timeout, Some(std::time::Duration::from_secs(1800)));
    assert_eq!(h.send_str("d LOGIN bob secret\r\n"), "d BAD Already authenticated\r\n");
    assert_eq!(h.send_str("e FETCH 1 FLAGS\r\n"), "e BAD No mailbox selected\r\n");
}

#[test]
fn too_many_login_failures_close() {
    let mut h = Harness::new();
    h.greet();
    h.send_str("a LOGIN bob x\r\n");
    h.send_str("b LOGIN bob y\r\n");
    assert_eq!(
        h.send_str("c LOGIN bob z\r\n"),
        "c NO [AUTHENTICATIONFAILED] Authentication failed\r\n* BYE Too many authentication failures\r\n"
    );
    assert_eq!(h.last, gromox_runtime::Next::Close);
}

#[test]
fn failed_logins_log_the_fail2ban_line_without_passwords() {
    let cap = Capture::default();
    let log = slog::Logger::root(cap.clone(), slog::o!());
    let mut h = Harness::with_log(store(), Config::default(), log);
    h.greet();
    h.send_str("a LOGIN \"bad guy\" hunter2\r\n");
    h.send_str("b AUTHENTICATE PLAIN AGJvYgB3cm9uZ3Bhc3M=\r\n"); // \0bob\0wrongpass
    h.send_str("c LOGIN bob secret\r\n");
    let lines = cap.0.lock().unwrap().clone();
    let all = lines.join("\n");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("rhost=[127.0.0.1]:40000 user=bad_guy LOGIN rejected: ")),
        "{all}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("rhost=[127.0.0.1]:40000 user=bob AUTHENTICATE rejected: ")),
        "{all}"
    );
    assert!(lines.iter().any(|l| l.contains("event=imap.login")), "{all}");
    for secret in ["hunter2", "wrongpass", "secret", "AGJvYgB3cm9uZ3Bhc3M"] {
        assert!(!all.contains(secret), "{secret} leaked into the log:\n{all}");
    }
}

#[test]
fn synchronizing_literal_gets_continuation() {
    let mut h = Harness::new();
    h.greet();
    assert_eq!(h.send_str("a LOGIN {3}\r\n"), "+ Ready for literal data\r\n");
    assert_eq!(h.send_str("bob {6}\r\n"), "+ Ready for literal data\r\n");
    assert_eq!(h.send_str("secret\r\n"), format!("a OK [{CAPS_AUTH}] Logged in\r\n"));
}

#[test]
fn authenticate_plain_sasl_ir_and_continuation() {
    // "\0bob\0secret"
    let mut h = Harness::new();
    h.greet();
    assert_eq!(
        h.send_str("a AUTHENTICATE PLAIN AGJvYgBzZWNyZXQ=\r\n"),
        format!("a OK [{CAPS_AUTH}] Logged in\r\n")
    );
    let mut h = Harness::new();
    h.greet();
    assert_eq!(h.send_str("a AUTHENTICATE PLAIN\r\n"), "+ \r\n");
    assert_eq!(
        h.send_str("AGJvYgBzZWNyZXQ=\r\n"),
        format!("a OK [{CAPS_AUTH}] Logged in\r\n")
    );
    let mut h = Harness::new();
    h.greet();
    assert_eq!(h.send_str("a AUTHENTICATE plain\r\n"), "+ \r\n");
    assert_eq!(h.send_str("*\r\n"), "a BAD Authentication cancelled\r\n");
    assert_eq!(
        h.send_str("b AUTHENTICATE PLAIN AGJvYgB3cm9uZw==\r\n"),
        "b NO [AUTHENTICATIONFAILED] Authentication failed\r\n"
    );
    assert_eq!(
        h.send_str("c AUTHENTICATE CRAM-MD5\r\n"),
        "c NO [CANNOT] Unsupported authentication mechanism\r\n"
    );
}

#[test]
fn force_tls_disables_login_on_plaintext() {
    let cfg = Config {
        force_tls: true,
        tls_configured: true,
        ..Config::default()
    };
    let mut h = Harness::with(store(), cfg);
    let g = h.greet();
    assert!(
        g.contains(" STARTTLS LOGINDISABLED ") && !g.contains("AUTH=PLAIN"),
        "{g}"
    );
    assert_eq!(
        h.send_str("a LOGIN bob secret\r\n"),
        "a NO [PRIVACYREQUIRED] TLS is required to log in\r\n"
    );
    assert_eq!(h.send_str("b STARTTLS\r\n"), "b OK Begin TLS negotiation now\r\n");
    assert_eq!(h.last, gromox_runtime::Next::StartTls);
    h.tls = true;
    h.last = gromox_runtime::Next::Read;
    let c = h.send_str("c CAPABILITY\r\n");
    assert!(!c.contains("STARTTLS") && c.contains("AUTH=PLAIN"), "{c}");
    assert!(h.send_str("d LOGIN bob secret\r\n").starts_with("d OK [CAPABILITY"));
}

#[test]
fn starttls_unavailable_without_tls() {
    let mut h = Harness::new();
    h.greet();
    assert_eq!(h.send_str("a STARTTLS\r\n"), "a BAD STARTTLS is not available\r\n");
}

#[test]
fn select_and_examine() {
    let mut h = Harness::logged_in();
    assert_eq!(
        h.send_str("s SELECT inbox\r\n"),
        "* 2 EXISTS\r\n* 0 RECENT\r\n* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n\
         * OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted\r\n\
         * OK [UNSEEN 2] First unseen\r\n* OK [UIDVALIDITY 1001] UIDs valid\r\n\
         * OK [UIDNEXT 3] Predicted next UID\r\ns OK [READ-WRITE] SELECT completed\r\n"
    );
    assert_eq!(
        h.send_str("e EXAMINE Sent\r\n"),
        "* OK [CLOSED] Previous mailbox closed\r\n* 0 EXISTS\r\n* 0 RECENT\r\n\
         * FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n* OK [PERMANENTFLAGS ()] Flags permitted\r\n\
         * OK [UIDVALIDITY 1003] UIDs valid\r\n* OK [UIDNEXT 1] Predicted next UID\r\ne OK [READ-ONLY] EXAMINE completed\r\n"
    );
    assert_eq!(
        h.send_str("n SELECT Nope\r\n"),
        "* OK [CLOSED] Previous mailbox closed\r\nn NO [NONEXISTENT] No such mailbox\r\n"
    );
    assert_eq!(h.send_str("f FETCH 1 FLAGS\r\n"), "f BAD No mailbox selected\r\n");
}

#[test]
fn fetch_flags_uid_size_date_and_macros() {
    let mut h = Harness::selected();
    assert_eq!(
        h.send_str("f FETCH 1:* (UID FLAGS RFC822.SIZE)\r\n"),
        "* 1 FETCH (UID 1 FLAGS (\\Seen) RFC822.SIZE 478)\r\n* 2 FETCH (UID 2 FLAGS () RFC822.SIZE 998)\r\nf OK FETCH completed\r\n"
    );
    assert_eq!(
        h.send_str("g UID FETCH 2 FAST\r\n"),
        "* 2 FETCH (UID 2 FLAGS () INTERNALDATE \"02-Jan-2024 03:04:05 +0000\" RFC822.SIZE 998)\r\ng OK FETCH completed\r\n"
    );
    assert_eq!(h.send_str("h UID FETCH 7:9 FLAGS\r\n"), "h OK FETCH completed\r\n");
    assert_eq!(
        h.send_str("i FETCH 3 FLAGS\r\n"),
        "i BAD Invalid message sequence number\r\n"
    );
}

#[test]
fn fetch_envelope_and_bodystructure() {
    let mut h = Harness::selected();
    assert_eq!(
        h.send_str("f FETCH 1 ENVELOPE\r\n"),
        "* 1 FETCH (ENVELOPE (\"Fri, 4 May 2001 14:05:44 -0400\" \"This is a test message\" \
         ((NIL NIL \"bbb\" \"ddd.com\")) ((NIL NIL \"bbb\" \"ddd.com\")) ((NIL NIL \"bbb\" \"ddd.com\")) \
         ((NIL NIL \"bbb\" \"zzz.org\")) NIL NIL NIL \"<15090.61304.110929.45684@aaa.zzz.org>\"))\r\nf OK FETCH completed\r\n"
    );
    assert_eq!(
        h.send_str("g FETCH 1 BODYSTRUCTURE\r\n"),
        "* 1 FETCH (BODYSTRUCTURE (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 43 6 NIL NIL NIL NIL))\r\ng OK FETCH completed\r\n"
    );
    assert_eq!(
        h.send_str("b FETCH 2 BODY\r\n"),
        "* 2 FETCH (BODY ((\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 50 2)(\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 50 2) \"MIXED\"))\r\nb OK FETCH completed\r\n"
    );
}

#[test]
fn fetch_body_sections_partial_and_seen() {
    let mut h = Harness::selected();
    assert_eq!(
        h.send_str("a FETCH 2 (BODY.PEEK[1]<2.6> BODY.PEEK[HEADER.FIELDS (subject)])\r\n"),
        "* 2 FETCH (BODY[1]<2> {6}\r\nsimple BODY[HEADER.FIELDS (\"SUBJECT\")] {31}\r\nSubject: a simple multipart\r\n\r\n)\r\na OK FETCH completed\r\n"
    );
    assert_eq!(
        h.store.flags_of("bob", "INBOX", 2),
        Some(vec![]),
        "PEEK must not set \\Seen"
    );
    let r = h.send_str("b FETCH 2 BODY[2.MIME]\r\n");
    assert_eq!(
        r,
        "* 2 FETCH (BODY[2.MIME] {112}\r\nContent-Type: text/plain\r\nContent-Disposition: inline;\r\n\tfilename=\"msg.txt\"\r\nContent-Transfer-Encoding: 7bit\r\n\r\n FLAGS (\\Seen))\r\nb OK FETCH completed\r\n"
    );
    assert_eq!(h.store.flags_of("bob", "INBOX", 2), Some(vec!["\\Seen".to_string()]));
    let r = h.send_str("c UID FETCH 1 (RFC822.HEADER BODY[TEXT] BODY[9])\r\n");
    assert!(
        r.starts_with("* 1 FETCH (UID 1 RFC822.HEADER {435}\r\nReturn-Path: <bbb@zzz.org>\r\n"),
        "{r}"
    );
    assert!(r.ends_with(" BODY[TEXT] {43}\r\n\r\nHi,\r\n\r\nDo you like this message?\r\n\r\n-Me\r\n BODY[9] \"\" FLAGS (\\Seen))\r\nc OK FETCH completed\r\n"), "{r}");
}

#[test]
fn fetch_binary_decodes_transfer_encodings() {
    let store = store();
    let msg = b"Subject: enc\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Transfer-Encoding: base64\r\n\r\naGVs\r\nbG8A\r\n--B\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\ncaf=C3=A9 =\r\nau lait\r\n--B\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin\r\n--B--\r\n";
    store.deliver("bob", "INBOX", &[], msg);
    let mut h = Harness::with(store, Config::default());
    h.greet();
    h.send_str("l LOGIN bob secret\r\ns SELECT INBOX\r\n");
    assert_eq!(
        h.send_str("a FETCH 3 (BINARY.PEEK[1] BINARY.SIZE[1] BINARY.PEEK[2]<1.4>)\r\n"),
        "* 3 FETCH (BINARY[1] ~{6}\r\nhello\0 BINARY.SIZE[1] 6 BINARY[2]<1> {4}\r\naf\u{e9})\r\na OK FETCH completed\r\n"
    );
    assert_eq!(h.store.flags_of("bob", "INBOX", 3), Some(vec![]));
    assert_eq!(
        h.send_str("b FETCH 3 (BINARY[3] BINARY[4])\r\n"),
        "* 3 FETCH (BINARY[3] NIL BINARY[4] NIL FLAGS (\\Seen))\r\nb NO [UNKNOWN-CTE] Unknown Content-Transfer-Encoding\r\n"
    );
}

#[test]
fn condstore_modseq_fetch_store_search_status() {
    let mut h = Harness::logged_in();
    // Before CONDSTORE is enabled nothing mentions mod-sequences.
    let s = h.send_str("s SELECT INBOX (CONDSTORE)\r\n");
    assert!(s.contains("* OK [HIGHESTMODSEQ 3] Highest\r\n"), "{s}");
    assert_eq!(
        h.send_str("a FETCH 1:* (UID MODSEQ)\r\n"),
        "* 1 FETCH (UID 1 MODSEQ (2))\r\n* 2 FETCH (UID 2 MODSEQ (3))\r\na OK FETCH completed\r\n"
    );
    assert_eq!(
        h.send_str("b STORE 2 +FLAGS (\\Flagged)\r\n"),
        "* 2 FETCH (FLAGS (\\Flagged) MODSEQ (4))\r\nb OK STORE completed\r\n"
    );
    assert_eq!(
        h.send_str("c UID FETCH 1:* (FLAGS) (CHANGEDSINCE 3)\r\n"),
        "* 2 FETCH (UID 2 FLAGS (\\Flagged) MODSEQ (4))\r\nc OK FETCH completed\r\n"
    );
    assert_eq!(
        h.send_str("d UID STORE 1:2 (UNCHANGEDSINCE 3) +FLAGS.SILENT (\\Answered)\r\n"),
        "* 1 FETCH (UID 1 MODSEQ (5))\r\nd OK [MODIFIED 2] Conditional STORE failed for some messages\r\n"
    );
    assert_eq!(h.store.flags_of("bob", "INBOX", 2), Some(vec!["\\Flagged".to_string()]));
    assert_eq!(
        h.send_str("e SEARCH MODSEQ 4\r\n"),
        "* SEARCH 1 2 (MODSEQ 5)\r\ne OK SEARCH completed\r\n"
    );
    assert_eq!(
        h.send_str("f UID SEARCH RETURN (COUNT) MODSEQ \"/flags/\\\\draft\" all 5\r\n"),
        "* ESEARCH (TAG \"f\") UID COUNT 1 MODSEQ 5\r\nf OK SEARCH completed\r\n"
    );
    assert_eq!(
        h.send_str("g STATUS INBOX (HIGHESTMODSEQ MESSAGES)\r\n"),
        "* STATUS \"INBOX\" (HIGHESTMODSEQ 5 MESSAGES 2)\r\ng OK STATUS completed\r\n"
    );
    let mut other = Harness::with(h.store.clone(), Config::default());
    other.greet();
    other.send_str("l LOGIN bob secret\r\ns SELECT INBOX\r\nx STORE 1 -FLAGS.SILENT (\\Seen)\r\n");
    assert_eq!(
        h.send_str("n NOOP\r\n"),
        "* 1 FETCH (UID 1 FLAGS (\\Answered) MODSEQ (6))\r\nn OK NOOP completed\r\n"
    );
}

#[test]
fn utf8_accept_names() {
    let mut h = Harness::logged_in();
    assert_eq!(h.send_str("c CREATE \"Entw&APw-rfe\"\r\n"), "c OK CREATE completed\r\n");
    assert_eq!(
        h.send_str("e ENABLE UTF8=ACCEPT\r\n"),
        "* ENABLED UTF8=ACCEPT\r\ne OK ENABLE completed\r\n"
    );
    assert_eq!(
        h.send_str("l LIST \"\" Entw*\r\n"),
        "* LIST (\\HasNoChildren) \"/\" \"Entwürfe\"\r\nl OK LIST completed\r\n"
    );
    // After enabling, names are UTF-8 as sent, "&...-" included.
    assert_eq!(h.send_str("d CREATE \"A&AOQ-\"\r\n"), "d OK CREATE completed\r\n");
    assert_eq!(
        h.send_str("s STATUS \"A&AOQ-\" (MESSAGES)\r\n"),
        "* STATUS \"A&AOQ-\" (MESSAGES 0)\r\ns OK STATUS completed\r\n"
    );
    assert_eq!(
        h.send_str("t STATUS \"Entwürfe\" (MESSAGES)\r\n"),
        "* STATUS \"Entwürfe\" (MESSAGES 0)\r\nt OK STATUS completed\r\n"
    );
}

#[test]
fn qresync_vanished_and_resync_on_select() {
    let mut h = Harness::logged_in();
    assert_eq!(
        h.send_str("q SELECT INBOX (QRESYNC (1001 1))\r\n"),
        "q BAD ENABLE QRESYNC first\r\n"
    );
    assert_eq!(
        h.send_str("e ENABLE QRESYNC\r\n"),
        "* ENABLED QRESYNC\r\ne OK ENABLE completed\r\n"
    );
    let s = h.send_str("s SELECT INBOX\r\n");
    assert!(s.contains("[HIGHESTMODSEQ 3]"), "{s}");
    h.send_str("a APPEND INBOX {3+}\r\nabc\r\n");
    h.send_str("d STORE 1,3 +FLAGS.SILENT (\\Deleted)\r\n");
    // Own EXPUNGE answers VANISHED, not EXPUNGE.
    assert_eq!(
        h.send_str("x EXPUNGE\r\n"),
        "* VANISHED 1,3\r\nx OK EXPUNGE completed\r\n"
    );
    // Another session flags message 2; a reconnecting client that knew modseq 3 learns
    // what vanished and what changed.
    let mut other = Harness::with(h.store.clone(), Config::default());
    other.greet();
    other.send_str("l LOGIN bob secret\r\ns SELECT INBOX\r\nf STORE 1 +FLAGS.SILENT (\\Flagged)\r\n");
    let mut again = Harness::logged_in_with(h.store.clone());
    again.send_str("e ENABLE QRESYNC\r\n");
    let s = again.send_str("s SELECT INBOX (QRESYNC (1001 3 1:10))\r\n");
    assert!(s.contains("* VANISHED (EARLIER) 1,3\r\n"), "{s}");
    assert!(s.contains("* 1 FETCH (UID 2 FLAGS (\\Flagged) MODSEQ (8))\r\n"), "{s}");
    assert!(s.ends_with("s OK [READ-WRITE] SELECT completed\r\n"), "{s}");
    // Wrong UIDVALIDITY: no resync data.
    let s = again.send_str("t EXAMINE INBOX (QRESYNC (77 3))\r\n");
    assert!(!s.contains("VANISHED") && !s.contains("FETCH"), "{s}");
    assert_eq!(
        again.send_str("u UID FETCH 1:* FLAGS (CHANGEDSINCE 3 VANISHED)\r\n"),
        "* VANISHED (EARLIER) 1,3\r\n* 1 FETCH (UID 2 FLAGS (\\Flagged) MODSEQ (8))\r\nu OK FETCH completed\r\n"
    );
    assert_eq!(
        again.send_str("v FETCH 1 FLAGS (CHANGEDSINCE 3 VANISHED)\r\n"),
        "v BAD VANISHED needs UID FETCH with CHANGEDSINCE\r\n"
    );
}

#[test]
fn quota_commands_and_overquota() {
    let mut h = Harness::selected();
    assert_eq!(
        h.send_str("a GETQUOTAROOT INBOX\r\n"),
        "* QUOTAROOT \"INBOX\"\r\na OK GETQUOTAROOT completed\r\n"
    );
    assert_eq!(
        h.send_str("b GETQUOTA \"\"\r\n"),
        "b NO [NONEXISTENT] No such quota root\r\n"
    );
    h.store.set_quota("bob", 2048);
    assert_eq!(
        h.send_str("c GETQUOTAROOT INBOX\r\n"),
        "* QUOTAROOT \"INBOX\" \"\"\r\n* QUOTA \"\" (STORAGE 2 2)\r\nc OK GETQUOTAROOT completed\r\n"
    );
    assert_eq!(
        h.send_str("d GETQUOTA \"\"\r\n"),
        "* QUOTA \"\" (STORAGE 2 2)\r\nd OK GETQUOTA completed\r\n"
    );
    assert_eq!(
        h.send_str("e GETQUOTAROOT Nope\r\n"),
        "e NO [NONEXISTENT] No such mailbox\r\n"
    );
    assert_eq!(
        h.send_str("f SETQUOTA \"\" (STORAGE 512)\r\n"),
        "f NO [NOPERM] Quotas are set by the administrator\r\n"
    );
    // 1476 octets used of 2048: a 600-octet message does not fit, nor does a copy of INBOX.
    let big = format!("g APPEND INBOX {{600+}}\r\n{}\r\n", "x".repeat(600));
    assert_eq!(h.send_str(&big), "g NO [OVERQUOTA] Quota exceeded\r\n");
    assert_eq!(
        h.send_str("i COPY 1:2 Trash\r\n"),
        "i NO [OVERQUOTA] Quota exceeded\r\n"
    );
    h.send_str("j STORE 2 +FLAGS.SILENT (\\Deleted)\r\n");
    assert_eq!(
        h.send_str("k STATUS INBOX (DELETED DELETED-STORAGE)\r\n"),
        "* STATUS \"INBOX\" (DELETED 1 DELETED-STORAGE 1)\r\nk OK STATUS completed\r\n"
    );
}

#[test]
fn compress_deflate_both_directions() {
    use imapd::compress::Deflate;
    let mut h = Harness::logged_in();
    let c = h.send_str("c CAPABILITY\r\n");
    assert!(c.contains(" COMPRESS=DEFLATE"), "{c}");
    assert_eq!(h.send_str("z COMPRESS DEFLATE\r\n"), "z OK DEFLATE active\r\n");
    let mut client = Deflate::new();
    let mut server_view = Deflate::new();
    let mut wire = Vec::new();
    client.deflate(
        b"n NOOP\r\ns SELECT INBOX\r\nf FETCH 1:* (UID RFC822.SIZE)\r\n",
        &mut wire,
    );
    // Feed it in two pieces, as TCP might.
    let mut out = h.send_raw(&wire[..wire.len() / 2]);
    out.extend(h.send_raw(&wire[wire.len() / 2..]));
    server_view.inflate(&out, 1 << 20).unwrap();
    let text = String::from_utf8_lossy(server_view.pending()).into_owned();
    assert!(text.starts_with("n OK NOOP completed\r\n* 2 EXISTS\r\n"), "{text}");
    assert!(
        text.ends_with(
            "* 1 FETCH (UID 1 RFC822.SIZE 478)\r\n* 2 FETCH (UID 2 RFC822.SIZE 998)\r\nf OK FETCH completed\r\n"
        ),
        "{text}"
    );
    let mut wire = Vec::new();
    client.deflate(b"y COMPRESS DEFLATE\r\n", &mut wire);
    let out = h.send_raw(&wire);
    server_view.inpos = server_view.inbuf.len();
    server_view.inflate(&out, 1 << 20).unwrap();
    assert_eq!(
        String::from_utf8_lossy(server_view.pending()),
        "y NO [COMPRESSIONACTIVE] DEFLATE is already active\r\n"
    );
    // Garbage instead of a DEFLATE stream ends the session.
    let out = h.send_raw(b"\xff\xff\xff\xff\xff");
    assert_eq!(h.last, gromox_runtime::Next::Close);
    server_view.inpos = server_view.inbuf.len();
    server_view.inflate(&out, 1 << 20).unwrap();
    assert_eq!(
        String::from_utf8_lossy(server_view.pending()),
        "* BYE Compression error\r\n"
    );
}

#[test]
fn sort_by_criteria() {
    let store = store();
    store.deliver(
        "bob",
        "INBOX",
        &[],
        b"From: Zed <zed@example.org>\r\nSubject: Re: [list] a  simple multipart (fwd)\r\n\r\nx\r\n",
    );
    let mut h = Harness::with(store, Config::default());
    h.greet();
    h.send_str("l LOGIN bob secret\r\ns SELECT INBOX\r\n");
    assert_eq!(
        h.send_str("a SORT (SUBJECT) UTF-8 ALL\r\n"),
        "* SORT 2 3 1\r\na OK SORT completed\r\n"
    );
    assert_eq!(
        h.send_str("b SORT (REVERSE DATE) UTF-8 1:2\r\n"),
        "* SORT 2 1\r\nb OK SORT completed\r\n"
    );
    assert_eq!(
        h.send_str("c SORT (FROM SIZE) US-ASCII ALL\r\n"),
        "* SORT 2 1 3\r\nc OK SORT completed\r\n"
    );
    assert_eq!(
        h.send_str("d UID SORT (REVERSE SIZE) UTF-8 NOT UID 3\r\n"),
        "* SORT 2 1\r\nd OK SORT completed\r\n"
    );
    assert_eq!(
        h.send_str("e SORT (ARRIVAL) UTF-8 UNSEEN\r\n"),
        "* SORT 2 3\r\ne OK SORT completed\r\n"
    );
    assert_eq!(
        h.send_str("f SORT (FOO) UTF-8 ALL\r\n"),
        "f BAD Unknown sort key FOO\r\n"
    );
    assert_eq!(
        h.send_str("g SORT (DATE) KOI8-R ALL\r\n"),
        "g NO [BADCHARSET (UTF-8 US-ASCII)] Unsupported charset\r\n"
    );
}

#[test]
fn thread_orderedsubject() {
    let store = store();
    store.deliver("bob", "INBOX", &[], b"Subject: Re: a simple multipart\r\n\r\nx\r\n");
    let mut h = Harness::with(store.clone(), Config::default());
    h.greet();
    h.send_str("l LOGIN bob secret\r\ns SELECT INBOX\r\n");
    assert_eq!(
        h.send_str("a THREAD ORDEREDSUBJECT UTF-8 ALL\r\n"),
        "* THREAD (1)(2 3)\r\na OK THREAD completed\r\n"
    );
    store.deliver(
        "bob",
        "INBOX",
        &[],
        b"Subject: A simple multipart\r\nDate: Mon, 1 Jan 2001 00:00:00 +0000\r\n\r\ny\r\n",
    );
    h.send_str("n NOOP\r\n");
    assert_eq!(
        h.send_str("b UID THREAD ORDEREDSUBJECT UTF-8 ALL\r\n"),
        "* THREAD (4 (2)(3))(1)\r\nb OK THREAD completed\r\n"
    );
    assert_eq!(
        h.send_str("c THREAD ORDEREDSUBJECT UTF-8 DELETED\r\n"),
        "* THREAD\r\nc OK THREAD completed\r\n"
    );
    assert_eq!(
        h.send_str("d THREAD FOO UTF-8 ALL\r\n"),
        "d BAD Unsupported threading algorithm\r\n"
    );
}

#[test]
fn thread_references() {
    let store = imapd::memstore::MemStore::new();
    store.add_user("bob", "secret");
    let m = |id: &str, refs: &str, subj: &str, date: &str| {
        format!("Message-ID: <{id}>\r\n{refs}Subject: {subj}\r\nDate: {date}\r\n\r\nbody\r\n")
    };
    for raw in [
        m("a@x", "", "plan", "Mon, 1 Jan 2024 10:00:00 +0000"),
        m("z@x", "", "unrelated", "Mon, 1 Jan 2024 09:00:00 +0000"),
        m(
            "b@x",
            "In-Reply-To: <a@x>\r\n",
            "Re: plan",
            "Mon, 1 Jan 2024 11:00:00 +0000",
        ),
        m(
            "c@x",
            "References: <a@x> <b@x>\r\n",
            "Re: plan",
            "Mon, 1 Jan 2024 12:00:00 +0000",
        ),
        m(
            "d@x",
            "References: <a@x>\r\n",
            "Re: plan",
            "Mon, 1 Jan 2024 11:30:00 +0000",
        ),
    ] {
        store.deliver("bob", "INBOX", &[], raw.as_bytes());
    }
    let mut h = Harness::with(store, Config::default());
    h.greet();
    h.send_str("l LOGIN bob secret\r\ns SELECT INBOX\r\n");
    assert_eq!(
        h.send_str("a THREAD REFERENCES UTF-8 ALL\r\n"),
        "* THREAD (2)(1 (3 4)(5))\r\na OK THREAD completed\r\n"
    );
    assert_eq!(
        h.send_str("b UID THREAD REFERENCES US-ASCII NOT 2\r\n"),
        "* THREAD (1 (3 4)(5))\r\nb OK THREAD completed\r\n"
    );
}

#[test]
fn enable_condstore() {
    let mut h = Harness::logged_in();
    assert_eq!(
        h.send_str("e ENABLE CONDSTORE\r\n"),
        "* ENABLED CONDSTORE\r\ne OK ENABLE completed\r\n"
    );
    let s = h.send_str("s EXAMINE Trash\r\n");
    assert!(s.contains("* OK [HIGHESTMODSEQ 1] Highest\r\n"), "{s}");
}

#[test]
fn store_flags_variants() {
    let mut h = Harness::selected();
    assert_eq!(
        h.send_str("a STORE 1:2 +FLAGS (\\Flagged $Work)\r\n"),
        "* 1 FETCH (FLAGS (\\Seen \\Flagged $Work))\r\n* 2 FETCH (FLAGS (\\Flagged $Work))\r\na OK STORE completed\r\n"
    );
    assert_eq!(
        h.send_str("b UID STORE 2 -FLAGS.SILENT (\\flagged)\r\n"),
        "b OK STORE completed\r\n"
    );
    assert_eq!(
        h.send_str("c UID STORE 2 FLAGS \\Deleted\r\n"),
        "* 2 FETCH (UID 2 FLAGS (\\Deleted))\r\nc OK STORE completed\r\n"
    );
    assert_eq!(
        h.store.flags_of("bob", "INBOX", 1),
        Some(vec!["\\Seen".into(), "\\Flagged".into(), "$Work".into()])
    );
    assert_eq!(h.send_str("f STORE 1 +FLAGS (\\*)\r\n"), "f BAD \\* is not a flag\r\n");
    h.send_str("e EXAMINE INBOX\r\n");
    assert_eq!(
        h.send_str("d STORE 1 +FLAGS (\\Seen)\r\n"),
        "d NO [READ-ONLY] Mailbox is read-only\r\n"
    );
}

#[test]
fn search_classic_esearch_and_searchres() {
    let mut h = Harness::selected();
    assert_eq!(
        h.send_str("a SEARCH UNSEEN\r\n"),
        "* SEARCH 2\r\na OK SEARCH completed\r\n"
    );
    assert_eq!(
        h.send_str("b SEARCH CHARSET UTF-8 OR SUBJECT multipart FROM bbb@ddd\r\n"),
        "* SEARCH 1 2\r\nb OK SEARCH completed\r\n"
    );
    assert_eq!(
        h.send_str("c UID SEARCH BODY \"reflect upon\" NOT SEEN\r\n"),
        "* SEARCH 2\r\nc OK SEARCH completed\r\n"
    );
    assert_eq!(
        h.send_str("d SEARCH RETURN (MIN MAX COUNT ALL) 1:* LARGER 100\r\n"),
        "* ESEARCH (TAG \"d\") MIN 1 MAX 2 COUNT 2 ALL 1:2\r\nd OK SEARCH completed\r\n"
    );
    assert_eq!(
        h.send_str("e SEARCH RETURN (SAVE) SENTBEFORE 1-Jun-2001\r\n"),
        "e OK SEARCH completed\r\n"
    );
    assert_eq!(
        h.send_str("f FETCH $ (UID)\r\n"),
        "* 1 FETCH (UID 1)\r\nf OK FETCH completed\r\n"
    );
    assert_eq!(
        h.send_str("g UID SEARCH RETURN () HEADER X-Oblique-Strategy door\r\n"),
        "* ESEARCH (TAG \"g\") UID ALL 2\r\ng OK SEARCH completed\r\n"
    );
    assert_eq!(
        h.send_str("h SEARCH CHARSET KOI8-R ALL\r\n"),
        "h NO [BADCHARSET (UTF-8 US-ASCII)] Unsupported charset\r\n"
    );
    assert_eq!(
        h.send_str("i SEARCH SINCE 1-Jan-2024 ON 2-Jan-2024 UID 2:*\r\n"),
        "* SEARCH 2\r\ni OK SEARCH completed\r\n"
    );
    assert_eq!(h.send_str("j SEARCH FOO\r\n"), "j BAD Unknown search key FOO\r\n");
}

#[test]
fn copy_move_expunge_with_uidplus() {
    let mut h = Harness::selected();
    assert_eq!(
        h.send_str("a COPY 1:2 Trash\r\n"),
        "a OK [COPYUID 1004 1:2 1:2] COPY completed\r\n"
    );
    assert_eq!(
        h.send_str("b COPY 1 Nope\r\n"),
        "b NO [TRYCREATE] Mailbox does not exist\r\n"
    );
    assert_eq!(
        h.send_str("c UID MOVE 1 Junk\r\n"),
        "* OK [COPYUID 1005 1 1] Moved\r\n* 1 EXPUNGE\r\nc OK MOVE completed\r\n"
    );
    assert_eq!(h.store.count("bob", "INBOX"), Some(1));
    h.send_str("d STORE 1 +FLAGS.SILENT (\\Deleted)\r\n");
    assert_eq!(h.send_str("e UID EXPUNGE 1\r\n"), "e OK EXPUNGE completed\r\n");
    assert_eq!(h.send_str("f EXPUNGE\r\n"), "* 1 EXPUNGE\r\nf OK EXPUNGE completed\r\n");
    assert_eq!(
        h.send_str("g FETCH 1 FLAGS\r\n"),
        "g BAD Invalid message sequence number\r\n"
    );
}

#[test]
fn append_with_flags_date_and_appenduid() {
    let mut h = Harness::selected();
    assert_eq!(
        h.send_str("a APPEND INBOX (\\Seen) \"17-Jul-1996 02:44:25 -0700\" {21+}\r\nSubject: hi\r\n\r\nbody\r\n\r\n"),
        "* 3 EXISTS\r\na OK [APPENDUID 1001 3] APPEND completed\r\n"
    );
    assert_eq!(
        h.send_str("b FETCH 3 (FLAGS INTERNALDATE)\r\n"),
        "* 3 FETCH (FLAGS (\\Seen) INTERNALDATE \"17-Jul-1996 02:44:25 -0700\")\r\nb OK FETCH completed\r\n"
    );
    assert_eq!(h.send_str("c APPEND Drafts {2}\r\n"), "+ Ready for literal data\r\n");
    assert_eq!(h.send_str("x\n\r\n"), "c OK [APPENDUID 1002 1] APPEND completed\r\n");
    assert_eq!(
        h.send_str("d APPEND Nope {1+}\r\nx\r\n"),
        "d NO [TRYCREATE] Mailbox does not exist\r\n"
    );
}

#[test]
fn multiappend_is_all_or_nothing() {
    let mut h = Harness::selected();
    assert_eq!(
        h.send_str("a APPEND INBOX (\\Seen) {3+}\r\nabc {3+}\r\ndef\r\n"),
        "* 4 EXISTS\r\na OK [APPENDUID 1001 3:4] APPEND completed\r\n"
    );
    assert_eq!(h.store.flags_of("bob", "INBOX", 3), Some(vec!["\\Seen".to_string()]));
    assert_eq!(h.store.flags_of("bob", "INBOX", 4), Some(vec![]));
    assert_eq!(
        h.send_str("b APPEND INBOX {1+}\r\nx (\\Recent) {1+}\r\ny\r\n"),
        "b BAD \\Recent and \\* cannot be set\r\n"
    );
    assert_eq!(h.store.count("bob", "INBOX"), Some(4));
    // The second message is refused: the first one must not stay.
    h.store.set_append_limit(5);
    assert_eq!(
        h.send_str("c APPEND INBOX {3+}\r\nabc {9+}\r\n123456789\r\n"),
        "c NO [OVERQUOTA] Quota exceeded\r\n"
    );
    assert_eq!(h.store.count("bob", "INBOX"), Some(4));
    assert_eq!(h.send_str("n NOOP\r\n"), "n OK NOOP completed\r\n");
}

#[test]
fn list_lsub_status_namespace() {
    let mut h = Harness::logged_in();
    assert_eq!(
        h.send_str("a LIST \"\" \"\"\r\n"),
        "* LIST (\\Noselect) \"/\" \"\"\r\na OK LIST completed\r\n"
    );
    assert_eq!(
        h.send_str("b LIST \"\" *\r\n"),
        "* LIST (\\HasNoChildren \\Drafts) \"/\" \"Drafts\"\r\n* LIST (\\HasNoChildren) \"/\" \"INBOX\"\r\n\
         * LIST (\\HasNoChildren \\Junk) \"/\" \"Junk\"\r\n* LIST (\\HasNoChildren \\Sent) \"/\" \"Sent\"\r\n\
         * LIST (\\HasNoChildren \\Trash) \"/\" \"Trash\"\r\nb OK LIST completed\r\n"
    );
    assert_eq!(
        h.send_str("c CREATE \"Entw&APw-rfe/2024\"\r\n"),
        "c OK CREATE completed\r\n"
    );
    assert_eq!(
        h.send_str("d LIST (SUBSCRIBED) \"\" (\"Entw*\" INBOX) RETURN (CHILDREN STATUS (MESSAGES UNSEEN SIZE))\r\n"),
        "* LIST (\\HasNoChildren \\Subscribed) \"/\" \"INBOX\"\r\n* STATUS \"INBOX\" (MESSAGES 2 UNSEEN 1 SIZE 1476)\r\nd OK LIST completed\r\n"
    );
    assert_eq!(
        h.send_str("e SUBSCRIBE Entw&APw-rfe\r\n"),
        "e OK SUBSCRIBE completed\r\n"
    );
    assert_eq!(
        h.send_str("f LIST \"Entw&APw-rfe/\" %\r\n"),
        "* LIST (\\HasNoChildren) \"/\" \"Entw&APw-rfe/2024\"\r\nf OK LIST completed\r\n"
    );
    assert_eq!(
        h.send_str("g LSUB \"\" E*\r\n"),
        "* LSUB () \"/\" \"Entw&APw-rfe\"\r\ng OK LSUB completed\r\n"
    );
    assert_eq!(
        h.send_str("h XLIST \"\" INBOX\r\n"),
        "* XLIST (\\HasNoChildren \\Inbox) \"/\" \"INBOX\"\r\nh OK XLIST completed\r\n"
    );
    assert_eq!(
        h.send_str("i STATUS INBOX (UIDNEXT UIDVALIDITY MESSAGES DELETED)\r\n"),
        "* STATUS \"INBOX\" (UIDNEXT 3 UIDVALIDITY 1001 MESSAGES 2 DELETED 0)\r\ni OK STATUS completed\r\n"
    );
    assert_eq!(
        h.send_str("j NAMESPACE\r\n"),
        "* NAMESPACE ((\"\" \"/\")) NIL NIL\r\nj OK NAMESPACE completed\r\n"
    );
    assert_eq!(h.send_str("k LIST (SPECIAL-USE) \"\" *\r\n").lines().count(), 5);
}

#[test]
fn renaming_the_selected_mailbox_follows_it() {
    let mut h = Harness::logged_in();
    h.send_str("c CREATE Work\r\na APPEND Work {3+}\r\nabc\r\ns SELECT Work\r\n");
    assert_eq!(h.send_str("r RENAME Work Jobs\r\n"), "r OK RENAME completed\r\n");
    assert_eq!(
        h.send_str("f FETCH 1 UID\r\n"),
        "* 1 FETCH (UID 1)\r\nf OK FETCH completed\r\n"
    );
    h.store.deliver("bob", "Jobs", &[], b"x\r\n");
    assert_eq!(h.send_str("n NOOP\r\n"), "* 2 EXISTS\r\nn OK NOOP completed\r\n");
}

#[test]
fn list_recursivematch_childinfo() {
    let mut h = Harness::logged_in();
    h.send_str("a CREATE Foo/Bar\r\nb SUBSCRIBE Foo/Bar\r\nc CREATE Baz\r\n");
    assert_eq!(
        h.send_str("d LIST (SUBSCRIBED RECURSIVEMATCH) \"\" %\r\n"),
        "* LIST (\\HasNoChildren \\Drafts \\Subscribed) \"/\" \"Drafts\"\r\n\
         * LIST (\\HasChildren) \"/\" \"Foo\" (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n\
         * LIST (\\HasNoChildren \\Subscribed) \"/\" \"INBOX\"\r\n\
         * LIST (\\HasNoChildren \\Junk \\Subscribed) \"/\" \"Junk\"\r\n\
         * LIST (\\HasNoChildren \\Sent \\Subscribed) \"/\" \"Sent\"\r\n\
         * LIST (\\HasNoChildren \\Trash \\Subscribed) \"/\" \"Trash\"\r\nd OK LIST completed\r\n"
    );
}

#[test]
fn create_delete_rename() {
    let mut h = Harness::logged_in();
    assert_eq!(h.send_str("a CREATE Work/\r\n"), "a OK CREATE completed\r\n");
    assert_eq!(h.send_str("b CREATE work\r\n"), "b OK CREATE completed\r\n");
    assert_eq!(
        h.send_str("c CREATE Work\r\n"),
        "c NO [ALREADYEXISTS] Mailbox already exists\r\n"
    );
    assert_eq!(
        h.send_str("d CREATE INBOX\r\n"),
        "d NO [ALREADYEXISTS] Mailbox already exists\r\n"
    );
    assert_eq!(h.send_str("e RENAME Work Jobs\r\n"), "e OK RENAME completed\r\n");
    assert_eq!(
        h.send_str("f STATUS Work (MESSAGES)\r\n"),
        "f NO [NONEXISTENT] No such mailbox\r\n"
    );
    assert_eq!(h.send_str("g DELETE Jobs\r\n"), "g OK DELETE completed\r\n");
    assert_eq!(
        h.send_str("h DELETE INBOX\r\n"),
        "h NO [CANNOT] INBOX cannot be deleted\r\n"
    );
    assert_eq!(
        h.send_str("i UNSUBSCRIBE Nope\r\n"),
        "i NO [NONEXISTENT] No such mailbox\r\n"
    );
}

#[test]
fn idle_reports_new_mail_and_done() {
    let mut h = Harness::selected();
    assert_eq!(h.send_str("i IDLE\r\n"), "+ idling\r\n");
    h.store.deliver("bob", "INBOX", &[], b"Subject: new\r\n\r\nx\r\n");
    // The store's notifier pushes to the connection; the runtime calls `pushed`.
    let mut out = Vec::new();
    let mut cx = gromox_runtime::Cx {
        out: &mut out,
        info: &h.info,
        tls_active: false,
        idle_timeout: None,
        handle: gromox_runtime::ConnHandle::detached(),
    };
    use gromox_runtime::Session;
    h.sess.pushed(Box::new(imapd::session::FolderChanged), &mut cx);
    assert_eq!(String::from_utf8_lossy(&out), "* 3 EXISTS\r\n");
    assert_eq!(h.send_str("DONE\r\n"), "i OK IDLE terminated\r\n");
    assert_eq!(h.send_str("n NOOP\r\n"), "n OK NOOP completed\r\n");
}

#[test]
fn idle_keepalive_then_autologout() {
    use gromox_runtime::Session;
    let mut h = Harness::selected();
    assert_eq!(h.send_str("i IDLE\r\n"), "+ idling\r\n");
    assert_eq!(h.idle_timeout, Some(std::time::Duration::from_secs(120)));
    let mut out = Vec::new();
    let mut cx = gromox_runtime::Cx {
        out: &mut out,
        info: &h.info,
        tls_active: false,
        idle_timeout: None,
        handle: gromox_runtime::ConnHandle::detached(),
    };
    assert_eq!(h.sess.timed_out(&mut cx), gromox_runtime::Next::Read);
    assert_eq!(String::from_utf8_lossy(&out), "* OK Still here\r\n");
    assert_eq!(h.send_str("DONE\r\n"), "i OK IDLE terminated\r\n");
    assert_eq!(h.idle_timeout, Some(std::time::Duration::from_secs(1800)));
    // Past autologout, IDLE ends the session too.
    let cfg = Config {
        autologout: std::time::Duration::ZERO,
        ..Config::default()
    };
    let mut h = Harness::with(store(), cfg);
    h.greet();
    h.send_str("l LOGIN bob secret\r\ns SELECT INBOX\r\ni IDLE\r\n");
    let mut out = Vec::new();
    let mut cx = gromox_runtime::Cx {
        out: &mut out,
        info: &h.info,
        tls_active: false,
        idle_timeout: None,
        handle: gromox_runtime::ConnHandle::detached(),
    };
    assert_eq!(h.sess.timed_out(&mut cx), gromox_runtime::Next::Close);
    assert_eq!(String::from_utf8_lossy(&out), "* BYE Autologout; idle for too long\r\n");
}

#[test]
fn noop_reports_changes_by_others() {
    let mut h = Harness::selected();
    let mut other = Harness::with(h.store.clone(), Config::default());
    other.greet();
    other.send_str("l LOGIN bob secret\r\ns SELECT INBOX\r\n");
    other.send_str("a STORE 1 +FLAGS.SILENT (\\Deleted)\r\nb EXPUNGE\r\n");
    h.store.deliver("bob", "INBOX", &[], b"Subject: new\r\n\r\nx\r\n");
    assert_eq!(
        h.send_str("n NOOP\r\n"),
        "* 1 EXPUNGE\r\n* 2 EXISTS\r\nn OK NOOP completed\r\n"
    );
    assert_eq!(
        h.send_str("f FETCH 2 UID\r\n"),
        "* 2 FETCH (UID 3)\r\nf OK FETCH completed\r\n"
    );
}

#[test]
fn flag_changes_by_others_are_reported_own_are_not() {
    let mut h = Harness::selected();
    let mut other = Harness::with(h.store.clone(), Config::default());
    other.greet();
    other.send_str("l LOGIN bob secret\r\ns SELECT INBOX\r\n");
    assert_eq!(
        other.send_str("a STORE 2 +FLAGS.SILENT (\\Flagged)\r\n"),
        "a OK STORE completed\r\n"
    );
    assert_eq!(
        h.send_str("n NOOP\r\n"),
        "* 2 FETCH (UID 2 FLAGS (\\Flagged))\r\nn OK NOOP completed\r\n"
    );
    assert_eq!(h.send_str("o NOOP\r\n"), "o OK NOOP completed\r\n");
    assert_eq!(
        h.send_str("p STORE 1 +FLAGS.SILENT (\\Answered)\r\n"),
        "p OK STORE completed\r\n"
    );
    assert_eq!(h.send_str("q NOOP\r\n"), "q OK NOOP completed\r\n");
    h.send_str("s FETCH 2 BODY[1]\r\n");
    assert_eq!(h.send_str("t NOOP\r\n"), "t OK NOOP completed\r\n");
    assert_eq!(
        other.send_str("r NOOP\r\n"),
        "* 1 FETCH (UID 1 FLAGS (\\Seen \\Answered))\r\n* 2 FETCH (UID 2 FLAGS (\\Flagged \\Seen))\r\nr OK NOOP completed\r\n"
    );
}

#[test]
fn close_unselect_enable_id() {
    let mut h = Harness::selected();
    h.send_str("a STORE 1 +FLAGS.SILENT (\\Deleted)\r\n");
    assert_eq!(h.send_str("b UNSELECT\r\n"), "b OK UNSELECT completed\r\n");
    assert_eq!(h.store.count("bob", "INBOX"), Some(2));
    h.send_str("s SELECT INBOX\r\n");
    assert_eq!(h.send_str("c CLOSE\r\n"), "c OK CLOSE completed\r\n");
    assert_eq!(h.store.count("bob", "INBOX"), Some(1), "CLOSE expunges silently");
    assert_eq!(
        h.send_str("d ID (\"name\" \"test\")\r\n"),
        format!(
            "* ID (\"name\" \"gromox-rs imapd\" \"version\" \"{}\")\r\nd OK ID completed\r\n",
            env!("CARGO_PKG_VERSION")
        )
    );
    assert_eq!(
        h.send_str("e ENABLE IMAP4rev2 X-UNKNOWN\r\n"),
        "* ENABLED IMAP4rev2\r\ne OK ENABLE completed\r\n"
    );
    // IMAP4rev2: no RECENT/UNSEEN, a LIST response, and ESEARCH for SEARCH.
    let s = h.send_str("s SELECT INBOX\r\n");
    assert!(
        !s.contains("RECENT") && s.contains("* LIST () \"/\" \"INBOX\"\r\n"),
        "{s}"
    );
    assert_eq!(
        h.send_str("f SEARCH ALL\r\n"),
        "* ESEARCH (TAG \"f\") ALL 1\r\nf OK SEARCH completed\r\n"
    );
}

#[test]
fn bad_commands_do_not_end_the_session() {
    let mut h = Harness::new();
    h.greet();
    assert_eq!(h.send_str("a FROB\r\n"), "a BAD Unknown command FROB\r\n");
    assert_eq!(h.send_str("\r\n"), "* BAD Missing or invalid tag\r\n");
    assert_eq!(h.send_str("b LOGIN\r\n"), "b BAD Expected space\r\n");
    assert_eq!(h.send_str("c NOOP extra\r\n"), "c BAD Unexpected extra arguments\r\n");
    assert_eq!(h.send_str("d LOGIN {99999999999}\r\n"), "d BAD Literal too large\r\n");
    assert_eq!(h.send_str("e NOOP\r\n"), "e OK NOOP completed\r\n");
    let mut long = b"f NOOP ".to_vec();
    long.extend(std::iter::repeat_n(b'x', 70 * 1024));
    long.extend_from_slice(b"\r\ng NOOP\r\n");
    assert_eq!(h.send(&long), "f BAD Command line too long\r\ng OK NOOP completed\r\n");
}

#[test]
fn literal_caps_are_small_before_login() {
    let mut h = Harness::new();
    h.greet();
    assert_eq!(h.send_str("a LOGIN bob {9000}\r\n"), "a BAD Literal too large\r\n");
    assert_eq!(h.send_str("b LOGIN bob {6}\r\n"), "+ Ready for literal data\r\n");
    assert!(h.send_str("secret\r\n").starts_with("b OK"));
    assert_eq!(h.send_str("c APPEND INBOX {9000}\r\n"), "+ Ready for literal data\r\n");
}

#[test]
fn oversized_nonsync_literal_closes() {
    let mut h = Harness::new();
    h.greet();
    assert_eq!(
        h.send_str("a APPEND INBOX {999999999999+}\r\nxx"),
        "a BAD Literal too large\r\n* BYE Literal too large\r\n"
    );
    assert_eq!(h.last, gromox_runtime::Next::Close);
}

#[test]
fn sequence_sets_edge_cases() {
    let mut h = Harness::logged_in();
    h.send_str("s SELECT Trash\r\n");
    assert_eq!(h.send_str("a FETCH 1:* FLAGS\r\n"), "a OK FETCH completed\r\n");
    assert_eq!(h.send_str("b UID FETCH 1:* FLAGS\r\n"), "b OK FETCH completed\r\n");
    assert_eq!(h.send_str("c SEARCH 1:*\r\n"), "* SEARCH\r\nc OK SEARCH completed\r\n");
    h.send_str("s SELECT INBOX\r\n");
    // Many overlapping ranges cost no more than the folder.
    let many = vec!["1:*"; 15_000].join(",");
    assert_eq!(
        h.send_str(&format!("d FETCH {many} UID\r\n")),
        "* 1 FETCH (UID 1)\r\n* 2 FETCH (UID 2)\r\nd OK FETCH completed\r\n"
    );
    assert_eq!(
        h.send_str("e FETCH *:1 UID\r\n"),
        "* 1 FETCH (UID 1)\r\n* 2 FETCH (UID 2)\r\ne OK FETCH completed\r\n"
    );
    assert_eq!(
        h.send_str("f SEARCH 5:*\r\n"),
        "* SEARCH 2\r\nf OK SEARCH completed\r\n"
    );
    assert_eq!(
        h.send_str("g UID FETCH 5:* UID\r\n"),
        "* 2 FETCH (UID 2)\r\ng OK FETCH completed\r\n"
    );
}

#[test]
fn pipelined_commands_in_one_read() {
    let mut h = Harness::new();
    h.greet();
    let r = h.send_str("a NOOP\r\nb LOGIN bob secret\r\nc SELECT INBOX\r\nd FETCH 1 UID\r\n");
    assert!(r.starts_with("a OK NOOP completed\r\nb OK ["), "{r}");
    assert!(r.ends_with("* 1 FETCH (UID 1)\r\nd OK FETCH completed\r\n"), "{r}");
}

#[test]
fn big_fetch_is_streamed_in_chunks() {
    let store = imapd::memstore::MemStore::new();
    store.add_user("bob", "secret");
    let body = format!("Subject: big\r\n\r\n{}\r\n", "y".repeat(10_000));
    for _ in 0..200 {
        store.deliver("bob", "INBOX", &[], body.as_bytes());
    }
    let cfg = Config {
        out_chunk: 32 * 1024,
        fetch_batch: 2,
        ..Config::default()
    };
    let mut h = Harness::with(store, cfg);
    h.greet();
    h.send_str("l LOGIN bob secret\r\ns SELECT INBOX\r\n");
    h.max_out = 0;
    let r = h.send_str("f FETCH 1:* BODY.PEEK[]\r\n");
    assert_eq!(r.matches(" FETCH (BODY[] {").count(), 200);
    assert!(r.ends_with("f OK FETCH completed\r\n"));
    // Each call produced at most one chunk plus one batch of messages.
    assert!(h.max_out < 32 * 1024 + 2 * 10_100, "max_out {}", h.max_out);
}

#[test]
fn autologout_says_bye() {
    let mut h = Harness::logged_in();
    let mut out = Vec::new();
    let mut cx = gromox_runtime::Cx {
        out: &mut out,
        info: &h.info,
        tls_active: false,
        idle_timeout: None,
        handle: gromox_runtime::ConnHandle::detached(),
    };
    use gromox_runtime::Session;
    assert_eq!(h.sess.timed_out(&mut cx), gromox_runtime::Next::Close);
    assert_eq!(String::from_utf8_lossy(&out), "* BYE Autologout; idle for too long\r\n");
}
