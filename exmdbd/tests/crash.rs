//! A store survives SIGKILL in the middle of writing: it opens, passes mbck, and holds every
//! message whose delivery had returned.

use exmdbd::layout::fid;
use exmdbd::{MessageContent, Store, StoreOptions};
use gromox_mapi::tags::*;
use gromox_mapi::{PropVal, TaggedVal};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

const ENV_DIR: &str = "EXMDBD_CRASH_CHILD_DIR";

/// Child side: delivers in a loop and prints each id once `deliver_message` returned. Only
/// runs when spawned by `sigkill_during_delivery_loses_nothing_acknowledged`.
#[test]
#[ignore = "helper process for the SIGKILL test"]
fn crash_child() {
    let Ok(dir) = std::env::var(ENV_DIR) else { return };
    let mut st = Store::open(std::path::Path::new(&dir), &StoreOptions::default()).unwrap();
    let out = std::io::stdout();
    for i in 0u64.. {
        let body = format!("message {i} ").repeat(400); // ~5 KB, unique per message
        let c = MessageContent {
            props: vec![
                TaggedVal::new(PR_MESSAGE_CLASS, PropVal::Unicode("IPM.Note".into())),
                TaggedVal::new(PR_SUBJECT, PropVal::Unicode(format!("crash {i}"))),
                TaggedVal::new(PR_BODY, PropVal::Unicode(body.clone())),
            ],
            ..Default::default()
        };
        let mime = format!("Subject: crash {i}\r\n\r\n{body}\r\n");
        let d = st.deliver_message(None, &c, Some(mime.as_bytes())).unwrap();
        let mut o = out.lock();
        writeln!(o, "OK {} {i}", d.message).unwrap();
        o.flush().unwrap();
    }
}

#[test]
fn sigkill_during_delivery_loses_nothing_acknowledged() {
    let t = tempfile::tempdir().unwrap();
    drop(Store::create_private(t.path(), "alice@example.org", "en", false, &StoreOptions::default()).unwrap());
    let mut acked: Vec<(u64, u64)> = Vec::new();
    for round in 0..3 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--ignored", "--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env(ENV_DIR, t.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let want = 40 + round * 37;
        let mut seen = 0;
        while seen < want {
            let l = lines.next().unwrap().unwrap();
            if let Some(rest) = l.strip_prefix("OK ") {
                let mut it = rest.split(' ');
                acked.push((it.next().unwrap().parse().unwrap(), it.next().unwrap().parse().unwrap()));
                seen += 1;
            }
        }
        child.kill().unwrap(); // SIGKILL, while the child is mid-way through the next delivery
                               // Lines written before the kill were acknowledged too.
        for l in lines {
            let Ok(l) = l else { break };
            if let Some(rest) = l.strip_prefix("OK ") {
                let mut it = rest.split(' ');
                acked.push((it.next().unwrap().parse().unwrap(), it.next().unwrap().parse().unwrap()));
            }
        }
        child.wait().unwrap();
        let rep = exmdbd::mbck::check(t.path(), false).unwrap();
        assert!(rep.ok(), "round {round}: {:?}", rep.errors);
        let st = Store::open(t.path(), &StoreOptions::default()).unwrap();
        let present = st.list_messages(fid::INBOX, false).unwrap();
        for (mid, i) in &acked {
            assert!(present.contains(mid), "acknowledged message {mid} lost");
            let m = st.read_message(*mid).unwrap();
            assert_eq!(m.get(PR_SUBJECT).unwrap().as_str(), Some(format!("crash {i}").as_str()));
            assert!(m
                .get(PR_BODY)
                .unwrap()
                .as_str()
                .unwrap()
                .starts_with(&format!("message {i} ")));
            assert!(st.message_mime(*mid).unwrap().is_some());
        }
    }
    assert!(acked.len() >= 40 + 77 + 114);
}
