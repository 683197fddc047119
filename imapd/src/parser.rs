//! Command parser (RFC 9051 §9 formal syntax; RFC 3501 §9 for IMAP4rev1 forms).
//!
//! [`parse_command`] turns one framed command (see [`crate::framer`]) into a typed
//! [`Command`] borrowing from the buffer. It never panics on any input, bounds recursion by
//! [`Limits::depth_max`] and reports errors with the tag when it could be read.

use std::borrow::Cow;

use crate::command::*;
use crate::error::ParseError;
use crate::framer::Limits;
use crate::utf7;

/// `ATOM-CHAR` (RFC 9051 §9): any CHAR except atom-specials.
pub fn is_atom_char(b: u8) -> bool {
    b > 0x20 && b < 0x7f && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b']')
}

/// `ASTRING-CHAR`: ATOM-CHAR or `]`.
pub fn is_astring_char(b: u8) -> bool {
    is_atom_char(b) || b == b']'
}

fn is_list_char(b: u8) -> bool {
    is_astring_char(b) || b == b'%' || b == b'*'
}

type R<T> = Result<T, String>;

struct P<'a> {
    s: &'a [u8],
    pos: usize,
    depth: usize,
    depth_max: usize,
    utf8: bool,
}

impl<'a> P<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn at_end(&self) -> bool {
        matches!(&self.s[self.pos.min(self.s.len())..], b"\r\n" | b"\n" | b"")
    }

    fn sp(&mut self) -> R<()> {
        if self.peek() == Some(b' ') {
            self.pos += 1;
            Ok(())
        } else {
            Err("Expected space".into())
        }
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, b: u8) -> R<()> {
        if self.eat(b) {
            Ok(())
        } else {
            Err(format!("Expected '{}'", b as char))
        }
    }

    fn end(&mut self) -> R<()> {
        if self.at_end() {
            Ok(())
        } else {
            Err("Unexpected extra arguments".into())
        }
    }

    fn enter(&mut self) -> R<()> {
        self.depth += 1;
        if self.depth > self.depth_max {
            Err("Nesting too deep".into())
        } else {
            Ok(())
        }
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    /// Bytes while `f` holds.
    fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a [u8] {
        let start = self.pos;
        while self.pos < self.s.len() && f(self.s[self.pos]) {
            self.pos += 1;
        }
        &self.s[start..self.pos]
    }

    fn atom(&mut self) -> R<&'a [u8]> {
        let a = self.take_while(is_atom_char);
        if a.is_empty() {
            Err("Expected atom".into())
        } else {
            Ok(a)
        }
    }

    /// Case-insensitive keyword match at the current position (not consuming on mismatch).
    fn keyword(&mut self, kw: &str) -> bool {
        let k = kw.as_bytes();
        if self.s.len() >= self.pos + k.len() && self.s[self.pos..self.pos + k.len()].eq_ignore_ascii_case(k) {
            let next = self.s.get(self.pos + k.len()).copied();
            if next.is_none_or(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'='))) {
                self.pos += k.len();
                return true;
            }
        }
        false
    }

    fn number(&mut self) -> R<u32> {
        let d = self.take_while(|b| b.is_ascii_digit());
        if d.is_empty() || d.len() > 10 {
            return Err("Expected number".into());
        }
        std::str::from_utf8(d)
            .ok()
            .and_then(|s| s.parse::<u32>().ok())
            .ok_or_else(|| "Number out of range".into())
    }

    fn number64(&mut self) -> R<u64> {
        let d = self.take_while(|b| b.is_ascii_digit());
        if d.is_empty() || d.len() > 19 {
            return Err("Expected number".into());
        }
        std::str::from_utf8(d)
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| "Number out of range".into())
    }

    fn nz_number(&mut self) -> R<u32> {
        match self.number()? {
            0 => Err("Zero is not a valid number here".into()),
            n => Ok(n),
        }
    }

    fn quoted(&mut self) -> R<Cow<'a, [u8]>> {
        self.expect(b'"')?;
        let start = self.pos;
        let mut owned: Option<Vec<u8>> = None;
        loop {
            let Some(b) = self.peek() else {
                return Err("Unterminated quoted string".into());
            };
            match b {
                b'"' => {
                    let raw = &self.s[start..self.pos];
                    self.pos += 1;
                    return Ok(match owned {
                        Some(v) => Cow::Owned(v),
                        None => Cow::Borrowed(raw),
                    });
                }
                b'\\' => {
                    let v = owned.get_or_insert_with(|| self.s[start..self.pos].to_vec());
                    self.pos += 1;
                    match self.peek() {
                        Some(c @ (b'"' | b'\\')) => {
                            v.push(c);
                            self.pos += 1;
                        }
                        _ => return Err("Invalid escape in quoted string".into()),
                    }
                }
                b'\r' | b'\n' | 0 => return Err("Invalid character in quoted string".into()),
                _ => {
                    if let Some(v) = owned.as_mut() {
                        v.push(b);
                    }
                    self.pos += 1;
                }
            }
        }
    }

    /// `literal` / `literal8`: `{n}` / `{n+}` / `~{n}` CRLF octets. Returns (data, binary).
    fn literal(&mut self) -> R<(&'a [u8], bool)> {
        let binary = self.eat(b'~');
        self.expect(b'{')?;
        let n = self.number64()?;
        self.eat(b'+');
        self.expect(b'}')?;
        self.eat(b'\r');
        self.expect(b'\n')?;
        let n = usize::try_from(n).map_err(|_| "Literal too large")?;
        if self.s.len() - self.pos < n {
            return Err("Truncated literal".into());
        }
        let d = &self.s[self.pos..self.pos + n];
        self.pos += n;
        if !binary && d.contains(&0) {
            return Err("NUL in literal; use a binary literal".into());
        }
        Ok((d, binary))
    }

    fn string(&mut self) -> R<Cow<'a, [u8]>> {
        match self.peek() {
            Some(b'"') => self.quoted(),
            Some(b'{') => Ok(Cow::Borrowed(self.literal()?.0)),
            _ => Err("Expected string".into()),
        }
    }

    fn astring(&mut self) -> R<Cow<'a, [u8]>> {
        match self.peek() {
            Some(b'"' | b'{') => self.string(),
            _ => {
                let a = self.take_while(is_astring_char);
                if a.is_empty() {
                    Err("Expected string".into())
                } else {
                    Ok(Cow::Borrowed(a))
                }
            }
        }
    }

    fn astring_utf8(&mut self) -> R<String> {
        let a = self.astring()?;
        String::from_utf8(a.into_owned()).map_err(|_| "Invalid UTF-8".into())
    }

    fn nstring_or_string(&mut self) -> R<Option<String>> {
        if self.keyword("NIL") {
            return Ok(None);
        }
        let s = self.string()?;
        Ok(Some(String::from_utf8_lossy(&s).into_owned()))
    }

    fn mailbox(&mut self) -> R<String> {
        let raw = self.astring()?;
        mailbox_name_mode(&raw, self.utf8)
    }

    fn list_mailbox(&mut self) -> R<String> {
        let raw = match self.peek() {
            Some(b'"' | b'{') => self.string()?,
            _ => {
                let a = self.take_while(is_list_char);
                if a.is_empty() {
                    return Err("Expected mailbox pattern".into());
                }
                Cow::Borrowed(a)
            }
        };
        if raw.is_empty() {
            return Ok(String::new());
        }
        mailbox_name_mode(&raw, self.utf8)
    }

    fn seq_num(&mut self) -> R<SeqNum> {
        if self.eat(b'*') {
            Ok(SeqNum::Largest)
        } else {
            Ok(SeqNum::Value(self.nz_number()?))
        }
    }

    fn seq_set(&mut self) -> R<SeqSet> {
        if self.eat(b'$') {
            return Ok(SeqSet::Saved);
        }
        let mut v = Vec::new();
        loop {
            let a = self.seq_num()?;
            let b = if self.eat(b':') { self.seq_num()? } else { a };
            v.push((a, b));
            if v.len() > 100_000 {
                return Err("Sequence set too long".into());
            }
            if !self.eat(b',') {
                break;
            }
        }
        Ok(SeqSet::Ranges(v))
    }

    fn flag(&mut self) -> R<String> {
        let bs = self.eat(b'\\');
        let a = if bs && self.peek() == Some(b'*') {
            self.pos += 1;
            &b"*"[..]
        } else {
            self.atom()?
        };
        let a = std::str::from_utf8(a).map_err(|_| "Invalid flag")?;
        if bs {
            // System flags are case-insensitive; canonicalise the known ones.
            let canon = ["Seen", "Answered", "Flagged", "Deleted", "Draft", "Recent"]
                .iter()
                .find(|f| f.eq_ignore_ascii_case(a))
                .copied()
                .unwrap_or(a);
            Ok(format!("\\{canon}"))
        } else {
            Ok(a.to_string())
        }
    }

    fn flag_list(&mut self) -> R<Vec<String>> {
        self.expect(b'(')?;
        let mut v = Vec::new();
        if self.eat(b')') {
            return Ok(v);
        }
        loop {
            v.push(self.flag()?);
            if self.eat(b')') {
                return Ok(v);
            }
            self.sp()?;
        }
    }

    fn date_month(&mut self) -> R<u8> {
        const M: [&str; 12] = [
            "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
        ];
        let m = self.s.get(self.pos..self.pos + 3).ok_or("Expected month")?;
        let i = M
            .iter()
            .position(|x| x.as_bytes().eq_ignore_ascii_case(m))
            .ok_or("Invalid month")?;
        self.pos += 3;
        Ok(i as u8 + 1)
    }

    /// `date` = date-text / DQUOTE date-text DQUOTE; date-text = 1*2DIGIT "-" month "-" 4DIGIT
    fn date(&mut self) -> R<Date> {
        let q = self.eat(b'"');
        let d = self.number()?;
        self.expect(b'-')?;
        let month = self.date_month()?;
        self.expect(b'-')?;
        let y = self.number()?;
        if q {
            self.expect(b'"')?;
        }
        if !(1..=31).contains(&d) || !(1..=9999).contains(&y) {
            return Err("Invalid date".into());
        }
        Ok(Date {
            year: y as u16,
            month,
            day: d as u8,
        })
    }

    fn two_digits(&mut self) -> R<u8> {
        let d = self.s.get(self.pos..self.pos + 2).ok_or("Expected digits")?;
        if !d.iter().all(u8::is_ascii_digit) {
            return Err("Expected digits".into());
        }
        self.pos += 2;
        Ok((d[0] - b'0') * 10 + (d[1] - b'0'))
    }

    /// `date-time` = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE
    fn date_time(&mut self) -> R<DateTime> {
        self.expect(b'"')?;
        self.eat(b' ');
        let day = self.number()?;
        self.expect(b'-')?;
        let month = self.date_month()?;
        self.expect(b'-')?;
        let year = self.number()?;
        self.sp()?;
        let hour = self.two_digits()?;
        self.expect(b':')?;
        let minute = self.two_digits()?;
        self.expect(b':')?;
        let second = self.two_digits()?;
        self.sp()?;
        let sign: i16 = if self.eat(b'+') {
            1
        } else if self.eat(b'-') {
            -1
        } else {
            return Err("Expected zone".into());
        };
        let zh = self.two_digits()? as i16;
        let zm = self.two_digits()? as i16;
        self.expect(b'"')?;
        if !(1..=31).contains(&day) || !(1..=9999).contains(&year) || hour > 23 || minute > 59 || second > 60 || zm > 59
        {
            return Err("Invalid date-time".into());
        }
        Ok(DateTime {
            date: Date {
                year: year as u16,
                month,
                day: day as u8,
            },
            hour,
            minute,
            second,
            zone_minutes: sign * (zh * 60 + zm),
        })
    }

    fn search_string(&mut self) -> R<String> {
        let s = self.astring()?;
        Ok(String::from_utf8_lossy(&s).into_owned())
    }

    fn search_key(&mut self) -> R<SearchKey> {
        self.enter()?;
        let k = self.search_key_inner();
        self.leave();
        k
    }

    fn search_key_inner(&mut self) -> R<SearchKey> {
        use SearchKey as K;
        if self.eat(b'(') {
            let mut v = vec![self.search_key()?];
            while !self.eat(b')') {
                self.sp()?;
                v.push(self.search_key()?);
            }
            return Ok(K::And(v));
        }
        if matches!(self.peek(), Some(b'0'..=b'9' | b'*' | b'$')) {
            return Ok(K::Seq(self.seq_set()?));
        }
        let word = self.atom()?.to_ascii_uppercase();
        let k = match word.as_slice() {
            b"ALL" => K::All,
            b"ANSWERED" => K::Answered,
            b"DELETED" => K::Deleted,
            b"DRAFT" => K::Draft,
            b"FLAGGED" => K::Flagged,
            b"NEW" => K::New,
            b"OLD" => K::Old,
            b"RECENT" => K::Recent,
            b"SEEN" => K::Seen,
            b"UNANSWERED" => K::Unanswered,
            b"UNDELETED" => K::Undeleted,
            b"UNDRAFT" => K::Undraft,
            b"UNFLAGGED" => K::Unflagged,
            b"UNSEEN" => K::Unseen,
            b"BCC" | b"BODY" | b"CC" | b"FROM" | b"SUBJECT" | b"TEXT" | b"TO" => {
                self.sp()?;
                let s = self.search_string()?;
                match word.as_slice() {
                    b"BCC" => K::Bcc(s),
                    b"BODY" => K::Body(s),
                    b"CC" => K::Cc(s),
                    b"FROM" => K::From(s),
                    b"SUBJECT" => K::Subject(s),
                    b"TEXT" => K::Text(s),
                    _ => K::To(s),
                }
            }
            b"KEYWORD" | b"UNKEYWORD" => {
                self.sp()?;
                let f = self.flag()?;
                if word == b"KEYWORD" {
                    K::Keyword(f)
                } else {
                    K::Unkeyword(f)
                }
            }
            b"HEADER" => {
                self.sp()?;
                let name = self.search_string()?;
                self.sp()?;
                K::Header(name, self.search_string()?)
            }
            b"BEFORE" | b"ON" | b"SINCE" | b"SENTBEFORE" | b"SENTON" | b"SENTSINCE" => {
                self.sp()?;
                let d = self.date()?;
                match word.as_slice() {
                    b"BEFORE" => K::Before(d),
                    b"ON" => K::On(d),
                    b"SINCE" => K::Since(d),
                    b"SENTBEFORE" => K::SentBefore(d),
                    b"SENTON" => K::SentOn(d),
                    _ => K::SentSince(d),
                }
            }
            b"LARGER" => {
                self.sp()?;
                K::Larger(self.number64()?)
            }
            b"SMALLER" => {
                self.sp()?;
                K::Smaller(self.number64()?)
            }
            b"UID" => {
                self.sp()?;
                K::Uid(self.seq_set()?)
            }
            b"NOT" => {
                self.sp()?;
                K::Not(Box::new(self.search_key()?))
            }
            b"MODSEQ" => {
                // RFC 7162 §3.1.5: MODSEQ [entry-name entry-type-req] mod-sequence-valzer
                self.sp()?;
                if self.peek() == Some(b'"') {
                    self.quoted()?;
                    self.sp()?;
                    let t = self.atom()?.to_ascii_lowercase();
                    if !matches!(t.as_slice(), b"priv" | b"shared" | b"all") {
                        return Err("Invalid MODSEQ entry type".into());
                    }
                    self.sp()?;
                }
                K::ModSeq(self.number64()?)
            }
            b"OR" => {
                self.sp()?;
                let a = self.search_key()?;
                self.sp()?;
                K::Or(Box::new(a), Box::new(self.search_key()?))
            }
            _ => return Err(format!("Unknown search key {}", String::from_utf8_lossy(&word))),
        };
        Ok(k)
    }

    fn part_path(&mut self) -> R<Vec<u32>> {
        let mut v = Vec::new();
        while matches!(self.peek(), Some(b'1'..=b'9')) {
            v.push(self.nz_number()?);
            if v.len() > 64 {
                return Err("Section too deep".into());
            }
            if self.peek() == Some(b'.') && matches!(self.s.get(self.pos + 1), Some(b'1'..=b'9')) {
                self.pos += 1;
            } else {
                break;
            }
        }
        Ok(v)
    }

    fn header_list(&mut self) -> R<Vec<String>> {
        self.sp()?;
        self.expect(b'(')?;
        let mut v = Vec::new();
        loop {
            let h = self.astring()?;
            v.push(String::from_utf8_lossy(&h).into_owned());
            if self.eat(b')') {
                return Ok(v);
            }
            self.sp()?;
        }
    }

    fn section(&mut self) -> R<Section> {
        self.expect(b'[')?;
        let part = self.part_path()?;
        if !part.is_empty() && self.peek() != Some(b']') {
            self.expect(b'.')?;
        }
        let text = if self.peek() == Some(b']') {
            None
        } else if self.keyword("HEADER.FIELDS.NOT") {
            Some(SectionText::HeaderFieldsNot(self.header_list()?))
        } else if self.keyword("HEADER.FIELDS") {
            Some(SectionText::HeaderFields(self.header_list()?))
        } else if self.keyword("HEADER") {
            Some(SectionText::Header)
        } else if self.keyword("TEXT") {
            Some(SectionText::Text)
        } else if !part.is_empty() && self.keyword("MIME") {
            Some(SectionText::Mime)
        } else {
            return Err("Invalid section".into());
        };
        self.expect(b']')?;
        Ok(Section { part, text })
    }

    fn partial(&mut self) -> R<Option<(u32, u32)>> {
        if !self.eat(b'<') {
            return Ok(None);
        }
        let start = self.number()?;
        self.expect(b'.')?;
        let len = self.nz_number()?;
        self.expect(b'>')?;
        Ok(Some((start, len)))
    }

    fn binary_section(&mut self) -> R<Vec<u32>> {
        self.expect(b'[')?;
        let p = self.part_path()?;
        self.expect(b']')?;
        Ok(p)
    }

    fn fetch_att(&mut self) -> R<FetchAtt> {
        use FetchAtt as F;
        // Longest keywords first.
        if self.keyword("BODY.PEEK") {
            let section = self.section()?;
            return Ok(F::BodySection {
                peek: true,
                section,
                partial: self.partial()?,
            });
        }
        if self.keyword("BODYSTRUCTURE") {
            return Ok(F::BodyStructure);
        }
        if self.keyword("BINARY.PEEK") {
            let part = self.binary_section()?;
            return Ok(F::Binary {
                peek: true,
                part,
                partial: self.partial()?,
            });
        }
        if self.keyword("BINARY.SIZE") {
            return Ok(F::BinarySize {
                part: self.binary_section()?,
            });
        }
        if self.keyword("BINARY") {
            let part = self.binary_section()?;
            return Ok(F::Binary {
                peek: false,
                part,
                partial: self.partial()?,
            });
        }
        if self.keyword("BODY") {
            if self.peek() == Some(b'[') {
                let section = self.section()?;
                return Ok(F::BodySection {
                    peek: false,
                    section,
                    partial: self.partial()?,
                });
            }
            return Ok(F::Body);
        }
        let w = self
            .take_while(|b| is_atom_char(b) && b != b'[' && b != b'<')
            .to_ascii_uppercase();
        Ok(match w.as_slice() {
            b"ENVELOPE" => F::Envelope,
            b"FLAGS" => F::Flags,
            b"INTERNALDATE" => F::InternalDate,
            b"RFC822" => F::Rfc822,
            b"RFC822.HEADER" => F::Rfc822Header,
            b"RFC822.SIZE" => F::Rfc822Size,
            b"RFC822.TEXT" => F::Rfc822Text,
            b"UID" => F::Uid,
            b"MODSEQ" => F::ModSeq,
            _ => return Err(format!("Unknown fetch item {}", String::from_utf8_lossy(&w))),
        })
    }

    fn fetch_items(&mut self) -> R<Vec<FetchAtt>> {
        use FetchAtt as F;
        if self.keyword("ALL") {
            return Ok(vec![F::Flags, F::InternalDate, F::Rfc822Size, F::Envelope]);
        }
        if self.keyword("FAST") {
            return Ok(vec![F::Flags, F::InternalDate, F::Rfc822Size]);
        }
        if self.keyword("FULL") {
            return Ok(vec![F::Flags, F::InternalDate, F::Rfc822Size, F::Envelope, F::Body]);
        }
        if self.eat(b'(') {
            let mut v = vec![self.fetch_att()?];
            while !self.eat(b')') {
                self.sp()?;
                v.push(self.fetch_att()?);
                if v.len() > 256 {
                    return Err("Too many fetch items".into());
                }
            }
            return Ok(v);
        }
        Ok(vec![self.fetch_att()?])
    }

    fn status_items(&mut self) -> R<Vec<StatusItem>> {
        self.expect(b'(')?;
        let mut v = Vec::new();
        loop {
            let w = self.atom()?.to_ascii_uppercase();
            v.push(match w.as_slice() {
                b"MESSAGES" => StatusItem::Messages,
                b"RECENT" => StatusItem::Recent,
                b"UIDNEXT" => StatusItem::UidNext,
                b"UIDVALIDITY" => StatusItem::UidValidity,
                b"UNSEEN" => StatusItem::Unseen,
                b"DELETED" => StatusItem::Deleted,
                b"SIZE" => StatusItem::Size,
                b"HIGHESTMODSEQ" => StatusItem::HighestModSeq,
                b"DELETED-STORAGE" => StatusItem::DeletedStorage,
                _ => return Err(format!("Unknown status item {}", String::from_utf8_lossy(&w))),
            });
            if self.eat(b')') {
                return Ok(v);
            }
            self.sp()?;
        }
    }

    fn list(&mut self) -> R<CommandBody<'a>> {
        let mut select = ListSelect::default();
        if self.eat(b'(') {
            while !self.eat(b')') {
                self.eat(b' ');
                let w = self.atom()?.to_ascii_uppercase();
                match w.as_slice() {
                    b"SUBSCRIBED" => select.subscribed = true,
                    b"REMOTE" => select.remote = true,
                    b"RECURSIVEMATCH" => select.recursive_match = true,
                    b"SPECIAL-USE" => select.special_use = true,
                    _ => return Err("Unknown LIST selection option".into()),
                }
            }
            if select.recursive_match && !select.subscribed {
                return Err("RECURSIVEMATCH needs another selection option".into());
            }
            self.sp()?;
        }
        let reference = self.mailbox_or_empty()?;
        self.sp()?;
        let mut patterns = Vec::new();
        if self.eat(b'(') {
            loop {
                patterns.push(self.list_mailbox()?);
                if self.eat(b')') {
                    break;
                }
                self.sp()?;
            }
        } else {
            patterns.push(self.list_mailbox()?);
        }
        let mut ret = ListReturn::default();
        if self.peek() == Some(b' ') {
            self.sp()?;
            if !self.keyword("RETURN") {
                return Err("Expected RETURN".into());
            }
            self.sp()?;
            self.expect(b'(')?;
            while !self.eat(b')') {
                self.eat(b' ');
                let w = self.atom()?.to_ascii_uppercase();
                match w.as_slice() {
                    b"SUBSCRIBED" => ret.subscribed = true,
                    b"CHILDREN" => ret.children = true,
                    b"SPECIAL-USE" => ret.special_use = true,
                    b"STATUS" => {
                        self.sp()?;
                        ret.status = self.status_items()?;
                    }
                    _ => return Err("Unknown LIST return option".into()),
                }
            }
        }
        Ok(CommandBody::List {
            reference,
            patterns,
            select,
            ret,
            xlist: false,
        })
    }

    fn mailbox_or_empty(&mut self) -> R<String> {
        let raw = self.astring()?;
        if raw.is_empty() {
            Ok(String::new())
        } else {
            mailbox_name_mode(&raw, self.utf8)
        }
    }

    fn append(&mut self) -> R<CommandBody<'a>> {
        let mailbox = self.mailbox()?;
        let mut messages = Vec::new();
        // MULTIAPPEND (RFC 3502): one or more (flags? date? literal) groups.
        while self.peek() == Some(b' ') {
            self.sp()?;
            let flags = if self.peek() == Some(b'(') {
                let f = self.flag_list()?;
                self.sp()?;
                f
            } else {
                Vec::new()
            };
            let date = if self.peek() == Some(b'"') {
                let d = self.date_time()?;
                self.sp()?;
                Some(d)
            } else {
                None
            };
            let (data, binary) = if self.keyword("UTF8") {
                // RFC 6855 `UTF8 (literal8)`
                self.sp()?;
                self.expect(b'(')?;
                let l = self.literal()?;
                self.expect(b')')?;
                l
            } else {
                self.literal()?
            };
            messages.push(AppendMessage {
                flags,
                date,
                data,
                binary,
            });
        }
        if messages.is_empty() {
            return Err("APPEND needs a message".into());
        }
        Ok(CommandBody::Append { mailbox, messages })
    }

    fn search(&mut self, uid: bool) -> R<CommandBody<'a>> {
        let mut ret = None;
        let mut charset = None;
        if self.keyword("RETURN") {
            self.sp()?;
            self.expect(b'(')?;
            let mut v = Vec::new();
            while !self.eat(b')') {
                self.eat(b' ');
                let w = self.atom()?.to_ascii_uppercase();
                v.push(match w.as_slice() {
                    b"MIN" => SearchReturn::Min,
                    b"MAX" => SearchReturn::Max,
                    b"ALL" => SearchReturn::All,
                    b"COUNT" => SearchReturn::Count,
                    b"SAVE" => SearchReturn::Save,
                    _ => return Err("Unknown search return option".into()),
                });
            }
            ret = Some(v);
            self.sp()?;
        }
        if self.keyword("CHARSET") {
            self.sp()?;
            charset = Some(self.astring_utf8()?);
            self.sp()?;
        }
        let mut keys = vec![self.search_key()?];
        while self.peek() == Some(b' ') {
            self.sp()?;
            keys.push(self.search_key()?);
        }
        let key = if keys.len() == 1 {
            keys.pop().unwrap_or(SearchKey::All)
        } else {
            SearchKey::And(keys)
        };
        Ok(CommandBody::Search { uid, charset, ret, key })
    }

    /// `(NAME n)` modifier list with one known modifier (RFC 7162 CHANGEDSINCE/UNCHANGEDSINCE).
    fn modifier(&mut self, name: &str) -> R<u64> {
        self.expect(b'(')?;
        if !self.keyword(name) {
            return Err(format!("Expected {name}"));
        }
        self.sp()?;
        let n = self.number64()?;
        self.expect(b')')?;
        Ok(n)
    }

    /// `SP QRESYNC` parameter body: `(uidvalidity modseq [known-uids] [(seq-match)])`.
    fn qresync_params(&mut self) -> R<QresyncParams> {
        self.sp()?;
        self.expect(b'(')?;
        let uidvalidity = self.nz_number()?;
        self.sp()?;
        let modseq = self.number64()?;
        let mut known_uids = None;
        if self.peek() == Some(b' ') {
            self.sp()?;
            if self.peek() != Some(b'(') {
                known_uids = Some(self.seq_set()?);
                if self.peek() == Some(b' ') {
                    self.sp()?;
                }
            }
            if self.eat(b'(') {
                // seq-match-data: an optional hint, parsed and not used.
                self.seq_set()?;
                self.sp()?;
                self.seq_set()?;
                self.expect(b')')?;
            }
        }
        self.expect(b')')?;
        Ok(QresyncParams {
            uidvalidity,
            modseq,
            known_uids,
        })
    }

    /// FETCH modifiers: `(CHANGEDSINCE n [VANISHED])` in any order (RFC 7162 §3.1.4.1, §3.2.6).
    fn fetch_modifiers(&mut self) -> R<(Option<u64>, bool)> {
        self.expect(b'(')?;
        let (mut changed_since, mut vanished) = (None, false);
        loop {
            if self.keyword("CHANGEDSINCE") {
                self.sp()?;
                changed_since = Some(self.number64()?);
            } else if self.keyword("VANISHED") {
                vanished = true;
            } else {
                return Err("Unknown FETCH modifier".into());
            }
            if self.eat(b')') {
                return Ok((changed_since, vanished));
            }
            self.sp()?;
        }
    }

    /// `SORT (criteria) charset search-keys` (RFC 5256 §3).
    fn sort(&mut self, uid: bool) -> R<CommandBody<'a>> {
        self.expect(b'(')?;
        let mut criteria = Vec::new();
        loop {
            let reverse = self.keyword("REVERSE");
            if reverse {
                self.sp()?;
            }
            let w = self.atom()?.to_ascii_uppercase();
            let key = match w.as_slice() {
                b"ARRIVAL" => SortKey::Arrival,
                b"CC" => SortKey::Cc,
                b"DATE" => SortKey::Date,
                b"FROM" => SortKey::From,
                b"SIZE" => SortKey::Size,
                b"SUBJECT" => SortKey::Subject,
                b"TO" => SortKey::To,
                _ => return Err(format!("Unknown sort key {}", String::from_utf8_lossy(&w))),
            };
            criteria.push(SortCriterion { reverse, key });
            if self.eat(b')') {
                break;
            }
            self.sp()?;
            if criteria.len() > 16 {
                return Err("Too many sort criteria".into());
            }
        }
        self.sp()?;
        let charset = self.astring_utf8()?;
        self.sp()?;
        let mut keys = vec![self.search_key()?];
        while self.peek() == Some(b' ') {
            self.sp()?;
            keys.push(self.search_key()?);
        }
        let key = if keys.len() == 1 {
            keys.pop().unwrap_or(SearchKey::All)
        } else {
            SearchKey::And(keys)
        };
        Ok(CommandBody::Sort {
            uid,
            criteria,
            charset,
            key,
        })
    }

    fn store(&mut self, uid: bool) -> R<CommandBody<'a>> {
        let set = self.seq_set()?;
        self.sp()?;
        let unchanged_since = if self.peek() == Some(b'(') {
            let n = self.modifier("UNCHANGEDSINCE")?;
            self.sp()?;
            Some(n)
        } else {
            None
        };
        let mode = if self.eat(b'+') {
            StoreMode::Add
        } else if self.eat(b'-') {
            StoreMode::Remove
        } else {
            StoreMode::Replace
        };
        let silent = if self.keyword("FLAGS.SILENT") {
            true
        } else if self.keyword("FLAGS") {
            false
        } else {
            return Err("Expected FLAGS".into());
        };
        self.sp()?;
        let flags = if self.peek() == Some(b'(') {
            self.flag_list()?
        } else {
            let mut v = vec![self.flag()?];
            while self.peek() == Some(b' ') {
                self.sp()?;
                v.push(self.flag()?);
            }
            v
        };
        Ok(CommandBody::Store {
            uid,
            set,
            unchanged_since,
            mode,
            silent,
            flags,
        })
    }

    fn id(&mut self) -> R<CommandBody<'a>> {
        if self.keyword("NIL") {
            return Ok(CommandBody::Id(None));
        }
        self.expect(b'(')?;
        let mut v = Vec::new();
        while !self.eat(b')') {
            self.eat(b' ');
            let k = self.string()?;
            self.sp()?;
            let val = self.nstring_or_string()?;
            v.push((String::from_utf8_lossy(&k).into_owned(), val));
            if v.len() > 30 {
                return Err("Too many ID fields".into());
            }
        }
        Ok(CommandBody::Id(Some(v)))
    }

    fn command_body(&mut self, uid: bool) -> R<CommandBody<'a>> {
        use CommandBody as C;
        let name = self.atom()?.to_ascii_uppercase();
        if uid
            && !matches!(
                name.as_slice(),
                b"FETCH" | b"STORE" | b"COPY" | b"MOVE" | b"SEARCH" | b"EXPUNGE" | b"SORT" | b"THREAD"
            )
        {
            return Err("Invalid UID command".into());
        }
        let needs = |p: &mut Self| -> R<()> { p.sp() };
        let body = match name.as_slice() {
            b"CAPABILITY" => C::Capability,
            b"NOOP" => C::Noop,
            b"LOGOUT" => C::Logout,
            b"STARTTLS" => C::StartTls,
            b"NAMESPACE" => C::Namespace,
            b"COMPRESS" => {
                needs(self)?;
                C::Compress {
                    mechanism: String::from_utf8_lossy(self.atom()?).to_ascii_uppercase(),
                }
            }
            b"GETQUOTA" => {
                needs(self)?;
                C::GetQuota {
                    root: self.astring_utf8()?,
                }
            }
            b"GETQUOTAROOT" => {
                needs(self)?;
                C::GetQuotaRoot {
                    mailbox: self.mailbox()?,
                }
            }
            b"SETQUOTA" => {
                needs(self)?;
                let root = self.astring_utf8()?;
                self.sp()?;
                // setquota_list: "(" [resource SP number *(SP resource SP number)] ")"
                self.expect(b'(')?;
                while !self.eat(b')') {
                    self.eat(b' ');
                    self.atom()?;
                    self.sp()?;
                    self.number64()?;
                }
                C::SetQuota { root }
            }
            b"IDLE" => C::Idle,
            b"CHECK" => C::Check,
            b"CLOSE" => C::Close,
            b"UNSELECT" => C::Unselect,
            b"EXPUNGE" if !uid => C::Expunge { uids: None },
            b"EXPUNGE" => {
                needs(self)?;
                C::Expunge {
                    uids: Some(self.seq_set()?),
                }
            }
            b"AUTHENTICATE" => {
                needs(self)?;
                let mech = self.atom()?;
                let mechanism = String::from_utf8_lossy(mech).to_ascii_uppercase();
                let initial = if self.peek() == Some(b' ') {
                    self.sp()?;
                    let d = self.take_while(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=');
                    if d.is_empty() {
                        return Err("Invalid initial response".into());
                    }
                    Some(d)
                } else {
                    None
                };
                C::Authenticate { mechanism, initial }
            }
            b"LOGIN" => {
                needs(self)?;
                let user = self.astring()?;
                self.sp()?;
                let password = self.astring()?;
                C::Login { user, password }
            }
            b"ENABLE" => {
                let mut v = Vec::new();
                while self.peek() == Some(b' ') {
                    self.sp()?;
                    v.push(String::from_utf8_lossy(self.atom()?).to_ascii_uppercase());
                }
                if v.is_empty() {
                    return Err("ENABLE needs arguments".into());
                }
                C::Enable(v)
            }
            b"SELECT" | b"EXAMINE" | b"CREATE" | b"DELETE" | b"SUBSCRIBE" | b"UNSUBSCRIBE" => {
                needs(self)?;
                let mailbox = self.mailbox()?;
                let mut condstore = false;
                let mut qresync = None;
                if matches!(name.as_slice(), b"SELECT" | b"EXAMINE") && self.peek() == Some(b' ') {
                    // RFC 4466 select-params: CONDSTORE (RFC 7162 §3.1.8), QRESYNC (§3.2.5).
                    self.sp()?;
                    self.expect(b'(')?;
                    loop {
                        if self.keyword("CONDSTORE") {
                            condstore = true;
                        } else if self.keyword("QRESYNC") {
                            qresync = Some(self.qresync_params()?);
                        } else {
                            return Err("Unknown SELECT parameter".into());
                        }
                        if self.eat(b')') {
                            break;
                        }
                        self.sp()?;
                    }
                }
                match name.as_slice() {
                    b"SELECT" => C::Select {
                        mailbox,
                        condstore,
                        qresync,
                    },
                    b"EXAMINE" => C::Examine {
                        mailbox,
                        condstore,
                        qresync,
                    },
                    b"CREATE" => {
                        // RFC 6154 §5.3 CREATE-SPECIAL-USE is not advertised; accept no args.
                        C::Create { mailbox }
                    }
                    b"DELETE" => C::Delete { mailbox },
                    b"SUBSCRIBE" => C::Subscribe { mailbox },
                    _ => C::Unsubscribe { mailbox },
                }
            }
            b"RENAME" => {
                needs(self)?;
                let from = self.mailbox()?;
                self.sp()?;
                let to = self.mailbox()?;
                C::Rename { from, to }
            }
            b"LIST" | b"XLIST" => {
                needs(self)?;
                let mut l = self.list()?;
                if name.as_slice() == b"XLIST" {
                    if let C::List { ret, xlist, .. } = &mut l {
                        ret.special_use = true;
                        *xlist = true;
                    }
                }
                l
            }
            b"LSUB" => {
                needs(self)?;
                let reference = self.mailbox_or_empty()?;
                self.sp()?;
                let pattern = self.list_mailbox()?;
                C::Lsub { reference, pattern }
            }
            b"STATUS" => {
                needs(self)?;
                let mailbox = self.mailbox()?;
                self.sp()?;
                let items = self.status_items()?;
                C::Status { mailbox, items }
            }
            b"APPEND" => {
                needs(self)?;
                self.append()?
            }
            b"SEARCH" => {
                needs(self)?;
                self.search(uid)?
            }
            b"SORT" => {
                needs(self)?;
                self.sort(uid)?
            }
            b"THREAD" => {
                needs(self)?;
                let algorithm = String::from_utf8_lossy(self.atom()?).to_ascii_uppercase();
                self.sp()?;
                let charset = self.astring_utf8()?;
                self.sp()?;
                let mut keys = vec![self.search_key()?];
                while self.peek() == Some(b' ') {
                    self.sp()?;
                    keys.push(self.search_key()?);
                }
                let key = if keys.len() == 1 {
                    keys.pop().unwrap_or(SearchKey::All)
                } else {
                    SearchKey::And(keys)
                };
                C::Thread {
                    uid,
                    algorithm,
                    charset,
                    key,
                }
            }
            b"FETCH" => {
                needs(self)?;
                let set = self.seq_set()?;
                self.sp()?;
                let items = self.fetch_items()?;
                let (changed_since, vanished) = if self.peek() == Some(b' ') {
                    self.sp()?;
                    self.fetch_modifiers()?
                } else {
                    (None, false)
                };
                if vanished && !(uid && changed_since.is_some()) {
                    return Err("VANISHED needs UID FETCH with CHANGEDSINCE".into());
                }
                C::Fetch {
                    uid,
                    set,
                    items,
                    changed_since,
                    vanished,
                }
            }
            b"STORE" => {
                needs(self)?;
                self.store(uid)?
            }
            b"COPY" | b"MOVE" => {
                needs(self)?;
                let set = self.seq_set()?;
                self.sp()?;
                let mailbox = self.mailbox()?;
                if name.as_slice() == b"COPY" {
                    C::Copy { uid, set, mailbox }
                } else {
                    C::Move { uid, set, mailbox }
                }
            }
            b"ID" => {
                needs(self)?;
                self.id()?
            }
            _ => return Err(format!("Unknown command {}", String::from_utf8_lossy(&name))),
        };
        self.end()?;
        Ok(body)
    }
}

/// Decode a mailbox name from the wire: modified UTF-7 (RFC 3501 §5.1.3), or plain UTF-8
/// (RFC 9051 §5.1) when it is not valid modified UTF-7. `INBOX` is case-insensitive.
pub fn mailbox_name(raw: &[u8]) -> Result<String, String> {
    mailbox_name_mode(raw, false)
}

/// [`mailbox_name`]; with `utf8` (IMAP4rev2 or UTF8=ACCEPT enabled, RFC 9051 §5.1, RFC 6855
/// §3) names are UTF-8 as sent, without modified UTF-7 decoding.
pub fn mailbox_name_mode(raw: &[u8], utf8: bool) -> Result<String, String> {
    if raw.eq_ignore_ascii_case(b"INBOX") {
        return Ok("INBOX".into());
    }
    let decoded = if utf8 { None } else { utf7::decode(raw) };
    let name = match decoded {
        Some(s) => s,
        None => String::from_utf8(raw.to_vec()).map_err(|_| "Invalid mailbox name encoding".to_string())?,
    };
    if name.chars().any(|c| c.is_control()) {
        return Err("Invalid mailbox name".into());
    }
    // "INBOX/sub" keeps INBOX canonical.
    if name.len() > 6 && name.get(..6).is_some_and(|p| p.eq_ignore_ascii_case("INBOX/")) {
        return Ok(format!("INBOX/{}", &name[6..]));
    }
    Ok(name)
}

/// Parse one framed command. Never panics; every failure is a [`ParseError`] carrying the
/// tag when it was readable.
pub fn parse_command<'a>(buf: &'a [u8], limits: &Limits) -> Result<Command<'a>, ParseError> {
    parse_command_mode(buf, limits, false)
}

/// [`parse_command`] with mailbox names taken as UTF-8 (`utf8`, see [`mailbox_name_mode`]).
pub fn parse_command_mode<'a>(buf: &'a [u8], limits: &Limits, utf8: bool) -> Result<Command<'a>, ParseError> {
    let Some(tag_b) = crate::framer::tag_of(buf) else {
        return Err(ParseError::new(None, "Missing or invalid tag"));
    };
    // tag_of only accepts ASCII astring chars; from_utf8 cannot fail, but stay total.
    let tag = std::str::from_utf8(tag_b).map_err(|_| ParseError::new(None, "Invalid tag"))?;
    let mut p = P {
        s: buf,
        pos: tag_b.len(),
        depth: 0,
        depth_max: limits.depth_max,
        utf8,
    };
    let r = (|| {
        p.sp()?;
        let uid = p.keyword("UID");
        if uid {
            p.sp()?;
        }
        p.command_body(uid)
    })();
    match r {
        Ok(body) => Ok(Command { tag, body }),
        Err(msg) => Err(ParseError::new(Some(tag_b), msg)),
    }
}
