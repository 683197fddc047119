//! URI rewriting from `rewrite.txt`, in Gromox's format and semantics.
//!
//! Each line is `REGEX => REPLACEMENT`; `#` starts a comment line. The regex is a POSIX basic
//! regular expression matched case-insensitively against the request target: groups are
//! written `\(`…`\)`, and `+ ? | ( ) { }` are literal characters. The replacement must start with
//! `\N` (a digit):
//!
//! - `\0TEXT` replaces the whole target with `TEXT`;
//! - otherwise each `\N TEXT` (N = 1…9) replaces what group N matched with `TEXT`, and the
//!   parts of the target outside those groups are kept.
//!
//! The first rule that matches wins. Example: `\(/Microsoft-Server-ActiveSync\) => \1/sync/index.php`
//! turns `/Microsoft-Server-ActiveSync?Cmd=Sync` into `/sync/index.php?Cmd=Sync`.

use regex::Regex;

/// One rule.
#[derive(Debug, Clone)]
pub struct Rule {
    re: Regex,
    whole: Option<String>,
    groups: Vec<(usize, String)>,
}

/// Translate a POSIX basic regular expression into the `regex` crate's syntax.
pub fn bre_to_regex(bre: &str) -> String {
    let mut out = String::with_capacity(bre.len() + 8);
    let mut chars = bre.chars().peekable();
    let mut in_bracket = false;
    while let Some(c) = chars.next() {
        if in_bracket {
            if c == ']' {
                in_bracket = false;
            }
            if c == '\\' || (c == '[' && chars.peek() != Some(&':')) {
                out.push('\\');
            }
            out.push(c);
            continue;
        }
        match c {
            '\\' => match chars.next() {
                Some('(') => out.push('('),
                Some(')') => out.push(')'),
                Some('{') => out.push('{'),
                Some('}') => out.push('}'),
                Some(d) if d.is_ascii_digit() => {
                    // Back-references are not supported by the regex crate; match literally.
                    out.push_str(&regex::escape(&format!("\\{d}")));
                }
                Some(o) => out.push_str(&regex::escape(&o.to_string())),
                None => out.push_str("\\\\"),
            },
            '[' => {
                in_bracket = true;
                out.push('[');
                if chars.peek() == Some(&'^') {
                    out.push('^');
                    chars.next();
                }
                if chars.peek() == Some(&']') {
                    out.push_str("\\]");
                    chars.next();
                }
            }
            '+' | '?' | '|' | '(' | ')' | '{' | '}' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

impl Rule {
    /// Build a rule from the two sides of a line.
    pub fn new(pattern: &str, replacement: &str) -> Result<Rule, String> {
        let b = replacement.as_bytes();
        if b.len() < 2 || b[0] != b'\\' || !b[1].is_ascii_digit() {
            return Err("the replacement must start with \\N (a digit)".into());
        }
        let re = regex::RegexBuilder::new(&bre_to_regex(pattern))
            .case_insensitive(true)
            .size_limit(1 << 20)
            .build()
            .map_err(|e| format!("bad regular expression: {e}"))?;
        if b[1] == b'0' {
            return Ok(Rule {
                re,
                whole: Some(replacement[2..].to_string()),
                groups: Vec::new(),
            });
        }
        let mut groups: Vec<(usize, String)> = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'\\' && i + 1 < b.len() && (b'1'..=b'9').contains(&b[i + 1]) {
                groups.push(((b[i + 1] - b'0') as usize, String::new()));
                i += 2;
                continue;
            }
            // Text before the first marker cannot occur (checked above).
            let start = i;
            while i < b.len() && !(b[i] == b'\\' && i + 1 < b.len() && (b'1'..=b'9').contains(&b[i + 1])) {
                i += 1;
            }
            if let Some(g) = groups.last_mut() {
                g.1.push_str(&replacement[start..i]);
            }
        }
        Ok(Rule {
            re,
            whole: None,
            groups,
        })
    }

    /// Apply to `uri`; `None` when the rule does not match.
    pub fn apply(&self, uri: &str) -> Option<String> {
        let caps = self.re.captures(uri)?;
        if let Some(w) = &self.whole {
            return Some(w.clone());
        }
        let mut spans: Vec<(usize, usize, &str)> = self
            .groups
            .iter()
            .filter_map(|(n, text)| caps.get(*n).map(|m| (m.start(), m.end(), text.as_str())))
            .collect();
        spans.sort_by_key(|s| s.0);
        let mut out = String::with_capacity(uri.len() + 32);
        let mut pos = 0;
        for (s, e, text) in spans {
            if s < pos {
                continue; // nested groups: the outer one already replaced this part
            }
            out.push_str(&uri[pos..s]);
            out.push_str(text);
            pos = e;
        }
        out.push_str(&uri[pos..]);
        Some(out)
    }
}

/// The rule list.
#[derive(Debug, Clone, Default)]
pub struct Rewriter {
    rules: Vec<Rule>,
}

impl Rewriter {
    /// Parse `rewrite.txt`. Errors name the line.
    pub fn parse(text: &str) -> Result<Rewriter, String> {
        let mut rules = Vec::new();
        for (no, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((pat, rep)) = line.split_once("=>") else {
                return Err(format!("line {}: no \"=>\" separator", no + 1));
            };
            rules.push(Rule::new(pat.trim(), rep.trim()).map_err(|e| format!("line {}: {e}", no + 1))?);
        }
        Ok(Rewriter { rules })
    }

    /// Rewrite `uri` with the first matching rule.
    pub fn rewrite(&self, uri: &str) -> Option<String> {
        self.rules.iter().find_map(|r| r.apply(uri))
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether there are no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gromox_sample_rules() {
        let r = Rewriter::parse(
            "# comment\n/autodiscover/autodiscover.xml\t=>\t\\0/ews/autodiscover.php\n\
             \\(/Microsoft-Server-ActiveSync\\)\t=>\t\\1/sync/index.php\n\
             ^/a\\(b*\\)c\\(d\\) => \\1X\\2Y\n",
        )
        .unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!(
            r.rewrite("/AutoDiscover/Autodiscover.xml").as_deref(),
            Some("/ews/autodiscover.php")
        );
        assert_eq!(
            r.rewrite("/Microsoft-Server-ActiveSync?Cmd=Sync").as_deref(),
            Some("/sync/index.php?Cmd=Sync")
        );
        assert_eq!(r.rewrite("/abbcd/rest").as_deref(), Some("/aXcY/rest"));
        assert_eq!(r.rewrite("/other"), None);
        assert!(Rewriter::parse("/x => /y\n").is_err());
        assert!(Rewriter::parse("/x\n").is_err());
        assert_eq!(bre_to_regex("a+b\\(c\\)"), "a\\+b(c)");
    }
}
