//! SQL pre-filters for content-table restrictions over the `messages` summary columns
//! ([`crate::schema::SUMMARY`]).
//!
//! A pre-filter is a SQL condition *implied by* the restriction (MS-OXCDATA §2.12): every
//! message the restriction accepts satisfies it, so the scan may skip the rows it rejects
//! without reading them into Rust. It never decides alone: the rows it lets through are still
//! tested by the one reference evaluator (`gromox_mapi::restriction::Matcher`), so a condition
//! that lets too much through costs time, never correctness. Where SQLite's matching could
//! disagree with the evaluator (non-ASCII text, whose case folding is Unicode's there and
//! ASCII-only in `LIKE`; values that are not text; an embedded NUL) the condition lets the row
//! through. Pushed down: content restrictions (§2.12.4) with an ASCII needle on a summary
//! string column, existence (§2.12.9) of a summary column, AND (any pushable part), OR (all
//! parts pushable), and comments (§2.12.11) around one of these.

use gromox_mapi::restriction::{FuzzyLevel, Restriction, FL_IGNORECASE, FL_IGNORENONSPACE, FL_LOOSE};
use gromox_mapi::PropTag;
use rusqlite::types::Value;

/// The condition (over the `messages` row `m`) and its bound values, if any part of `r` can
/// be pushed down. `column` names the summary column of a tag (`None`: not summarized here).
pub fn prefilter(r: &Restriction, column: &dyn Fn(PropTag) -> Option<&'static str>) -> Option<(String, Vec<Value>)> {
    match r {
        Restriction::And(parts) => {
            let pushed: Vec<_> = parts.iter().filter_map(|p| prefilter(p, column)).collect();
            join(pushed, " AND ")
        }
        Restriction::Or(parts) => {
            let pushed: Option<Vec<_>> = parts.iter().map(|p| prefilter(p, column)).collect();
            // An empty OR holds for nothing; leave that to the evaluator.
            join(pushed.filter(|v| !v.is_empty())?, " OR ")
        }
        Restriction::Comment {
            restriction: Some(inner),
            ..
        } => prefilter(inner, column),
        Restriction::Exist(tag) => {
            let col = column(*tag)?;
            Some((format!("m.{col} IS NOT NULL"), Vec::new()))
        }
        Restriction::Content {
            level,
            flags,
            tag,
            value,
        } => {
            let col = column(*tag)?;
            // Summary string columns hold single strings; the needle must be one too.
            if !is_string(*tag) {
                return None;
            }
            let needle = value.val.as_str()?;
            if !needle.is_ascii() {
                return None;
            }
            let fold = flags & (FL_IGNORECASE | FL_IGNORENONSPACE | FL_LOOSE) != 0;
            // Values SQLite may judge differently from the evaluator pass through: values
            // that are not text, and with case folding text with a non-ASCII character or a
            // NUL (its length in characters and in bytes differ). LIKE folds ASCII letters
            // only and stops at a NUL; the evaluator folds by Unicode, where two non-ASCII
            // characters lowercase to ASCII letters (U+0130 to "i\u{307}", U+212A to "k").
            // On ASCII text both agree (test `agrees_with_the_evaluator`).
            let passthrough = if fold {
                format!("(m.{col} IS NOT NULL AND (typeof(m.{col})<>'text' OR length(m.{col})<>octet_length(m.{col})))")
            } else {
                format!("(m.{col} IS NOT NULL AND typeof(m.{col})<>'text')")
            };
            let (test, bind) = if fold {
                // LIKE folds ASCII case only — the evaluator's rule for two ASCII strings.
                let escaped = like_escape(needle);
                let pattern = match level {
                    FuzzyLevel::FullString => escaped,
                    FuzzyLevel::Prefix => format!("{escaped}%"),
                    FuzzyLevel::Substring => format!("%{escaped}%"),
                };
                (format!("m.{col} LIKE ? ESCAPE '\\'"), pattern)
            } else {
                let test = match level {
                    FuzzyLevel::FullString => format!("m.{col}=?"),
                    FuzzyLevel::Prefix => format!("instr(m.{col}, ?)=1"),
                    FuzzyLevel::Substring => format!("instr(m.{col}, ?)>0"),
                };
                (test, needle.to_string())
            };
            Some((format!("({test} OR {passthrough})"), vec![Value::Text(bind)]))
        }
        _ => None,
    }
}

fn is_string(tag: PropTag) -> bool {
    matches!(tag.0 & 0xFFFF, 0x001E | 0x001F)
}

fn join(parts: Vec<(String, Vec<Value>)>, op: &str) -> Option<(String, Vec<Value>)> {
    if parts.is_empty() {
        return None;
    }
    let mut sql = String::from("(");
    let mut binds = Vec::new();
    for (i, (s, b)) in parts.into_iter().enumerate() {
        if i > 0 {
            sql.push_str(op);
        }
        sql.push_str(&s);
        binds.extend(b);
    }
    sql.push(')');
    Some((sql, binds))
}

/// `s` with LIKE's wildcards and the escape character escaped (`ESCAPE '\'`).
fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use gromox_mapi::{PropVal, TaggedVal};

    const SUBJECT: PropTag = PropTag(0x0037_001F);
    const OTHER: PropTag = PropTag(0x1000_001F);

    fn col(t: PropTag) -> Option<&'static str> {
        (t.id() == SUBJECT.id()).then_some("summary_subject")
    }

    fn content(needle: &str) -> Restriction {
        Restriction::Content {
            level: FuzzyLevel::Substring,
            flags: FL_IGNORECASE,
            tag: SUBJECT,
            value: TaggedVal::new(SUBJECT, PropVal::Unicode(needle.into())),
        }
    }

    #[test]
    fn pushes_only_what_it_can_imply() {
        assert!(prefilter(&content("report"), &col).is_some());
        // Non-ASCII needles and columns without a summary stay with the evaluator.
        assert!(prefilter(&content("Größe"), &col).is_none());
        assert!(prefilter(&Restriction::Exist(OTHER), &col).is_none());
        // AND keeps the pushable half; OR needs every part.
        let and = Restriction::And(vec![content("a"), Restriction::Exist(OTHER)]);
        let (sql, binds) = prefilter(&and, &col).expect("and");
        assert_eq!(binds.len(), 1);
        assert!(sql.contains("LIKE"));
        let or = Restriction::Or(vec![content("a"), Restriction::Exist(OTHER)]);
        assert!(prefilter(&or, &col).is_none());
        assert!(prefilter(&Restriction::Or(vec![]), &col).is_none());
        assert!(prefilter(&Restriction::Not(Box::new(content("a"))), &col).is_none());
    }

    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(like_escape("50%_off\\"), "50\\%\\_off\\\\");
        let (_, binds) = prefilter(&content("5%"), &col).expect("pushed");
        assert_eq!(binds[0], Value::Text("%5\\%%".into()));
    }
}
