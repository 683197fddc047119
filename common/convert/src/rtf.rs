//! RTF to HTML and plain text.
//!
//! Two paths:
//! - HTML encapsulated in RTF (`\fromhtml1`, [MS-OXRTFEX] section 2.1.3):
//!   the original HTML is recovered by emitting the contents of
//!   `{\*\htmltag}` destinations and the text outside `\htmlrtf` ...
//!   `\htmlrtf0` spans, and dropping everything else.
//! - Any other RTF: the visible text is extracted (paragraph marks become
//!   line breaks) and, for HTML, wrapped by [`crate::html::text_to_html`].
//!
//! Text written as `\'hh` is decoded in the document's code page
//! (`\ansicpgN`, default 1252); `\uN` gives Unicode directly and skips the
//! `\ucN` fallback characters that follow it.

use crate::charset::codepage_encoding;
use encoding_rs::Encoding;

/// What an RTF document turned out to hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RtfContent {
    /// HTML recovered from `\fromhtml1` encapsulation.
    Html(String),
    /// Plain text from `\fromtext` encapsulation or ordinary RTF.
    Text(String),
}

#[derive(Clone, Copy)]
struct GroupState {
    /// Inside a destination whose text is not shown.
    skip: bool,
    /// Inside `\htmlrtf` (ignored for encapsulated HTML).
    htmlrtf: bool,
    /// Inside a `{\*\htmltag}` destination.
    htmltag: bool,
    /// `\ucN`: fallback characters after `\uN`.
    uc: u32,
}

struct Out {
    enc: &'static Encoding,
    bytes: Vec<u8>,
    text: String,
}

impl Out {
    fn flush(&mut self) {
        if !self.bytes.is_empty() {
            let (s, _) = self.enc.decode_without_bom_handling(&self.bytes);
            self.text.push_str(&s);
            self.bytes.clear();
        }
    }
    fn byte(&mut self, b: u8) {
        self.bytes.push(b);
    }
    fn ch(&mut self, c: char) {
        self.flush();
        self.text.push(c);
    }
    fn str(&mut self, s: &str) {
        self.flush();
        self.text.push_str(s);
    }
}

/// Destinations whose content is never visible text.
const SKIP_DESTS: &[&str] = &[
    "fonttbl",
    "colortbl",
    "stylesheet",
    "info",
    "pict",
    "object",
    "header",
    "footer",
    "headerl",
    "headerr",
    "footerl",
    "footerr",
    "listtable",
    "listoverridetable",
    "rsidtbl",
    "generator",
    "xmlnstbl",
    "themedata",
    "colorschememapping",
    "latentstyles",
    "datastore",
    "filetbl",
    "revtbl",
    "pgdsctbl",
    "fldinst",
    "mhtmltag",
    "bkmkstart",
    "bkmkend",
    "pn",
    "field_inst",
];

fn parse_word(rtf: &[u8], mut i: usize) -> (String, Option<i32>, usize) {
    let ws = i;
    while i < rtf.len() && rtf[i].is_ascii_alphabetic() && i - ws < 32 {
        i += 1;
    }
    let word = String::from_utf8_lossy(&rtf[ws..i]).into_owned();
    let mut param = None;
    let ps = i;
    if i < rtf.len() && rtf[i] == b'-' {
        i += 1;
    }
    let ds = i;
    while i < rtf.len() && rtf[i].is_ascii_digit() && i - ds < 10 {
        i += 1;
    }
    if i > ds {
        param = std::str::from_utf8(&rtf[ps..i])
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
            .map(|v| v as i32);
    } else {
        i = ps;
    }
    if i < rtf.len() && rtf[i] == b' ' {
        i += 1;
    }
    (word, param, i)
}

fn hexval(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Converts RTF to its content: encapsulated HTML if the document says
/// `\fromhtml1`, otherwise text. Never fails; malformed RTF yields what
/// could be read.
pub fn rtf_to_content(rtf: &[u8]) -> RtfContent {
    // The encapsulation marker must be in the header, before any text
    // ([MS-OXRTFEX] section 2.1.3.1); looking at the first 1 KiB suffices.
    let head = &rtf[..rtf.len().min(1024)];
    let from_html = find(head, b"\\fromhtml").is_some();
    let mut cp = 1252;
    if let Some(p) = find(head, b"\\ansicpg") {
        let (_, param, _) = parse_word(rtf, p + 1);
        if let Some(v) = param.filter(|v| *v > 0) {
            cp = v as u32;
        }
    }
    let enc = codepage_encoding(cp).unwrap_or(encoding_rs::WINDOWS_1252);
    let mut out = Out {
        enc,
        bytes: Vec::new(),
        text: String::new(),
    };
    let mut stack: Vec<GroupState> = Vec::new();
    let mut st = GroupState {
        skip: false,
        htmlrtf: false,
        htmltag: false,
        uc: 1,
    };
    // Fallback characters still to skip after a \uN.
    let mut skip_chars = 0u32;
    // Set right after `{\*`: the next control word names an ignorable destination.
    let mut star = false;
    let mut group_start = false;
    let mut i = 0;
    let visible = |st: &GroupState| {
        if st.skip {
            false
        } else if from_html {
            st.htmltag || !st.htmlrtf
        } else {
            true
        }
    };
    while i < rtf.len() {
        let c = rtf[i];
        match c {
            b'{' => {
                if stack.len() < 4096 {
                    stack.push(st);
                }
                st.htmltag = st.htmltag && !st.skip;
                group_start = true;
                star = false;
                i += 1;
                continue;
            }
            b'}' => {
                if let Some(s) = stack.pop() {
                    st = s;
                }
                skip_chars = 0;
                i += 1;
            }
            b'\\' => {
                let Some(&n) = rtf.get(i + 1) else { break };
                if n.is_ascii_alphabetic() {
                    let (word, param, next) = parse_word(rtf, i + 1);
                    i = next;
                    let was_group_start = group_start;
                    group_start = false;
                    if star || was_group_start {
                        let w = word.as_str();
                        if w == "htmltag" && star {
                            st.htmltag = true;
                            st.skip = false;
                            star = false;
                            continue;
                        }
                        if SKIP_DESTS.contains(&w) || (star && !from_html) || (star && w != "htmltag") {
                            st.skip = true;
                            star = false;
                            continue;
                        }
                    }
                    star = false;
                    if skip_chars > 0 {
                        // A control word counts as one fallback character.
                        skip_chars -= 1;
                        continue;
                    }
                    let vis = visible(&st);
                    control_word(&word, param, &mut st, &mut out, &mut skip_chars, vis, from_html);
                } else {
                    i += 2;
                    match n {
                        b'*' => {
                            star = true;
                            continue;
                        }
                        b'\'' => {
                            let v = rtf
                                .get(i)
                                .copied()
                                .and_then(hexval)
                                .zip(rtf.get(i + 1).copied().and_then(hexval));
                            if v.is_some() {
                                i += 2;
                            }
                            if skip_chars > 0 {
                                skip_chars -= 1;
                            } else if let (Some((h, l)), true) = (v, visible(&st)) {
                                out.byte(h << 4 | l);
                            }
                        }
                        b'\\' | b'{' | b'}' if visible(&st) => out.byte(n),
                        b'~' if visible(&st) => out.ch('\u{a0}'),
                        b'_' if visible(&st) => out.ch('-'),
                        b'\r' | b'\n' if visible(&st) && !from_html => out.ch('\n'),
                        _ => {}
                    }
                }
                group_start = false;
                continue;
            }
            b'\r' | b'\n' => {
                i += 1;
            }
            _ => {
                let start = i;
                while i < rtf.len() && !matches!(rtf[i], b'{' | b'}' | b'\\' | b'\r' | b'\n') {
                    i += 1;
                }
                let mut run = &rtf[start..i];
                while skip_chars > 0 && !run.is_empty() {
                    run = &run[1..];
                    skip_chars -= 1;
                }
                if visible(&st) {
                    out.bytes.extend_from_slice(run);
                }
            }
        }
        group_start = false;
        star = false;
    }
    out.flush();
    if from_html {
        RtfContent::Html(out.text)
    } else {
        RtfContent::Text(out.text)
    }
}

fn control_word(
    word: &str,
    param: Option<i32>,
    st: &mut GroupState,
    out: &mut Out,
    skip_chars: &mut u32,
    visible: bool,
    from_html: bool,
) {
    match word {
        "htmlrtf" => st.htmlrtf = param != Some(0),
        "uc" => st.uc = param.unwrap_or(1).clamp(0, 16) as u32,
        "u" => {
            if visible {
                let v = param.unwrap_or(0);
                let v = if v < 0 { v + 65536 } else { v } as u32;
                out.ch(char::from_u32(v).unwrap_or('\u{fffd}'));
            }
            *skip_chars = st.uc;
        }
        // In encapsulated HTML these control words stand for the
        // characters of the original HTML ([MS-OXRTFEX] section 2.1.3.1.4).
        "par" | "line" if visible => out.str(if from_html { "\r\n" } else { "\n" }),
        "tab" if visible => out.ch('\t'),
        "emdash" if visible => out.ch('—'),
        "endash" if visible => out.ch('–'),
        "lquote" if visible => out.ch('‘'),
        "rquote" if visible => out.ch('’'),
        "ldblquote" if visible => out.ch('“'),
        "rdblquote" if visible => out.ch('”'),
        "bullet" if visible => out.ch('•'),
        "cell" if visible && !from_html => out.ch('\t'),
        "row" if visible && !from_html => out.ch('\n'),
        _ => {}
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// RTF to HTML: the encapsulated HTML if present, else the text as HTML.
pub fn rtf_to_html(rtf: &[u8]) -> String {
    match rtf_to_content(rtf) {
        RtfContent::Html(h) => h,
        RtfContent::Text(t) => crate::html::text_to_html(&t),
    }
}

/// RTF to plain text (encapsulated HTML is converted to text).
pub fn rtf_to_text(rtf: &[u8]) -> String {
    match rtf_to_content(rtf) {
        RtfContent::Html(h) => crate::html::html_to_text(&h),
        RtfContent::Text(t) => t,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Shaped after the example of [MS-OXRTFEX] section 3.1 (HTML
    // encapsulated in RTF).
    const ENCAP: &[u8] = br#"{\rtf1\ansi\ansicpg1252\fromhtml1 \deff0{\fonttbl
{\f0\fswiss Arial;}
{\f1\fmodern Courier New;}
{\f2\fnil\fcharset2 Symbol;}
{\f3\fmodern\fcharset0 Courier New;}}
{\colortbl\red0\green0\blue0;\red0\green0\blue255;}
\uc1\pard\plain\deftab360 \f0\fs24
{\*\htmltag19 <html>}
{\*\htmltag34 <head>}
{\*\htmltag161 <title>}
{\*\htmltag241 test}
{\*\htmltag169 </title>}
{\*\htmltag41 </head>}
{\*\htmltag50 <body>}\htmlrtf \lang1033 \htmlrtf0
{\*\htmltag64 <p>}\htmlrtf {\htmlrtf0
{\*\htmltag84 <b>}\htmlrtf {\b \htmlrtf0 Caf\'e9 bold\htmlrtf }\htmlrtf0
{\*\htmltag92 </b>} and \u8364\'80 plain
{\*\htmltag72 </p>}\htmlrtf\par}\htmlrtf0
{\*\mhtmltag84 <img src="file://x">}{\*\htmltag84 <img src="cid:y">}
{\*\htmltag58 </body>}
{\*\htmltag27 </html>}}"#;

    #[test]
    fn deencapsulates_html() {
        let RtfContent::Html(h) = rtf_to_content(ENCAP) else {
            panic!("not html")
        };
        assert_eq!(
            h,
            "<html><head><title>test</title></head><body><p><b>Café bold</b> and € plain</p><img src=\"cid:y\"></body></html>"
        );
        assert_eq!(rtf_to_text(ENCAP), "Café bold and € plain\n");
    }

    #[test]
    fn plain_rtf_to_text() {
        let rtf = br"{\rtf1\ansi\ansicpg1251\deff0{\fonttbl{\f0 Arial;}}{\*\generator Test;}{\info{\title X}}\pard Hello {\b world}\par \'cf\'f0\'e8\'e2\'e5\'f2\tab\u1046?end\{\}\par}";
        assert_eq!(rtf_to_text(rtf), "Hello world\nПривет\tЖend{}\n");
        let h = rtf_to_html(rtf);
        assert!(h.contains("Hello world<br>"), "{h}");
    }

    #[test]
    fn malformed_rtf_does_not_panic() {
        for s in [
            &b"{\\rtf1 \\'"[..],
            b"\\",
            b"}}}}{{{",
            b"{\\rtf1\\u-99999999999",
            b"\\fromhtml1{\\*\\htmltag <a",
        ] {
            let _ = rtf_to_content(s);
        }
        assert_eq!(rtf_to_text(b"{\\rtf1 abc"), "abc");
    }
}
