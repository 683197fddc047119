//! The message structure conversions produce and consume: properties,
//! recipients and attachments, attachments optionally holding an embedded
//! message ([MS-OXCMSG] section 1.3).

use crate::props::{dump_props, Prop, PropName, PropVal};
use std::fmt::Write;

/// A message: properties (named properties carry their [`PropName`]),
/// recipient rows and attachments.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MessageContent {
    pub props: Vec<Prop>,
    pub recipients: Vec<Vec<Prop>>,
    pub attachments: Vec<Attachment>,
}

/// An attachment and, for ATTACH_EMBEDDED_MSG, the embedded message.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attachment {
    pub props: Vec<Prop>,
    pub embedded: Option<Box<MessageContent>>,
}

impl MessageContent {
    /// Sets an unnamed property, replacing an earlier value.
    pub fn set(&mut self, tag: u32, v: PropVal) {
        crate::props::set(&mut self.props, tag, v);
    }
    /// Value of an unnamed property.
    pub fn get(&self, tag: u32) -> Option<&PropVal> {
        crate::props::get(&self.props, tag)
    }
    /// String property by id (PtypString or PtypString8).
    pub fn get_str(&self, id: u16) -> Option<&str> {
        crate::props::get_str(&self.props, id)
    }
    /// Sets a named property.
    pub fn set_named(&mut self, name: PropName, ty: u16, v: PropVal) {
        if let Some(p) = self.props.iter_mut().find(|p| p.name.as_ref() == Some(&name)) {
            p.value = v;
        } else {
            self.props.push(Prop {
                tag: 0x8000_0000 | ty as u32,
                name: Some(name),
                value: v,
            });
        }
    }
    /// A named property's value.
    pub fn get_named(&self, name: &PropName) -> Option<&PropVal> {
        self.props
            .iter()
            .find(|p| p.name.as_ref() == Some(name))
            .map(|p| &p.value)
    }
}

/// A readable dump, one property per line (golden tests).
pub fn dump(m: &MessageContent) -> String {
    let mut out = String::new();
    dump_into(m, "", &mut out);
    out
}

fn dump_into(m: &MessageContent, indent: &str, out: &mut String) {
    let _ = writeln!(out, "{indent}message:");
    dump_props(&m.props, &format!("{indent}  "), out);
    for (i, r) in m.recipients.iter().enumerate() {
        let _ = writeln!(out, "{indent}recipient {i}:");
        dump_props(r, &format!("{indent}  "), out);
    }
    for (i, a) in m.attachments.iter().enumerate() {
        let _ = writeln!(out, "{indent}attachment {i}:");
        dump_props(&a.props, &format!("{indent}  "), out);
        if let Some(e) = &a.embedded {
            let _ = writeln!(out, "{indent}  embedded:");
            dump_into(e, &format!("{indent}    "), out);
        }
    }
}
