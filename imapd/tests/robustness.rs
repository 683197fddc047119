//! Randomised command streams: whatever a client sends, every tagged command gets exactly one
//! tagged completion, in order, and the session never panics.

mod common;

use common::*;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn pick<'a>(&mut self, v: &[&'a str]) -> &'a str {
        v[(self.next() % v.len() as u64) as usize]
    }
}

/// Command templates; `@set`, `@mbox`, `@att`, `@flags`, `@key`, `@lit` are filled in.
const TEMPLATES: &[&str] = &[
    "NOOP",
    "CAPABILITY",
    "CHECK",
    "SELECT @mbox",
    "EXAMINE @mbox",
    "UNSELECT",
    "CLOSE",
    "EXPUNGE",
    "UID EXPUNGE @set",
    "CREATE @mbox",
    "DELETE @mbox",
    "RENAME @mbox @mbox",
    "SUBSCRIBE @mbox",
    "UNSUBSCRIBE @mbox",
    "LIST \"\" *",
    "LIST (SUBSCRIBED) \"\" % RETURN (STATUS (MESSAGES UNSEEN))",
    "LSUB \"\" *",
    "STATUS @mbox (MESSAGES UIDNEXT SIZE)",
    "APPEND @mbox @flags @lit",
    "APPEND @mbox @lit",
    "FETCH @set @att",
    "UID FETCH @set @att",
    "STORE @set +FLAGS @flags",
    "UID STORE @set -FLAGS.SILENT @flags",
    "STORE @set FLAGS @flags",
    "SEARCH @key",
    "UID SEARCH RETURN (MIN MAX COUNT ALL) @key",
    "SEARCH RETURN (SAVE) @key",
    "COPY @set @mbox",
    "MOVE @set @mbox",
    "UID MOVE @set @mbox",
    "UID COPY @set @mbox",
    "NAMESPACE",
    "ID NIL",
    "SORT (SUBJECT) UTF-8 @key",
    "UID SORT (REVERSE DATE FROM) UTF-8 @key",
    "GETQUOTAROOT @mbox",
    "STATUS @mbox (HIGHESTMODSEQ DELETED-STORAGE)",
    "FETCH @set (FLAGS MODSEQ) (CHANGEDSINCE 2)",
    "UID STORE @set (UNCHANGEDSINCE 3) +FLAGS @flags",
    "ENABLE CONDSTORE",
    "FETCH @set (BINARY.PEEK[1] BINARY.SIZE[1])",
    "FROB",
    "LOGIN a b",
];
const SETS: &[&str] = &["1", "1:*", "*", "2,1", "$", "3:2", "1:2", "5", "0"];
const MBOXES: &[&str] = &["INBOX", "Trash", "Junk", "\"a b\"", "x/y", "Nope", "&AOQ-"];
const ATTS: &[&str] = &[
    "FLAGS",
    "(UID RFC822.SIZE ENVELOPE)",
    "BODY[]",
    "BODY.PEEK[1.MIME]<0.10>",
    "BODYSTRUCTURE",
    "FAST",
    "ALL",
    "(BODY[HEADER.FIELDS (SUBJECT)] BODY[TEXT])",
    "RFC822",
    "BODY[2.1]",
];
const FLAGS: &[&str] = &["(\\Seen)", "(\\Deleted $x)", "()", "(\\Flagged \\Answered)"];
const KEYS: &[&str] = &[
    "ALL",
    "UNSEEN",
    "OR SEEN DELETED",
    "SUBJECT a",
    "1:2",
    "$",
    "NOT UID 1",
    "LARGER 10",
];
const LITS: &[&str] = &["{3+}\r\nabc", "{17}\r\nSubject: x\r\n\r\nyz", "~{3+}\r\na\0b"];

fn command(rng: &mut Rng) -> String {
    let mut c = rng.pick(TEMPLATES).to_string();
    for (ph, list) in [
        ("@set", SETS),
        ("@mbox", MBOXES),
        ("@att", ATTS),
        ("@flags", FLAGS),
        ("@key", KEYS),
        ("@lit", LITS),
    ] {
        while let Some(i) = c.find(ph) {
            let v = rng.pick(list);
            c.replace_range(i..i + ph.len(), v);
        }
    }
    // Sometimes break it: drop one byte (never a line end, so framing stays one command).
    if rng.next().is_multiple_of(8) && !c.contains('{') {
        let i = (rng.next() % c.len() as u64) as usize;
        if c.is_char_boundary(i) && c.is_char_boundary(i + 1) {
            c.remove(i);
        }
    }
    c
}

#[test]
fn every_tagged_command_gets_exactly_one_completion() {
    for seed in 1..=200u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut h = Harness::logged_in();
        let mut sent = Vec::new();
        let mut input = String::new();
        for i in 0..60 {
            let tag = format!("t{i}");
            let line = format!("{tag} {}\r\n", command(&mut rng));
            input.push_str(&line);
            sent.push((tag, line));
        }
        let out = h.send(input.as_bytes());
        assert!(out.contains(" OK "), "seed {seed}: nothing succeeded\n{out}");
        let tags: Vec<&str> = out
            .split("\r\n")
            .filter_map(|l| l.split_once(' '))
            .filter(|(t, rest)| {
                t.starts_with('t') && (rest.starts_with("OK") || rest.starts_with("NO") || rest.starts_with("BAD"))
            })
            .map(|(t, _)| t)
            .collect();
        let expect: Vec<&str> = sent.iter().map(|(t, _)| t.as_str()).collect();
        // Literals inside FETCH output may contain lines starting with 't'; compare the
        // sequence of completions we can attribute.
        let got: Vec<&str> = tags.into_iter().filter(|t| expect.contains(t)).collect();
        assert_eq!(got, expect, "seed {seed}\ninput:\n{input}\noutput:\n{out}");
    }
}
