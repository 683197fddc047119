//! imapd end to end over the real suite: eventd, exmdbd, midbd, lmtpd and imapd binaries on
//! 127.0.0.1 port 0 with a real user directory. Mail delivered by LMTP (Python's smtplib)
//! comes out of IMAP (Python's imaplib and imapclient) byte-identical apart from the trace
//! headers lmtpd prepends; flags set over IMAP are the store's read state; APPEND, COPY,
//! CREATE/RENAME/DELETE reach the store; an IDLE client sees a delivery within a second;
//! failed logins are refused and logged.
//!
//! The other daemons' binaries must be built in the same target directory (`cargo test
//! --workspace` does that).

use std::path::{Path, PathBuf};
use std::process::Command;

use gromox_base::Config;
use gromox_testkit::{bin, python, Daemon, TestDir};

struct Suite {
    dir: TestDir,
    state: PathBuf,
    _eventd: Daemon,
    _exmdbd: Daemon,
    midbd: Daemon,
    lmtpd: Daemon,
    imapd: Daemon,
    log: PathBuf,
}

fn conf(dir: &TestDir, sub: &str, name: &str, keys: &[(&str, &str)]) -> PathBuf {
    std::fs::create_dir_all(dir.path().join(sub)).unwrap();
    dir.write_config(&format!("{sub}/{name}"), keys)
}

fn start(dir: &TestDir, bin: &Path, cfg: &Path) -> Daemon {
    Daemon::start(bin, &["-c", cfg.to_str().unwrap()], dir.path()).unwrap()
}

fn suite() -> Suite {
    let dir = TestDir::new();
    let state = dir.path().join("state");
    let st = state.to_str().unwrap().to_string();
    let mut cfg = Config::defaults("test", &gromox_directory::config_keys());
    cfg.set("state_path", &st).unwrap();
    gromox_directory::ensure_demo(&cfg, "example.org", "alice", "pw 123 456").unwrap();
    let maildir = gromox_base::names::user_maildir(&state, "alice@example.org").unwrap();
    exmdbd::Store::create_private(&maildir, "alice@example.org", "en", false, &Default::default()).unwrap();

    let c = conf(
        &dir,
        "eventd",
        "event.cfg",
        &[("event_listen", "127.0.0.1:0"), ("event_hosts_allow", "127.0.0.1")],
    );
    let eventd = start(&dir, &bin("eventd"), &c);
    let event = eventd.addr("event_listen").to_string();
    let c = conf(
        &dir,
        "exmdbd",
        "exmdb_provider.cfg",
        &[("state_path", &st), ("exmdb_listen", "127.0.0.1:0")],
    );
    let exmdbd = start(&dir, &bin("exmdbd"), &c);
    let exmdb = exmdbd.addr("exmdb_listen").to_string();
    let c = conf(
        &dir,
        "midbd",
        "midb.cfg",
        &[
            ("state_path", &st),
            ("midb_listen", "127.0.0.1:0"),
            ("exmdb_listen", &exmdb),
        ],
    );
    let midbd = start(&dir, &bin("midbd"), &c);
    let midb = midbd.addr("midb_listen").to_string();
    let c = conf(
        &dir,
        "lmtpd",
        "smtp.cfg",
        &[
            ("state_path", &st),
            ("lda_listen", "127.0.0.1:0"),
            ("event_listen", &event),
            ("exmdb_listen", &exmdb),
        ],
    );
    let lmtpd = start(&dir, &bin("lmtpd"), &c);
    let log = dir.path().join("imapd.log");
    let c = conf(
        &dir,
        "imapd",
        "imap.cfg",
        &[
            ("state_path", &st),
            ("imap_listen", "127.0.0.1:0"),
            ("midb_listen", &midb),
            ("event_listen", &event),
            ("imapd_log_file", log.to_str().unwrap()),
            ("auth_fail_delay", "0"),
        ],
    );
    let imapd = Daemon::start(
        Path::new(env!("CARGO_BIN_EXE_imapd")),
        &["-c", c.to_str().unwrap()],
        dir.path(),
    )
    .unwrap();
    Suite {
        dir,
        state,
        _eventd: eventd,
        _exmdbd: exmdbd,
        midbd,
        lmtpd,
        imapd,
        log,
    }
}

impl Suite {
    fn run(&self, script: &str, args: &[&str]) -> String {
        let imap = self.imapd.addr("imap_listen");
        let lmtp = self.lmtpd.addr("lda_listen");
        let out = Command::new(python())
            .arg("-c")
            .arg(script)
            .args([imap.ip().to_string(), imap.port().to_string(), lmtp.port().to_string()])
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .expect("python3 runs");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{stdout}\n{}\nimapd:\n{}\nmidbd:\n{}\nlog:\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.imapd.output(),
            self.midbd.output(),
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
        stdout
    }
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// Deliver over LMTP, then read, flag, search, copy, append, manage folders with imaplib.
const SESSION: &str = r#"
import imaplib, smtplib, sys, re
host, port, lport, fixture = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
sent = open(fixture, "rb").read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
s = smtplib.LMTP(host, lport)
s.sendmail("bob@example.net", ["alice@example.org"], sent)
s.sendmail("bob@example.net", ["alice@example.org"], b"Subject: second one\r\nFrom: bob@example.net\r\n\r\nhello there\r\n")
s.quit()

m = imaplib.IMAP4(host, port)
typ, caps = m.capability()
assert b"IMAP4rev1" in caps[0] and b"IDLE" in caps[0], caps
try:
    m.login("alice@example.org", "wrong")
    raise SystemExit("bad password accepted")
except imaplib.IMAP4.error as e:
    assert "AUTHENTICATIONFAILED" in str(e), e
m = imaplib.IMAP4(host, port)
m.login("alice@example.org", "pw 123 456")
typ, lst = m.list()
names = b"\n".join(lst)
assert b'"INBOX"' in names or b" INBOX" in names, names
assert b"\\Sent" in names and b"\\Trash" in names, names
typ, d = m.select("INBOX")
assert typ == "OK" and d[0] == b"2", d
typ, d = m.uid("FETCH", "1:*", "(UID FLAGS RFC822.SIZE)")
assert len(d) == 2, d
typ, d = m.fetch("1", "(BODY.PEEK[])")
body = d[0][1]
# lmtpd prepends its trace header (Received:); the rest is what was sent.
assert body.endswith(sent), (len(body), len(sent))
assert body[: len(body) - len(sent)].startswith(b"Received: "), body[:200]
typ, d = m.fetch("2", "(ENVELOPE BODYSTRUCTURE)")
assert b"second one" in b"".join(x if isinstance(x, bytes) else b"".join(x) for x in d if x), (typ, d)
typ, d = m.search(None, "SUBJECT", "second")
assert d[0] == b"2", d
typ, d = m.store("2", "+FLAGS", "(\\Seen \\Flagged)")
assert b"\\Seen" in d[0] and b"\\Flagged" in d[0], d
typ, d = m.search(None, "UNSEEN")
assert d[0] == b"1", d
typ, d = m.create("Projects")
assert typ == "OK", d
# imaplib drops the tagged OK's response code; send UID COPY by hand to see COPYUID.
tag = m._new_tag()
m.send(tag + b" UID COPY 1:* Projects\r\n")
while True:
    line = m.readline()
    if line.startswith(tag):
        break
assert b"OK [COPYUID " in line, line
typ, d = m.append("Projects", "(\\Seen)", None, b"Subject: appended\r\nFrom: me@example.org\r\n\r\nnote\r\n")
assert typ == "OK" and b"APPENDUID" in d[0], d
typ, d = m.status("Projects", "(MESSAGES UNSEEN)")
assert b"MESSAGES 3" in d[0] and b"UNSEEN 1" in d[0], d
typ, d = m.rename("Projects", "Archive")
assert typ == "OK", d
typ, d = m.select("Archive")
assert d[0] == b"3", d
typ, d = m.store("1", "+FLAGS", "\\Deleted")
typ, d = m.expunge()
assert d[0] == b"1", d
typ, d = m.select("Archive")
assert d[0] == b"2", d
m.close()
typ, d = m.delete("Archive")
assert typ == "OK", d
typ, lst = m.list()
assert b"Archive" not in b"\n".join(lst), lst
m.logout()
print("ok")
"#;

#[test]
fn imaplib_session_over_the_real_suite() {
    let s = suite();
    let out = s.run(SESSION, &[fixture("cpython-test_email-msg_01.eml").to_str().unwrap()]);
    assert!(out.contains("ok"), "{out}");
    // The store: the flagged message is read there; the failed login was logged for fail2ban.
    let maildir = gromox_base::names::user_maildir(&s.state, "alice@example.org").unwrap();
    let store = exmdbd::Store::open(&maildir, &Default::default()).unwrap();
    let inbox = store.list_messages(0x0d, false).unwrap();
    assert_eq!(inbox.len(), 2);
    assert_eq!(
        inbox.iter().filter(|m| store.is_read(**m).unwrap()).count(),
        1,
        "one message read through IMAP"
    );
    let log = std::fs::read_to_string(&s.log).unwrap_or_default() + &s.imapd.output();
    assert!(
        log.contains("user=alice@example.org LOGIN rejected"),
        "no fail2ban line in:\n{log}"
    );
    assert!(!log.contains("wrong"), "password in the log:\n{log}");
}

/// IDLE: a message delivered by LMTP shows up as EXISTS within a second.
const IDLE: &str = r#"
import imaplib, smtplib, sys, time, socket
host, port, lport = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
m = imaplib.IMAP4(host, port)
m.login("alice@example.org", "pw 123 456")
m.select("INBOX")
tag = m._new_tag()
m.send(tag + b" IDLE\r\n")
assert m.readline().startswith(b"+"), "no continuation"
time.sleep(0.3)
t0 = time.time()
s = smtplib.LMTP(host, lport)
s.sendmail("bob@example.net", ["alice@example.org"], b"Subject: while idle\r\n\r\nping\r\n")
s.quit()
m.sock.settimeout(5)
line = m.readline()
elapsed = time.time() - t0
assert b"EXISTS" in line, line
assert elapsed < 1.0, elapsed
m.send(b"DONE\r\n")
while True:
    l = m.readline()
    if l.startswith(tag):
        assert b"OK" in l, l
        break
m.logout()
print("idle ok %.3f" % elapsed)
"#;

#[test]
fn idle_sees_an_lmtp_delivery_within_a_second() {
    let s = suite();
    let out = s.run(IDLE, &[]);
    assert!(out.contains("idle ok"), "{out}");
}

/// Every e-mail of the corpus (`common/convert/tests/fixtures/eml`, attribution there),
/// delivered by LMTP, comes back through imapclient with `BODY[]` byte-identical to what
/// smtplib sent (after lmtpd's trace header), and BODYSTRUCTURE has the MIME tree Python's
/// email package derives (types and subtypes in depth-first order, into message/rfc822).
const CORPUS: &str = r#"
import imapclient, smtplib, sys, os, re, email, email.policy, email.utils
host, port, lport, corpus = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
names = sorted(os.listdir(corpus))
sent = {}
s = smtplib.LMTP(host, lport)
for n in names:
    raw = open(os.path.join(corpus, n), "rb").read()
    data = re.sub(rb"\r\n|\r|\n", b"\r\n", raw)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    s.sendmail("corpus@example.net", ["alice@example.org"], data)
    sent[n] = data
s.quit()

def ref_tree(m):
    out = [m.get_content_type()]
    # IMAP descends only into multipart/* and message/rfc822 (delivery-status and
    # external-body are leaves there, while Python models their header blocks as parts).
    if m.is_multipart() and m.get_content_maintype() == "multipart":
        for p in m.get_payload():
            out += ref_tree(p)
    elif m.get_content_type() == "message/rfc822":
        inner = m.get_payload()
        if isinstance(inner, list) and inner:
            out += ref_tree(inner[0])
    return out

def imap_tree(bs):
    if isinstance(bs[0], (list, tuple)):
        out = ["multipart/" + bs[1].decode().lower()]
        for p in bs[0]:
            out += imap_tree(p)
        return out
    t = (bs[0].decode() + "/" + bs[1].decode()).lower()
    out = [t]
    if t == "message/rfc822" and len(bs) > 8 and bs[8] is not None:
        out += imap_tree(bs[8])
    return out

c = imapclient.IMAPClient(host, port=port, ssl=False)
c.login("alice@example.org", "pw 123 456")
c.select_folder("INBOX")
uids = c.search(["ALL"])
assert len(uids) == len(names), (len(uids), len(names))
bad_body, bad_tree, bad_env = [], [], []
for uid, n in zip(uids, names):
    r = c.fetch([uid], ["BODY.PEEK[]", "BODYSTRUCTURE", "ENVELOPE"])[uid]
    body = r[b"BODY[]"]
    if not (body.endswith(sent[n]) and body[: len(body) - len(sent[n])].startswith(b"Received: ")):
        bad_body.append(n)
    ref = ref_tree(email.message_from_bytes(sent[n], policy=email.policy.compat32))
    got = imap_tree(r[b"BODYSTRUCTURE"])
    if ref != got:
        bad_tree.append((n, ref, got))
    # ENVELOPE: subject (raw, unfolded) and the first From address.
    m = email.message_from_bytes(sent[n], policy=email.policy.compat32)
    env = r[b"ENVELOPE"]
    want_subject = m["Subject"]
    if want_subject is not None:
        # RFC 5322 §2.2.3 unfolding removes the line break and keeps the white space.
        want_subject = re.sub(r"\r?\n(?=[ \t])", "", str(want_subject))
        got_subject = (env.subject or b"").decode("utf-8", "replace")
        if got_subject.strip() != want_subject.strip():
            bad_env.append((n, "subject", want_subject, got_subject))
    frm = email.utils.getaddresses(m.get_all("From", []))
    if frm and frm[0][1] and "@" in frm[0][1] and env.from_:
        a = env.from_[0]
        got_addr = "%s@%s" % ((a.mailbox or b"").decode(), (a.host or b"").decode())
        if got_addr.lower() != frm[0][1].lower():
            bad_env.append((n, "from", frm[0][1], got_addr))
c.logout()
print("messages", len(names))
print("body mismatches", bad_body)
print("envelope mismatches", bad_env)
for b in bad_tree:
    print("tree mismatch", b)
"#;

#[test]
fn corpus_through_lmtp_comes_back_byte_identical_with_the_reference_structure() {
    let s = suite();
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../common/convert/tests/fixtures/eml");
    let out = s.run(CORPUS, &[corpus.to_str().unwrap()]);
    assert!(out.contains("messages 48"), "{out}");
    assert!(out.contains("body mismatches []"), "{out}");
    assert!(out.contains("envelope mismatches []"), "{out}");
    // Malformed structures where IMAP's answer differs from Python's by design: a multipart
    // without a usable boundary or without parts is a text/plain leaf (BODYSTRUCTURE requires
    // at least one part), a nested multipart that reuses its parent's boundary cannot be
    // split, and empty parts between consecutive delimiters are parts (RFC 2046 §5.1.1).
    const MALFORMED: [&str; 8] = [
        "msg_15.eml",
        "msg_17.eml",
        "msg_25.eml",
        "msg_31.eml",
        "msg_37.eml",
        "msg_39.eml",
        "msg_41.eml",
        "msg_42.eml",
    ];
    let trees: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("tree mismatch"))
        .filter(|l| !MALFORMED.iter().any(|m| l.contains(m)))
        .collect();
    assert!(trees.is_empty(), "{}", trees.join("\n"));
}

/// mutt (Debian's, driven through a pseudo-terminal): a message delivered by LMTP is read
/// over IMAP and copied into a local mbox, which then holds the message's text.
const MUTT: &str = r#"
import os, pty, select, smtplib, sys, time
host, port, lport, workdir = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
s = smtplib.LMTP(host, lport)
s.sendmail("carol@example.net", ["alice@example.org"],
           b"From: Carol <carol@example.net>\r\nTo: alice@example.org\r\n"
           b"Subject: read by mutt\r\nMessage-ID: <mutt-1@example.net>\r\n\r\n"
           b"The body mutt saves.\r\n")
s.quit()
out = os.path.join(workdir, "saved.mbox")
rc = os.path.join(workdir, "muttrc")
with open(rc, "w") as f:
    f.write(f'''set imap_user="alice@example.org"
set imap_pass="pw 123 456"
set folder="imap://{host}:{port}/"
set spoolfile="+INBOX"
set ssl_starttls=no
set ssl_force_tls=no
set mbox_type=mbox
set confirmappend=no
set confirmcreate=no
set quit=yes
set header_cache=""
set message_cachedir=""
set imap_check_subscribed=no
set mail_check=60
push "<tag-pattern>~A<enter><tag-prefix><copy-message>{out}<enter><quit>"
''')
env = dict(os.environ, HOME=workdir, TERM="vt100", LC_ALL="C.UTF-8")
pid, fd = pty.fork()
if pid == 0:
    os.execvpe("mutt", ["mutt", "-n", "-F", rc, "-f", f"imap://{host}:{port}/INBOX"], env)
screen = b""
deadline = time.time() + 30
while time.time() < deadline:
    r, _, _ = select.select([fd], [], [], 0.5)
    if r:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        screen += chunk
    if os.waitpid(pid, os.WNOHANG)[0] == pid:
        break
else:
    os.kill(pid, 9)
    sys.exit("mutt did not finish: " + screen[-2000:].decode("latin-1"))
data = open(out, "rb").read()
assert b"Subject: read by mutt" in data, data[:2000]
assert b"The body mutt saves." in data, data[:2000]
assert data.startswith(b"From "), data[:200]
print("mutt ok")
"#;

#[test]
fn mutt_reads_a_delivered_message_over_imap() {
    if Command::new("mutt").arg("-v").output().is_err() {
        eprintln!("mutt is not installed (Debian package mutt): skipped");
        return;
    }
    let s = suite();
    let work = s.dir.path().join("mutt");
    std::fs::create_dir_all(&work).unwrap();
    let out = s.run(MUTT, &[work.to_str().unwrap()]);
    assert!(out.contains("mutt ok"), "{out}");
}

/// QRESYNC over midbd's expunge log (RFC 7162 §3.2.5): a client that knew the folder at
/// HIGHESTMODSEQ m learns on SELECT (QRESYNC (v m)) which UIDs vanished since; GETQUOTAROOT
/// reports the store's size against its quota.
const QRESYNC: &str = r#"
import imaplib, smtplib, sys, re
host, port, lport = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = smtplib.LMTP(host, lport)
for i in range(3):
    s.sendmail("bob@example.net", ["alice@example.org"], b"Subject: q%d\r\n\r\nbody\r\n" % i)
s.quit()
m = imaplib.IMAP4(host, port)
m.login("alice@example.org", "pw 123 456")
assert b"QRESYNC" in m.capabilities or "QRESYNC" in m.capabilities, m.capabilities
typ, _ = m.enable("QRESYNC")
assert typ == "OK"
typ, _ = m.select("INBOX")
validity = int(m.untagged_responses["UIDVALIDITY"][0])
modseq = int(m.untagged_responses["HIGHESTMODSEQ"][0])
typ, d = m.uid("SEARCH", "ALL")
uids = [int(x) for x in d[0].split()]
assert len(uids) == 3, uids
# Another session removes the middle message.
o = imaplib.IMAP4(host, port)
o.login("alice@example.org", "pw 123 456")
o.select("INBOX")
o.uid("STORE", str(uids[1]), "+FLAGS", "(\\Deleted)")
o.expunge()
o.logout()
m.close()
m.untagged_responses.clear()
typ, d = m._simple_command("SELECT", "INBOX (QRESYNC (%d %d))" % (validity, modseq))
assert typ == "OK", d
v = m.untagged_responses.get("VANISHED", [])
assert any(("(EARLIER) %d" % uids[1]).encode() in x for x in v), v
typ, d = m.getquotaroot("INBOX")
assert typ == "OK", d
q = b" ".join(x for part in d for x in part)
mt = re.search(rb"STORAGE (\d+) (\d+)", q)
assert mt and int(mt.group(2)) == 50, q
assert int(mt.group(1)) > 0, q
m.logout()
print("qresync ok")
"#;

#[test]
fn qresync_vanished_and_quota_through_midbd() {
    let s = suite();
    // A prohibit-send quota of 50 KiB on alice's store (RFC 9208 reports KiB).
    let maildir = gromox_base::names::user_maildir(&s.state, "alice@example.org").unwrap();
    let mut store = exmdbd::Store::open(&maildir, &Default::default()).unwrap();
    store
        .set_props(
            exmdbd::Obj::Store,
            &[gromox_mapi::props::TaggedVal {
                tag: gromox_mapi::props::PropTag(0x666E_0003),
                val: gromox_mapi::props::PropVal::I4(50),
            }],
        )
        .unwrap();
    drop(store);
    let out = s.run(QRESYNC, &[]);
    assert!(out.contains("qresync ok"), "{out}");
}

/// Impersonation: `actor!mailbox` with the actor's password opens the mailbox only once the
/// actor holds the store-owner right on it; AUTHENTICATE PLAIN with the mailbox as
/// authorization identity is the same login. What the actor APPENDs is in the owner's INBOX.
const IMPERSONATE: &str = r#"
import imaplib, sys, base64
host, port, lport, phase = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
def plain(authz, authc, pw):
    m = imaplib.IMAP4(host, port)
    try:
        m.authenticate("PLAIN", lambda _: ("%s\0%s\0%s" % (authz, authc, pw)).encode())
        return m
    except imaplib.IMAP4.error as e:
        m.logout()
        return str(e)
if phase == "before":
    m = imaplib.IMAP4(host, port)
    try:
        m.login("bob@example.org!alice@example.org", "bob pw")
        sys.exit("impersonation without the right was let in")
    except imaplib.IMAP4.error as e:
        print("refused:", e)
    r = plain("alice@example.org", "bob@example.org", "bob pw")
    assert isinstance(r, str), "PLAIN authzid without the right was let in"
    # Bob himself may log in.
    m = imaplib.IMAP4(host, port)
    m.login("bob@example.org", "bob pw")
    m.logout()
    print("before ok")
else:
    m = imaplib.IMAP4(host, port)
    try:
        m.login("bob@example.org!alice@example.org", "pw 123 456")
        sys.exit("the mailbox owner's password opened it for bob")
    except imaplib.IMAP4.error:
        pass
    m = imaplib.IMAP4(host, port)
    typ, _ = m.login("bob@example.org!alice@example.org", "bob pw")
    assert typ == "OK"
    typ, d = m.list()
    assert any(b"Sent" in x for x in d), d
    typ, d = m.append("INBOX", None, None, b"Subject: put there by bob\r\n\r\nhello\r\n")
    assert typ == "OK", d
    m.logout()
    m = plain("alice@example.org", "bob@example.org", "bob pw")
    assert not isinstance(m, str), m
    m.select("INBOX", readonly=True)
    typ, d = m.search(None, "SUBJECT", "bob")
    assert d[0].split(), d
    m.logout()
    m = imaplib.IMAP4(host, port)
    m.login("alice@example.org", "pw 123 456")
    m.select("INBOX", readonly=True)
    typ, d = m.search(None, "SUBJECT", "\"put there by bob\"")
    assert len(d[0].split()) == 1, d
    m.logout()
    print("after ok")
"#;

#[test]
fn impersonation_needs_the_store_owner_right() {
    let s = suite();
    let mut cfg = Config::defaults("test", &gromox_directory::config_keys());
    cfg.set("state_path", s.state.to_str().unwrap()).unwrap();
    gromox_directory::ensure_demo(&cfg, "example.org", "bob", "bob pw").unwrap();
    let out = s.run(IMPERSONATE, &["before"]);
    assert!(out.contains("before ok"), "{out}");
    let maildir = gromox_base::names::user_maildir(&s.state, "alice@example.org").unwrap();
    let mut store = exmdbd::Store::open(&maildir, &Default::default()).unwrap();
    store
        .set_permission(0x09, "bob@example.org", gromox_mapi::tags::frights::GROMOX_STORE_OWNER)
        .unwrap();
    drop(store);
    let out = s.run(IMPERSONATE, &["after"]);
    assert!(out.contains("after ok"), "{out}");
    let log = std::fs::read_to_string(&s.log).unwrap();
    assert!(
        log.contains("user=bob@example.org!alice@example.org LOGIN rejected: no_store-owner_right"),
        "{log}"
    );
    assert!(!log.contains("bob pw"), "password in the log");
}
