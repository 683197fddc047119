//! Content-table benchmark (issue "store part 2"): a folder of `TABLE_N` messages (default
//! 250,000, inserted directly in bulk so the set-up takes seconds), then
//! - a table sorted by delivery time (descending) and restricted by a subject substring:
//!   build + first page of 50 rows;
//! - seek to the middle and read 50 rows; seek by fraction;
//! - the same table without restriction;
//! - a categorized view grouped by sender (expanded, then collapsed), with a category
//!   collapsed/expanded, and one grouped by From (PR_SENT_REPRESENTING_NAME);
//! - table notifications: ten new messages applied one by one to a loaded sorted table, five
//!   to a categorized view (rebuilt and compared);
//! - a search folder over the folder: background population, then changes applied to it;
//! - peak RSS growth of the process over the whole run.
//!
//! `cargo bench -p exmdbd --bench table` (`TABLE_N=20000` for a quick run).

use std::time::Instant;

use exmdbd::table::{ContentTable, Origin, SortKey, TableSpec};
use exmdbd::Store;
use gromox_mapi::restriction::{FuzzyLevel, Restriction, FL_IGNORECASE};
use gromox_mapi::sqlcodec::{encode, SqlValue};
use gromox_mapi::tags::{PR_MESSAGE_DELIVERY_TIME, PR_SENDER_NAME, PR_SENT_REPRESENTING_NAME, PR_SUBJECT};
use gromox_mapi::{PropVal, TaggedVal};

const INBOX: i64 = 0x0d;

fn rss_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn to_sql(v: SqlValue) -> rusqlite::types::Value {
    match v {
        SqlValue::Integer(i) => rusqlite::types::Value::Integer(i),
        SqlValue::Real(f) => rusqlite::types::Value::Real(f),
        SqlValue::Text(t) => rusqlite::types::Value::Text(t),
        SqlValue::Blob(b) => rusqlite::types::Value::Blob(b),
    }
}

fn main() {
    let n: u64 = std::env::var("TABLE_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(250_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let md = dir.path().join("bench");
    let mut store = Store::create_private(&md, "bench@example.org", "en", false, &Default::default()).expect("store");
    let t0 = Instant::now();
    {
        let c = store.conn();
        c.execute_batch("BEGIN").expect("begin");
        let mut m = c
            .prepare(
                "INSERT INTO messages (message_id, parent_fid, is_associated, change_number, read_state, message_size, \
                 summary_delivery, summary_subject, summary_sender, summary_from) \
                 VALUES (?1, ?2, 0, ?3, ?4, 4096, ?5, ?6, ?7, ?7)",
            )
            .expect("prepare");
        let mut p = c
            .prepare("INSERT INTO message_properties (message_id, proptag, propval) VALUES (?1, ?2, ?3)")
            .expect("prepare");
        let words = ["invoice", "meeting", "report", "lunch", "release", "review", "budget"];
        for i in 0..n {
            let mid = 0x1_0000_0000 + i as i64;
            let subject = format!("{} {} #{i}", words[(i % 7) as usize], words[(i / 7 % 7) as usize]);
            let delivered = 133_000_000_000_000_000 + ((i * 7919) % n) * 10_000_000;
            let sender = format!("Sender {}", i % 97);
            // The row carries the summary columns as the store's message writer puts them.
            m.execute(rusqlite::params![
                mid,
                INBOX,
                mid,
                (i % 3 == 0) as i64,
                delivered as i64,
                subject,
                sender
            ])
            .expect("insert");
            for tv in [
                TaggedVal::new(PR_SUBJECT, PropVal::Unicode(subject)),
                TaggedVal::new(PR_MESSAGE_DELIVERY_TIME, PropVal::SysTime(delivered)),
                TaggedVal::new(PR_SENDER_NAME, PropVal::Unicode(sender.clone())),
                // "From" as Outlook shows it: the same name, as in mail not sent on behalf.
                TaggedVal::new(PR_SENT_REPRESENTING_NAME, PropVal::Unicode(sender)),
            ] {
                p.execute(rusqlite::params![mid, tv.tag.0 as i64, to_sql(encode(&tv.val))])
                    .expect("insert");
            }
        }
        drop((m, p));
        c.execute_batch("COMMIT").expect("commit");
    }
    println!("set-up: {n} messages inserted in {:.1} s", t0.elapsed().as_secs_f64());
    // The bulk insert wrote the summary columns as the store's writer does: check that.
    assert_eq!(exmdbd::schema::summary_stale(store.conn()).expect("check"), 0);
    let base_rss = rss_kb("VmRSS:");

    let by_time = vec![SortKey {
        tag: PR_MESSAGE_DELIVERY_TIME,
        descending: true,
    }];
    let restriction = Restriction::Content {
        level: FuzzyLevel::Substring,
        flags: FL_IGNORECASE,
        tag: PR_SUBJECT,
        value: TaggedVal::new(PR_SUBJECT, PropVal::Unicode("REPORT".into())),
    };
    for (label, r) in [
        ("sorted, restricted by subject substring", Some(restriction)),
        ("sorted, unrestricted", None),
    ] {
        let t = Instant::now();
        let mut table = ContentTable::load(
            &store,
            TableSpec {
                folder: INBOX as u64,
                restriction: r,
                sort: by_time.clone(),
                ..Default::default()
            },
        )
        .expect("table");
        let rows = table
            .query_rows(
                &store,
                &[PR_SUBJECT, PR_SENDER_NAME, PR_MESSAGE_DELIVERY_TIME],
                50,
                true,
                false,
            )
            .expect("rows");
        let first = t.elapsed();
        let t = Instant::now();
        table.seek(Origin::Beginning, (table.row_count() / 2) as i64);
        let mid_rows = table.query_rows(&store, &[PR_SUBJECT], 50, true, false).expect("rows");
        let seek = t.elapsed();
        let t = Instant::now();
        table.seek_fraction(3, 4);
        let _ = table.query_rows(&store, &[PR_SUBJECT], 50, true, false).expect("rows");
        let frac = t.elapsed();
        println!(
            "{label}: {} rows; build + first 50 rows {:.1} ms ({} rows); seek to middle + 50 rows {:.2} ms ({}); seek 3/4 + 50 rows {:.2} ms",
            table.row_count(),
            first.as_secs_f64() * 1e3,
            rows.len(),
            seek.as_secs_f64() * 1e3,
            mid_rows.len(),
            frac.as_secs_f64() * 1e3
        );
    }
    // Categorized by sender (97 senders), newest first inside each: all expanded, then all
    // collapsed (headers only) and one category expanded; then by From
    // (PR_SENT_REPRESENTING_NAME, Outlook's "arrange by From"), expanded.
    let by = |tag, expanded: usize| TableSpec {
        folder: INBOX as u64,
        sort: vec![SortKey { tag, descending: false }, by_time[0]],
        categories: 1,
        expanded,
        ..Default::default()
    };
    for (label, tag, expanded) in [
        ("sender", PR_SENDER_NAME, 1usize),
        ("sender", PR_SENDER_NAME, 0),
        ("From", PR_SENT_REPRESENTING_NAME, 1),
    ] {
        let t = Instant::now();
        let mut table = ContentTable::load(&store, by(tag, expanded)).expect("table");
        let rows = table
            .query_rows(&store, &[PR_SENDER_NAME, PR_SUBJECT], 50, true, false)
            .expect("rows");
        let first = t.elapsed();
        let row_count = table.row_count();
        let t = Instant::now();
        table.seek(Origin::Beginning, (table.row_count() / 2) as i64);
        let _ = table.query_rows(&store, &[PR_SUBJECT], 50, true, false).expect("rows");
        let seek = t.elapsed();
        let t = Instant::now();
        let header = table.rows().iter().find_map(|r| match r {
            exmdbd::table::Row::Header(id) => Some(*id),
            _ => None,
        });
        let changed = match header {
            Some(id) if expanded == 0 => table.expand_row(id).expect("expand"),
            Some(id) => table.collapse_row(id).expect("collapse"),
            None => 0,
        };
        let toggle = t.elapsed();
        println!(
            "categorized by {label}, {}: {} rows; build + first 50 rows {:.1} ms ({} rows); seek to middle + 50 rows {:.2} ms; {} one category ({changed} rows) {:.2} ms",
            if expanded == 1 { "expanded" } else { "collapsed" },
            row_count,
            first.as_secs_f64() * 1e3,
            rows.len(),
            seek.as_secs_f64() * 1e3,
            if expanded == 1 { "collapse" } else { "expand" },
            toggle.as_secs_f64() * 1e3
        );
    }
    // Table notifications: a loaded sorted table takes ten new messages one event at a time
    // (ContentTable::apply: binary search on current sort values, no rescan).
    {
        let mut table = ContentTable::load(
            &store,
            TableSpec {
                folder: INBOX as u64,
                sort: by_time.clone(),
                ..Default::default()
            },
        )
        .expect("table");
        let events = store.notifier().subscribe();
        let mut worst = 0f64;
        let mut total = 0f64;
        for i in 0..10u64 {
            let mut c = exmdbd::MessageContent::default();
            c.set(PR_SUBJECT, PropVal::Unicode(format!("new {i}")));
            c.set(
                PR_MESSAGE_DELIVERY_TIME,
                PropVal::SysTime(133_000_000_000_000_000 + (n / 2 + i) * 10_000_000),
            );
            store.create_message(INBOX as u64, &c, false).expect("create");
            let e = events.recv().expect("event");
            let t = Instant::now();
            let notes = table.apply(&store, &e).expect("apply");
            let dt = t.elapsed().as_secs_f64() * 1e3;
            assert_eq!(notes.len(), 1);
            worst = worst.max(dt);
            total += dt;
        }
        println!(
            "table notification (apply one new message to the sorted {}-row table): {:.2} ms average, {:.2} ms worst",
            table.row_count(),
            total / 10.0,
            worst
        );
    }
    // A categorized view takes new messages by a rebuild and a comparison of the row lists
    // (row-by-row notifications): five new messages from an existing sender.
    {
        let mut table = ContentTable::load(&store, by(PR_SENDER_NAME, 1)).expect("table");
        let events = store.notifier().subscribe();
        let (mut worst, mut total, mut notes) = (0f64, 0f64, 0);
        for i in 0..5u64 {
            let mut c = exmdbd::MessageContent::default();
            c.set(PR_SUBJECT, PropVal::Unicode(format!("categorized {i}")));
            c.set(PR_SENDER_NAME, PropVal::Unicode("Sender 5".into()));
            c.set(
                PR_MESSAGE_DELIVERY_TIME,
                PropVal::SysTime(133_000_000_000_000_000 + (n / 3 + i) * 10_000_000),
            );
            store.create_message(INBOX as u64, &c, false).expect("create");
            let e = events.recv().expect("event");
            let t = Instant::now();
            notes += table.apply(&store, &e).expect("apply").len();
            let dt = t.elapsed().as_secs_f64() * 1e3;
            worst = worst.max(dt);
            total += dt;
        }
        println!(
            "categorized notification (one new message: rebuild, compare, {} row notifications each): {:.1} ms average, {:.1} ms worst",
            notes / 5,
            total / 5.0,
            worst
        );
    }
    // The same 100 creates without a search folder, for comparison with the run below.
    let t = Instant::now();
    for i in 0..100 {
        let mut c = exmdbd::MessageContent::default();
        c.set(PR_SUBJECT, PropVal::Unicode(format!("plain {i}")));
        store.create_message(INBOX as u64, &c, false).expect("create");
    }
    let without = t.elapsed();
    // Search folder over the inbox (subject substring): background population in batches of
    // 1,000 evaluations, then a delivery that matches shown in the search folder's table.
    {
        let sf = store.create_search_folder(0x05, "reports").expect("search folder");
        let r = Restriction::Content {
            level: FuzzyLevel::Substring,
            flags: FL_IGNORECASE,
            tag: PR_SUBJECT,
            value: TaggedVal::new(PR_SUBJECT, PropVal::Unicode("REPORT".into())),
        };
        store
            .set_search_criteria(sf, Some(&r), Some(&[INBOX as u64]), 0)
            .expect("criteria");
        let t = Instant::now();
        let (mut steps, mut longest) = (0, 0f64);
        loop {
            let s0 = Instant::now();
            let p = store.search_step(1000).expect("step");
            longest = longest.max(s0.elapsed().as_secs_f64() * 1e3);
            steps += 1;
            if !p.more {
                break;
            }
        }
        let pop = t.elapsed();
        let found = store.search_results(sf).expect("results").len();
        let t = Instant::now();
        for i in 0..100 {
            let mut c = exmdbd::MessageContent::default();
            c.set(PR_SUBJECT, PropVal::Unicode(format!("report {i}")));
            store.create_message(INBOX as u64, &c, false).expect("create");
        }
        let with = t.elapsed();
        let t = Instant::now();
        let listed = ContentTable::load(
            &store,
            TableSpec {
                folder: sf,
                ..Default::default()
            },
        )
        .expect("table")
        .row_count();
        let flush = t.elapsed();
        println!(
            "search folder: population of {n} messages {:.2} s in {steps} steps (longest step {:.1} ms), {found} found; \
             100 creates with the search live {:.1} ms ({:.1} ms without), then its table ({listed} rows, the 100 queued changes applied) {:.1} ms",
            pop.as_secs_f64(),
            longest,
            with.as_secs_f64() * 1e3,
            without.as_secs_f64() * 1e3,
            flush.as_secs_f64() * 1e3
        );
    }
    println!(
        "RSS: {} MB after set-up, peak {} MB (growth during the table runs at most {} MB)",
        base_rss / 1024,
        rss_kb("VmHWM:") / 1024,
        rss_kb("VmHWM:").saturating_sub(base_rss) / 1024
    );
}
