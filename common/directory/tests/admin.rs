//! gromox-admin and gromox-dbop on SQLite and MariaDB: the same commands give the same
//! output on both backends.

mod common;

use common::Backend;

/// A session of admin commands; returns every (command, exit code, stdout, stderr).
fn scenario(b: &Backend) -> Vec<(String, i32, String, String)> {
    let steps: Vec<(Vec<&str>, &str)> = vec![
        (vec!["domain", "add", "Example.org", "--title", "Example Inc."], ""),
        (vec!["domain", "add", "example.org"], ""),
        (vec!["domain", "add", "other.test", "--max-user", "1"], ""),
        (vec!["domain", "add", "../etc"], ""),
        (vec!["domain", "add", "a/b.test"], ""),
        (vec!["domain", "add", "bad\nname.test"], ""),
        (vec!["server", "add", "mx1.example.org", "mail.example.org"], ""),
        (vec!["server", "list"], ""),
        (
            vec![
                "user",
                "add",
                "alice@example.org",
                "--password-stdin",
                "--display-name",
                "Alice Liddell",
                "--lang",
                "en",
            ],
            "wonderland",
        ),
        (
            vec![
                "user",
                "add",
                "bob@example.org",
                "--privileges",
                "imap,smtp",
                "--homeserver",
                "1",
            ],
            "",
        ),
        (vec!["user", "add", "Alice@EXAMPLE.org"], ""),
        (
            vec![
                "user",
                "add",
                "room1@example.org",
                "--type",
                "room",
                "--display-name",
                "Room 1",
            ],
            "",
        ),
        (
            vec![
                "user",
                "add",
                "o'brien\"x@example.org",
                "--display-name",
                "O'Brien \"X\"",
            ],
            "",
        ),
        (vec!["user", "add", "a@other.test"], ""),
        (vec!["user", "add", "b@other.test"], ""),
        (vec!["user", "add", "x@nodomain.test"], ""),
        (vec!["user", "add", "../etc@example.org"], ""),
        (vec!["user", "add", "a/b@example.org"], ""),
        (vec!["user", "add", "a..b@example.org"], ""),
        (vec!["user", "add", "a\u{1}b@example.org"], ""),
        (vec!["user", "add", "a\0b@example.org"], ""),
        (vec!["user", "add", &LONG], ""),
        (vec!["user", "add", "x@ex..org"], ""),
        (vec!["alias", "add", "al@example.org", "alice@example.org"], ""),
        (vec!["alias", "add", "bob@example.org", "alice@example.org"], ""),
        (vec!["altname", "add", "alice@example.org", "alice"], ""),
        (
            vec![
                "user",
                "set",
                "bob@example.org",
                "--status",
                "suspended",
                "--display-name",
                "Bob B.",
            ],
            "",
        ),
        (vec!["user", "show", "alice@example.org"], ""),
        (vec!["user", "show", "bob@example.org"], ""),
        (vec!["--json", "user", "show", "bob@example.org"], ""),
        (vec!["user", "list", "example.org"], ""),
        (vec!["user", "list", "--type", "room"], ""),
        (vec!["mlist", "add", "team@example.org", "--privilege", "internal"], ""),
        (
            vec!["mlist", "member", "add", "team@example.org", "alice@example.org"],
            "",
        ),
        (
            vec!["mlist", "member", "add", "team@example.org", "ext@remote.test"],
            "",
        ),
        (
            vec!["mlist", "member", "add", "team@example.org", "ext@remote.test"],
            "",
        ),
        (
            vec![
                "mlist",
                "privilege",
                "team@example.org",
                "specified",
                "--specified",
                "alice@example.org",
            ],
            "",
        ),
        (vec!["mlist", "show", "team@example.org"], ""),
        (
            vec!["mlist", "member", "del", "team@example.org", "ext@remote.test"],
            "",
        ),
        (vec!["mlist", "list"], ""),
        (vec!["domain", "list"], ""),
        (vec!["--json", "domain", "show", "example.org"], ""),
        (vec!["domain", "set", "other.test", "--status", "suspended"], ""),
        (vec!["domain", "show", "other.test"], ""),
        (
            vec!["user", "passwd", "alice@example.org", "--password-stdin"],
            "looking-glass",
        ),
        (vec!["user", "passwd", "alice@example.org"], ""),
        (vec!["auth-test", "alice@example.org"], "looking-glass"),
        (vec!["auth-test", "alice"], "looking-glass"),
        (vec!["auth-test", "alice@example.org"], "wonderland"),
        (vec!["auth-test", "bob@example.org"], "anything"),
        (vec!["alias", "del", "al@example.org"], ""),
        (vec!["alias", "del", "al@example.org"], ""),
        (vec!["altname", "del", "alice"], ""),
        (vec!["domain", "del", "example.org"], ""),
        (vec!["mlist", "del", "team@example.org"], ""),
        (vec!["user", "del", "bob@example.org"], ""),
        (vec!["user", "show", "bob@example.org"], ""),
        (vec!["user", "frobnicate"], ""),
    ];
    let mut out = Vec::new();
    for (args, stdin) in steps {
        let (code, o, e) = b.admin(&args, stdin);
        out.push((args.join(" "), code, o, e));
    }
    out
}

static LONG: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| format!("{}@example.org", "a".repeat(65)));

fn find<'a>(r: &'a [(String, i32, String, String)], cmd: &str) -> &'a (String, i32, String, String) {
    r.iter().find(|x| x.0 == cmd).unwrap_or_else(|| panic!("no step {cmd}"))
}

fn check_sqlite_results(r: &[(String, i32, String, String)]) {
    let code = |c: &str| find(r, c).1;
    let out = |c: &str| find(r, c).2.clone();
    let err = |c: &str| find(r, c).3.clone();
    assert_eq!(code("domain add Example.org --title Example Inc."), 0);
    assert_eq!(code("domain add example.org"), 1);
    assert!(err("domain add example.org").contains("domain example.org already exists"));
    assert!(out("server list").contains("mx1.example.org"));
    for bad in ["domain add ../etc", "domain add a/b.test", "domain add bad\nname.test"] {
        assert_eq!(code(bad), 1, "{bad:?} accepted");
        assert!(err(bad).contains("invalid name: domain"), "{bad:?}: {}", err(bad));
    }
    assert_eq!(code("user add Alice@EXAMPLE.org"), 1, "case-insensitive duplicate");
    assert!(err("user add Alice@EXAMPLE.org").contains("already exists"));
    assert_eq!(
        code("user add o'brien\"x@example.org --display-name O'Brien \"X\""),
        0,
        "quotes are harmless"
    );
    assert_eq!(code("user add b@other.test"), 1);
    assert!(err("user add b@other.test").contains("limit of 1 users"));
    assert!(err("user add x@nodomain.test").contains("domain nodomain.test not found"));
    for bad in [
        "user add ../etc@example.org",
        "user add a/b@example.org",
        "user add a..b@example.org",
        "user add a\u{1}b@example.org",
        "user add a\0b@example.org",
        "user add x@ex..org",
        &format!("user add {}", *LONG),
    ] {
        assert_eq!(code(bad), 1, "{bad:?} accepted");
        assert!(err(bad).contains("invalid name"), "{bad:?}: {}", err(bad));
    }
    assert!(err(&format!("user add {}", *LONG)).contains("longer than 64"));
    assert!(err("user add a/b@example.org").contains("slash"));
    assert_eq!(
        code("alias add bob@example.org alice@example.org"),
        1,
        "alias cannot shadow a user"
    );
    let alice = out("user show alice@example.org");
    assert!(
        alice.contains("Alice Liddell") && alice.contains("al@example.org") && alice.contains("altnames      alice"),
        "{alice}"
    );
    assert!(alice.contains("<STATE>/user/example.org/alice"), "{alice}");
    let bob = out("user show bob@example.org");
    assert!(
        bob.contains("suspended")
            && bob.contains("Bob B.")
            && bob.contains("imap/pop3,smtp (0x3)")
            && bob.contains("1 mx1.example.org"),
        "{bob}"
    );
    let bobj: serde_json::Value = serde_json::from_str(&out("--json user show bob@example.org")).unwrap();
    assert_eq!(bobj["privilege_bits"], 3);
    assert_eq!(bobj["status"], "suspended");
    let list = out("user list example.org");
    assert!(list.starts_with("USER"), "{list}");
    assert!(list.contains("room1@example.org") && list.contains("room"), "{list}");
    assert!(out("user list --type room").contains("room1@example.org"));
    assert!(!out("user list --type room").contains("alice"));
    assert_eq!(code("mlist member add team@example.org ext@remote.test"), 0);
    let show = out("mlist show team@example.org");
    assert!(
        show.contains("specified") && show.contains("alice@example.org, ext@remote.test"),
        "{show}"
    );
    assert!(out("domain show other.test").contains("suspended"));
    assert_eq!(code("user passwd alice@example.org"), 1);
    assert!(err("user passwd alice@example.org").contains("--password-stdin"));
    assert_eq!(
        code("auth-test alice@example.org"),
        0,
        "{}",
        err("auth-test alice@example.org")
    );
    assert_eq!(code("auth-test alice"), 0, "altname login");
    assert_eq!(code("auth-test bob@example.org"), 1, "suspended user");
    assert_eq!(code("alias del al@example.org"), 0);
    assert!(err("alias del al@example.org").is_empty());
    assert_eq!(
        code("domain del example.org"),
        1,
        "{}{}",
        out("domain del example.org"),
        out("domain list")
    );
    assert!(err("domain del example.org").contains("still has"));
    let last = r.iter().rev().find(|x| x.0 == "user show bob@example.org").unwrap();
    assert_eq!(last.1, 1, "deleted user still shown");
    assert!(last.3.contains("user bob@example.org not found"), "{}", last.3);
    assert_eq!(code("user frobnicate"), 2);
    // a wrong (old) password: the step with "wonderland" after the change.
    let wrong = r
        .iter()
        .filter(|x| x.0 == "auth-test alice@example.org")
        .map(|x| x.1)
        .collect::<Vec<_>>();
    assert_eq!(wrong, vec![0, 1]);
}

#[test]
fn admin_commands_same_on_sqlite_and_mariadb() {
    let mut results = Vec::new();
    for b in common::backends("admin_commands") {
        assert_eq!(b.dbop(&["-C"]).0, 0);
        let r = scenario(&b);
        if b.name == "sqlite" {
            check_sqlite_results(&r);
        }
        results.push((b.name, r));
    }
    if results.len() == 2 {
        let (s, m) = (&results[0].1, &results[1].1);
        assert_eq!(s.len(), m.len());
        eprintln!("compared {} gromox-admin steps on SQLite and MariaDB", s.len());
        for (a, b) in s.iter().zip(m.iter()) {
            assert_eq!(a, b, "sqlite and mariadb differ on `{}`", a.0);
        }
    }
}

#[test]
fn dbop_creates_and_upgrades_step_by_step() {
    for b in common::backends("dbop") {
        let (code, out, err) = b.dbop(&["-U"]);
        assert_eq!(code, 1, "{}", b.name);
        assert!(err.contains("no schema; use -C"), "{err}");
        // A version-1 database, as an older release left it.
        {
            let d = gromox_directory::Directory::open_unchecked(&b.config()).unwrap();
            gromox_directory::schema::create_v1_only(&mut d.db().conn().unwrap()).unwrap();
        }
        let (code, _, err) = b.admin(&["domain", "list"], "");
        assert_eq!(code, 2);
        assert!(err.contains("older than 3; run gromox-dbop -U"), "{err}");
        let (code, out2, _) = b.dbop(&["-U"]);
        assert_eq!(code, 0);
        assert_eq!(out2, "schema upgraded from version 1 to 3\n", "{}", b.name);
        assert_eq!(b.dbop(&["-U"]).1, "schema is current, version 3\n");
        let (code, _, err) = b.dbop(&["-C"]);
        assert_eq!(code, 1);
        assert!(err.contains("has a schema already (version 3)"), "{err}");
        assert!(b.ok(&["server", "add", "h.example.org"]).contains("id 1"));
        let _ = out;
    }
    let fresh = common::sqlite();
    assert_eq!(fresh.dbop(&["-C"]).1, "schema created, version 3\n");
    assert_eq!(fresh.dbop(&[]).0, 2);
}
