//! Content lines and components shared by iCalendar (RFC 5545 section
//! 3.1) and vCard (RFC 6350 section 3.3, RFC 2426, vCard 2.1).
//!
//! Handles line unfolding (CRLF or LF followed by space or tab), vCard 2.1
//! quoted-printable soft line breaks, groups (`item1.EMAIL`), parameters
//! with quoted and comma-separated values, 2.1 bare parameters
//! (`TEL;HOME;VOICE`, read as `TYPE=`), `ENCODING=QUOTED-PRINTABLE` /
//! `CHARSET=` decoding, and BEGIN/END nesting.

/// One property (content line).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Property {
    pub group: Option<String>,
    /// Upper-cased name.
    pub name: String,
    /// Parameters: upper-cased name, values (unquoted).
    pub params: Vec<(String, Vec<String>)>,
    /// Raw value (still escaped per RFC 5545 section 3.3.11).
    pub value: String,
}

impl Property {
    /// First value of a parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.first())
            .map(String::as_str)
    }
    /// Whether a parameter (e.g. TYPE) has a value, case-insensitively.
    pub fn has_param_value(&self, name: &str, value: &str) -> bool {
        self.params
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.iter())
            .any(|v| v.split(',').any(|x| x.trim().eq_ignore_ascii_case(value)))
    }
    /// The value as text, unescaped.
    pub fn text(&self) -> String {
        unescape(&self.value)
    }
}

/// A component (`BEGIN:X` ... `END:X`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Component {
    /// Upper-cased name (VCALENDAR, VEVENT, VCARD, ...).
    pub name: String,
    pub props: Vec<Property>,
    pub children: Vec<Component>,
}

impl Component {
    /// First property of that name.
    pub fn prop(&self, name: &str) -> Option<&Property> {
        self.props.iter().find(|p| p.name == name)
    }
    /// All properties of that name.
    pub fn props_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Property> + 'a {
        self.props.iter().filter(move |p| p.name == name)
    }
    /// Unescaped text of the first property of that name.
    pub fn text(&self, name: &str) -> Option<String> {
        self.prop(name).map(Property::text).filter(|s| !s.is_empty())
    }
}

/// Unescapes TEXT (RFC 5545 section 3.3.11, RFC 6350 section 3.4).
pub fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.next() {
                Some('n' | 'N') => out.push('\n'),
                Some(o) => out.push(o),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Splits a structured value at unescaped `sep` and unescapes each field.
pub fn split_structured(s: &str, sep: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut esc = false;
    for c in s.chars() {
        if esc {
            cur.push('\\');
            cur.push(c);
            esc = false;
        } else if c == '\\' {
            esc = true;
        } else if c == sep {
            out.push(unescape(&cur));
            cur.clear();
        } else {
            cur.push(c);
        }
    }
    out.push(unescape(&cur));
    out
}

fn qp_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'=' && i + 2 < b.len() {
            let h = (b[i + 1] as char).to_digit(16);
            let l = (b[i + 2] as char).to_digit(16);
            if let (Some(h), Some(l)) = (h, l) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// Splits text into unfolded logical lines.
fn unfold(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut qp_cont = false;
    for raw in text.split('\n') {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if let Some(rest) = line.strip_prefix([' ', '\t']) {
            if let Some(last) = lines.last_mut() {
                last.push_str(rest);
                continue;
            }
        }
        if qp_cont {
            if let Some(last) = lines.last_mut() {
                last.pop(); // the soft-break '='
                last.push_str(line);
                qp_cont = line.ends_with('=');
                continue;
            }
        }
        if line.is_empty() {
            qp_cont = false;
            continue;
        }
        lines.push(line.to_string());
        // vCard 2.1: a quoted-printable value ending in '=' continues.
        let upper = line.to_ascii_uppercase();
        qp_cont = line.ends_with('=') && upper.contains("QUOTED-PRINTABLE") && upper.find(':').is_some();
    }
    lines
}

/// Parses one logical line; `None` if it has no colon.
pub fn parse_line(line: &str) -> Option<Property> {
    // Name (with optional group) up to ';' or ':'.
    let name_end = line.find([';', ':'])?;
    let full = &line[..name_end];
    let (group, name) = match full.rsplit_once('.') {
        Some((g, n)) => (Some(g.to_string()), n),
        None => (None, full),
    };
    let mut p = Property {
        group,
        name: name.trim().to_ascii_uppercase(),
        ..Default::default()
    };
    let b = line.as_bytes();
    let mut i = name_end;
    while i < b.len() && b[i] == b';' {
        i += 1;
        let ps = i;
        while i < b.len() && !matches!(b[i], b'=' | b';' | b':') {
            i += 1;
        }
        let pname = line[ps..i].trim().to_ascii_uppercase();
        let mut values = Vec::new();
        if i < b.len() && b[i] == b'=' {
            i += 1;
            loop {
                if i < b.len() && b[i] == b'"' {
                    let vs = i + 1;
                    let ve = line[vs..].find('"').map(|e| vs + e).unwrap_or(b.len());
                    values.push(line[vs..ve].to_string());
                    i = (ve + 1).min(b.len());
                } else {
                    let vs = i;
                    while i < b.len() && !matches!(b[i], b',' | b';' | b':') {
                        i += 1;
                    }
                    values.push(line[vs..i].to_string());
                }
                if i < b.len() && b[i] == b',' {
                    i += 1;
                    continue;
                }
                break;
            }
            p.params.push((pname, values));
        } else if !pname.is_empty() {
            // vCard 2.1 bare parameter: an encoding or a type.
            match pname.as_str() {
                "QUOTED-PRINTABLE" | "BASE64" | "8BIT" | "7BIT" => p.params.push(("ENCODING".into(), vec![pname])),
                _ => p.params.push(("TYPE".into(), vec![pname])),
            }
        }
    }
    if i >= b.len() || b[i] != b':' {
        return None;
    }
    let mut value = line[i + 1..].to_string();
    if p.param("ENCODING")
        .is_some_and(|e| e.eq_ignore_ascii_case("QUOTED-PRINTABLE"))
    {
        let bytes = qp_decode(&value);
        value = match p.param("CHARSET") {
            Some(cs) => crate::charset::decode_label(cs, &bytes),
            None => {
                String::from_utf8(bytes).unwrap_or_else(|e| crate::charset::decode_label("windows-1252", e.as_bytes()))
            }
        };
        // Encoded line breaks are CRLF (canonical form); text uses LF.
        value = value.replace("\r\n", "\n");
        p.params.retain(|(n, _)| n != "ENCODING");
    }
    p.value = value;
    Some(p)
}

/// Parses text into its top-level components. Lines outside components
/// and lines that cannot be parsed are skipped; unterminated components are
/// closed at the end. Never fails.
pub fn parse(text: &str) -> Vec<Component> {
    let mut stack: Vec<Component> = Vec::new();
    let mut top = Vec::new();
    for line in unfold(text) {
        let Some(p) = parse_line(&line) else { continue };
        match p.name.as_str() {
            "BEGIN" if stack.len() < 64 => {
                stack.push(Component {
                    name: p.value.trim().to_ascii_uppercase(),
                    ..Default::default()
                });
            }
            "END" => {
                let name = p.value.trim().to_ascii_uppercase();
                // Close up to the matching component (tolerates missing ENDs).
                if stack.iter().any(|c| c.name == name) {
                    while let Some(c) = stack.pop() {
                        let done = c.name == name;
                        match stack.last_mut() {
                            Some(parent) => parent.children.push(c),
                            None => top.push(c),
                        }
                        if done {
                            break;
                        }
                    }
                }
            }
            _ => {
                if let Some(c) = stack.last_mut() {
                    c.props.push(p);
                }
            }
        }
    }
    while let Some(c) = stack.pop() {
        match stack.last_mut() {
            Some(parent) => parent.children.push(c),
            None => top.push(c),
        }
    }
    top
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unfolding_params_escapes() {
        let t = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY;LANGUAGE=en:a\\, b\\;\r\n  c\\nd\r\nATTENDEE;ROLE=REQ-PARTICIPANT;DELEGATED-FROM=\"mailto:a@x\",\"mailto:b@x\";CN=\"Doe, J\":mailto:j@x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let c = parse(t);
        assert_eq!(c.len(), 1);
        let ev = &c[0].children[0];
        assert_eq!(ev.text("SUMMARY").unwrap(), "a, b; c\nd");
        let a = ev.prop("ATTENDEE").unwrap();
        assert_eq!(a.param("CN"), Some("Doe, J"));
        assert_eq!(a.params[1].1, vec!["mailto:a@x", "mailto:b@x"]);
        assert_eq!(a.value, "mailto:j@x");
    }

    #[test]
    fn vcard21_qp_and_bare_params() {
        let t = "BEGIN:VCARD\nVERSION:2.1\nN;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:=E9=BB=84;=E4=B8=96\nTEL;HOME;VOICE:123\nNOTE;ENCODING=QUOTED-PRINTABLE:a=\n=C3=A4b\nitem1.EMAIL;type=INTERNET:x@y\nEND:VCARD\n";
        let c = &parse(t)[0];
        assert_eq!(split_structured(&c.prop("N").unwrap().value, ';'), vec!["黄", "世"]);
        assert!(c.prop("TEL").unwrap().has_param_value("TYPE", "home"));
        assert_eq!(c.text("NOTE").unwrap(), "aäb");
        assert_eq!(c.prop("EMAIL").unwrap().group.as_deref(), Some("item1"));
    }

    #[test]
    fn garbage_does_not_panic() {
        for t in [
            "",
            ":",
            "BEGIN:",
            "END:X",
            "A;B=\"",
            "BEGIN:A\nBEGIN:B\nEND:A\nX:=",
            "N;ENCODING=QUOTED-PRINTABLE:=",
            "N;ENCODING=QUOTED-PRINTABLE:=4",
        ] {
            let _ = parse(t);
        }
    }
}
