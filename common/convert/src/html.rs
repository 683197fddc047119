//! HTML to plain text and plain text to HTML.
//!
//! These conversions fill PidTagBody from PidTagHtml and the reverse when a
//! message carries only one of them ([MS-OXCMSG] section 2.2.1.58 on body
//! properties; [MS-OXCMAIL] section 2.1.3.3.1 on body selection). They are
//! lossy by nature and aim at readable output, not fidelity.

/// Decodes an HTML character reference body (`amp`, `#38`, `#x26`); `None`
/// if unknown.
fn entity(name: &str) -> Option<char> {
    if let Some(num) = name.strip_prefix('#') {
        let v = if let Some(h) = num.strip_prefix(['x', 'X']) {
            u32::from_str_radix(h, 16).ok()?
        } else {
            num.parse().ok()?
        };
        return char::from_u32(v).or(Some('\u{fffd}'));
    }
    Some(match name {
        "amp" | "AMP" => '&',
        "lt" | "LT" => '<',
        "gt" | "GT" => '>',
        "quot" | "QUOT" => '"',
        "apos" => '\'',
        "nbsp" => '\u{a0}',
        "copy" => '©',
        "reg" => '®',
        "trade" => '™',
        "hellip" => '…',
        "mdash" => '—',
        "ndash" => '–',
        "lsquo" => '‘',
        "rsquo" => '’',
        "ldquo" => '“',
        "rdquo" => '”',
        "bull" => '•',
        "middot" => '·',
        "euro" => '€',
        "pound" => '£',
        "yen" => '¥',
        "cent" => '¢',
        "sect" => '§',
        "deg" => '°',
        "laquo" => '«',
        "raquo" => '»',
        "times" => '×',
        "divide" => '÷',
        "auml" => 'ä',
        "ouml" => 'ö',
        "uuml" => 'ü',
        "Auml" => 'Ä',
        "Ouml" => 'Ö',
        "Uuml" => 'Ü',
        "szlig" => 'ß',
        "eacute" => 'é',
        "egrave" => 'è',
        "agrave" => 'à',
        "aacute" => 'á',
        "ccedil" => 'ç',
        _ => return None,
    })
}

/// Replaces character references in `s`.
pub fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(p) = rest.find('&') {
        out.push_str(&rest[..p]);
        rest = &rest[p..];
        let end = rest[1..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '#'))
            .map(|e| e + 1)
            .unwrap_or(rest.len());
        let name = &rest[1..end];
        match (name.len() <= 32).then(|| entity(name)).flatten() {
            Some(c) => {
                out.push(c);
                rest = &rest[end..];
                if rest.starts_with(';') {
                    rest = &rest[1..];
                }
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

const BLOCK: &[&str] = &[
    "p",
    "div",
    "tr",
    "table",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "ul",
    "ol",
    "blockquote",
    "pre",
    "hr",
    "dl",
    "dt",
    "dd",
    "address",
    "center",
    "form",
    "section",
    "article",
    "header",
    "footer",
];

struct TextOut {
    out: String,
    /// Pending whitespace (collapsed) between words.
    space: bool,
    /// Number of trailing newlines in `out`.
    newlines: usize,
}

impl TextOut {
    fn text(&mut self, s: &str, pre: bool) {
        if pre {
            for c in s.chars() {
                self.push(c);
            }
            return;
        }
        for c in s.chars() {
            if c.is_whitespace() && c != '\u{a0}' {
                self.space = true;
            } else {
                if self.space && self.newlines == 0 && !self.out.is_empty() {
                    self.push(' ');
                }
                self.space = false;
                self.push(if c == '\u{a0}' { ' ' } else { c });
            }
        }
    }
    fn push(&mut self, c: char) {
        self.out.push(c);
        if c == '\n' {
            self.newlines += 1;
        } else {
            self.newlines = 0;
        }
    }
    /// Ensures the output ends with at least `n` newlines (unless empty).
    fn breaks(&mut self, n: usize) {
        self.space = false;
        if self.out.is_empty() {
            return;
        }
        while self.newlines < n {
            self.push('\n');
        }
    }
}

/// Converts HTML to readable plain text: scripts, styles and the head are
/// dropped, block elements become line breaks, list items get a `* `,
/// links keep their target as `text <url>` when it differs from the text,
/// and character references are decoded. Never fails.
pub fn html_to_text(html: &str) -> String {
    let mut t = TextOut {
        out: String::with_capacity(html.len() / 2),
        space: false,
        newlines: 0,
    };
    let mut rest = html;
    let mut pre = 0usize;
    let mut href: Option<(String, usize)> = None;
    while !rest.is_empty() {
        let Some(lt) = rest.find('<') else {
            t.text(&decode_entities(rest), pre > 0);
            break;
        };
        if lt > 0 {
            t.text(&decode_entities(&rest[..lt]), pre > 0);
        }
        rest = &rest[lt..];
        if let Some(r) = rest.strip_prefix("<!--") {
            rest = r.find("-->").map(|e| &r[e + 3..]).unwrap_or("");
            continue;
        }
        let Some(gt) = tag_end(rest) else {
            // An unterminated tag: show nothing more of it.
            break;
        };
        let tag = &rest[1..gt];
        rest = &rest[gt + 1..];
        let closing = tag.starts_with('/');
        let body = tag.trim_start_matches('/');
        let name_end = body
            .find(|c: char| c.is_whitespace() || c == '/' || c == '>')
            .unwrap_or(body.len());
        let name = body[..name_end].to_ascii_lowercase();
        match name.as_str() {
            "script" | "style" | "head" | "title" | "xml" if !closing => {
                let close = format!("</{name}");
                rest = find_ci(rest, &close)
                    .map(|p| {
                        let r = &rest[p..];
                        r.find('>').map(|e| &r[e + 1..]).unwrap_or("")
                    })
                    .unwrap_or("");
            }
            "br" => {
                t.space = false;
                t.push('\n');
            }
            "li" if !closing => {
                t.breaks(1);
                t.out.push_str("* ");
                t.newlines = 0;
            }
            "td" | "th" if closing => t.text("\t", true),
            "pre" => {
                t.breaks(1);
                if closing {
                    pre = pre.saturating_sub(1);
                } else {
                    pre += 1;
                }
            }
            "a" if !closing => {
                href = attr(body, "href").map(|h| (h, t.out.len()));
            }
            "a" => {
                if let Some((h, start)) = href.take() {
                    let shown = t.out.get(start..).unwrap_or("").trim().to_string();
                    let target = h.strip_prefix("mailto:").unwrap_or(&h);
                    if !h.is_empty() && !h.starts_with('#') && shown != target && shown != h {
                        t.out.push_str(&format!(" <{h}>"));
                        t.newlines = 0;
                    }
                }
            }
            "img" => {
                if let Some(alt) = attr(body, "alt").filter(|a| !a.is_empty()) {
                    t.text(&format!("[{alt}]"), false);
                }
            }
            n if BLOCK.contains(&n) => t.breaks(if n == "p" { 2 } else { 1 }),
            _ => {}
        }
    }
    let trimmed = t.out.trim_end();
    let mut s = trimmed.trim_start_matches('\n').to_string();
    if !s.is_empty() {
        s.push('\n');
    }
    s
}

/// Position of the `>` closing the tag at the start of `s`, honouring quoted
/// attribute values.
fn tag_end(s: &str) -> Option<usize> {
    let mut quote = None;
    for (i, c) in s.char_indices().skip(1) {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '>') => return Some(i),
            _ => {}
        }
    }
    None
}

fn find_ci(hay: &str, needle: &str) -> Option<usize> {
    let h = hay.as_bytes();
    let n = needle.as_bytes();
    (0..h.len().checked_sub(n.len())? + 1).find(|&i| h[i..i + n.len()].eq_ignore_ascii_case(n))
}

/// Value of attribute `name` in a tag body (after the element name).
pub fn attr(tag: &str, name: &str) -> Option<String> {
    let b = tag.as_bytes();
    let mut i = tag.find(|c: char| c.is_whitespace())?;
    while i < b.len() {
        while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b'/') {
            i += 1;
        }
        let ns = i;
        while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'=' && b[i] != b'/' {
            i += 1;
        }
        let an = &tag[ns..i];
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        let mut val = String::new();
        if i < b.len() && b[i] == b'=' {
            i += 1;
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            if i < b.len() && (b[i] == b'"' || b[i] == b'\'') {
                let q = b[i];
                let vs = i + 1;
                i = vs;
                while i < b.len() && b[i] != q {
                    i += 1;
                }
                val = tag[vs..i.min(b.len())].to_string();
                i += 1;
            } else {
                let vs = i;
                while i < b.len() && !b[i].is_ascii_whitespace() {
                    i += 1;
                }
                val = tag[vs..i].to_string();
            }
        }
        if an.eq_ignore_ascii_case(name) {
            return Some(decode_entities(&val));
        }
        if i == ns {
            // No progress (cannot happen with the loops above; kept as a
            // guard): stop rather than spin.
            break;
        }
    }
    None
}

/// Converts plain text to a complete HTML document: characters are
/// escaped, line breaks become `<br>`, and runs of spaces are kept with
/// `&nbsp;` so indentation survives.
pub fn text_to_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 128);
    out.push_str(
        "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\"></head>\r\n<body>\r\n",
    );
    let mut first = true;
    for line in text.split('\n') {
        if !first {
            out.push_str("<br>\r\n");
        }
        first = false;
        let line = line.strip_suffix('\r').unwrap_or(line);
        let mut prev_space = true;
        for c in line.chars() {
            match c {
                ' ' if prev_space => out.push_str("&nbsp;"),
                '\t' => out.push_str("&nbsp;&nbsp;&nbsp;&nbsp;"),
                '&' => out.push_str("&amp;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '"' => out.push_str("&quot;"),
                _ => out.push(c),
            }
            prev_space = c == ' ';
        }
    }
    out.push_str("\r\n</body></html>\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_to_text_basic() {
        let h = "<html><head><title>T</title><style>p{color:red}</style></head><body>\n<p>Hello&nbsp;<b>World</b> &amp; you</p><p>Second   line<br>third</p><script>alert(1)</script><ul><li>one</li><li>two</li></ul></body></html>";
        assert_eq!(
            html_to_text(h),
            "Hello World & you\n\nSecond line\nthird\n\n* one\n* two\n"
        );
    }

    #[test]
    fn html_to_text_links_pre_entities() {
        let h = "<a href=\"http://x.example/\">site</a> <a href='mailto:a@b'>a@b</a><pre>  a\n  b</pre>&#x41;&#66;&unknown;";
        assert_eq!(html_to_text(h), "site <http://x.example/> a@b\n  a\n  b\nAB&unknown;\n");
    }

    #[test]
    fn html_to_text_garbage_does_not_panic() {
        for s in ["<", "<a href='", "&#xffffffff;", "<!-- x", "<script>", "&", "ä<ä>"] {
            let _ = html_to_text(s);
        }
        assert_eq!(html_to_text("&#xffffffff;x"), "\u{fffd}x\n");
        assert_eq!(attr("img =\"x\"é alt=ü", "alt").as_deref(), Some("ü"));
        assert_eq!(attr("a href='é'ä", "href").as_deref(), Some("é"));
    }

    #[test]
    fn text_to_html_escapes_and_breaks() {
        let h = text_to_html("a < b\r\n  indented & \"q\"");
        assert!(
            h.contains("a &lt; b<br>\r\n&nbsp;&nbsp;indented &amp; &quot;q&quot;"),
            "{h}"
        );
        assert_eq!(html_to_text(&h), "a < b\n  indented & \"q\"\n");
    }
}
