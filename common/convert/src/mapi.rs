//! Bridge to `gromox-mapi`'s property model: [`to_mapi`] turns a
//! [`MessageContent`] of this crate into [`MapiMessage`] (tags as
//! [`PropTag`], values as [`gromox_mapi::PropVal`], named properties as
//! ([`gromox_mapi::PropName`], value) pairs) for the store; [`from_mapi`]
//! is the reverse for export. Value types follow the tag's property type
//! ([MS-OXCDATA] section 2.11.1).

use crate::message::{Attachment, MessageContent};
use crate::props::{Prop, PropName, PropVal};
use gromox_mapi::{Guid, PropNameKind, PropTag, TaggedVal};

type MVal = gromox_mapi::PropVal;
type MName = gromox_mapi::PropName;

/// A message in `gromox-mapi` types.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MapiMessage {
    pub props: Vec<TaggedVal>,
    pub named: Vec<(MName, MVal)>,
    pub recipients: Vec<Vec<TaggedVal>>,
    pub attachments: Vec<MapiAttachment>,
}

/// An attachment in `gromox-mapi` types.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MapiAttachment {
    pub props: Vec<TaggedVal>,
    pub named: Vec<(MName, MVal)>,
    pub embedded: Option<Box<MapiMessage>>,
}

/// Converts one value for property type `ty`; `None` if the value does not
/// fit the type (such properties are dropped).
pub fn val_to_mapi(ty: u16, v: &PropVal) -> Option<MVal> {
    fn strings(v: &[PropVal]) -> Option<Vec<String>> {
        v.iter()
            .map(|x| {
                if let PropVal::String(s) = x {
                    Some(s.clone())
                } else {
                    None
                }
            })
            .collect()
    }
    Some(match (ty, v) {
        (0x0002, PropVal::Short(x)) => MVal::I2(*x),
        (0x0003, PropVal::Long(x)) => MVal::I4(*x),
        (0x0004, PropVal::Float(x)) => MVal::R4(*x),
        (0x0005, PropVal::Double(x)) => MVal::R8(*x),
        (0x0006, PropVal::Currency(x)) => MVal::Currency(*x),
        (0x0007, PropVal::AppTime(x)) => MVal::AppTime(*x),
        (0x000A, PropVal::Error(x)) => MVal::Error(*x),
        (0x000B, PropVal::Bool(x)) => MVal::Boolean(*x),
        (0x000D, PropVal::Object(x)) => MVal::Object(x.clone()),
        (0x0014, PropVal::I8(x)) => MVal::I8(*x),
        (0x001E, PropVal::String(x)) => MVal::String8(x.clone()),
        (0x001F, PropVal::String(x)) => MVal::Unicode(x.clone()),
        (0x0040, PropVal::SysTime(x)) => MVal::SysTime(*x),
        (0x0048, PropVal::Guid(x)) => MVal::Clsid(Guid(*x)),
        (0x0102, PropVal::Binary(x)) => MVal::Binary(x.clone()),
        (0x101E, PropVal::Multi(v)) => MVal::MvString8(strings(v)?),
        (0x101F, PropVal::Multi(v)) => MVal::MvUnicode(strings(v)?),
        (
            0x1002 | 0x1003 | 0x1005 | 0x1014 | 0x1040 | 0x1102 | 0x1048 | 0x1004 | 0x1006 | 0x1007,
            PropVal::Multi(v),
        ) => {
            let items: Option<Vec<MVal>> = v.iter().map(|x| val_to_mapi(ty & !0x1000, x)).collect();
            let items = items?;
            macro_rules! collect {
                ($variant:ident, $mv:ident) => {
                    MVal::$mv(
                        items
                            .into_iter()
                            .filter_map(|x| {
                                if let MVal::$variant(y) = x {
                                    Some(y)
                                } else {
                                    None
                                }
                            })
                            .collect(),
                    )
                };
            }
            match ty {
                0x1002 => collect!(I2, MvI2),
                0x1003 => collect!(I4, MvI4),
                0x1004 => collect!(R4, MvR4),
                0x1005 => collect!(R8, MvR8),
                0x1006 => collect!(Currency, MvCurrency),
                0x1007 => collect!(AppTime, MvAppTime),
                0x1014 => collect!(I8, MvI8),
                0x1040 => collect!(SysTime, MvSysTime),
                0x1048 => collect!(Clsid, MvClsid),
                _ => collect!(Binary, MvBinary),
            }
        }
        _ => return None,
    })
}

/// The reverse of [`val_to_mapi`].
pub fn val_from_mapi(v: &MVal) -> Option<PropVal> {
    Some(match v {
        MVal::I2(x) => PropVal::Short(*x),
        MVal::I4(x) => PropVal::Long(*x),
        MVal::R4(x) => PropVal::Float(*x),
        MVal::R8(x) => PropVal::Double(*x),
        MVal::Currency(x) => PropVal::Currency(*x),
        MVal::AppTime(x) => PropVal::AppTime(*x),
        MVal::Error(x) => PropVal::Error(*x),
        MVal::Boolean(x) => PropVal::Bool(*x),
        MVal::Object(x) => PropVal::Object(x.clone()),
        MVal::I8(x) => PropVal::I8(*x),
        MVal::String8(x) | MVal::Unicode(x) => PropVal::String(x.clone()),
        MVal::SysTime(x) => PropVal::SysTime(*x),
        MVal::Clsid(g) => PropVal::Guid(g.0),
        MVal::Binary(x) | MVal::SvrEid(x) => PropVal::Binary(x.clone()),
        MVal::MvI2(v) => PropVal::Multi(v.iter().map(|x| PropVal::Short(*x)).collect()),
        MVal::MvI4(v) => PropVal::Multi(v.iter().map(|x| PropVal::Long(*x)).collect()),
        MVal::MvR4(v) => PropVal::Multi(v.iter().map(|x| PropVal::Float(*x)).collect()),
        MVal::MvR8(v) => PropVal::Multi(v.iter().map(|x| PropVal::Double(*x)).collect()),
        MVal::MvCurrency(v) => PropVal::Multi(v.iter().map(|x| PropVal::Currency(*x)).collect()),
        MVal::MvAppTime(v) => PropVal::Multi(v.iter().map(|x| PropVal::AppTime(*x)).collect()),
        MVal::MvI8(v) => PropVal::Multi(v.iter().map(|x| PropVal::I8(*x)).collect()),
        MVal::MvString8(v) | MVal::MvUnicode(v) => {
            PropVal::Multi(v.iter().map(|x| PropVal::String(x.clone())).collect())
        }
        MVal::MvSysTime(v) => PropVal::Multi(v.iter().map(|x| PropVal::SysTime(*x)).collect()),
        MVal::MvClsid(v) => PropVal::Multi(v.iter().map(|g| PropVal::Guid(g.0)).collect()),
        MVal::MvBinary(v) => PropVal::Multi(v.iter().map(|x| PropVal::Binary(x.clone())).collect()),
        _ => return None,
    })
}

fn split(props: &[Prop]) -> (Vec<TaggedVal>, Vec<(MName, MVal)>) {
    let mut tagged = Vec::new();
    let mut named = Vec::new();
    for p in props {
        let ty = p.tag as u16;
        let Some(v) = val_to_mapi(ty, &p.value) else { continue };
        match &p.name {
            None => tagged.push(TaggedVal {
                tag: PropTag(p.tag),
                val: v,
            }),
            Some(PropName::Id(g, lid)) => named.push((MName::lid(Guid(*g), *lid), v)),
            Some(PropName::Name(g, n)) => named.push((MName::name(Guid(*g), n), v)),
        }
    }
    (tagged, named)
}

fn join(tagged: &[TaggedVal], named: &[(MName, MVal)]) -> Vec<Prop> {
    let mut out = Vec::with_capacity(tagged.len() + named.len());
    for t in tagged {
        if let Some(v) = val_from_mapi(&t.val) {
            out.push(Prop {
                tag: t.tag.0,
                name: None,
                value: v,
            });
        }
    }
    for (n, v) in named {
        let Some(value) = val_from_mapi(v) else { continue };
        let name = match &n.kind {
            PropNameKind::Lid(l) => PropName::Id(n.guid.0, *l),
            PropNameKind::Name(s) => PropName::Name(n.guid.0, s.clone()),
        };
        out.push(Prop {
            tag: 0x8000_0000 | v.ptype() as u32,
            name: Some(name),
            value,
        });
    }
    out
}

/// Converts a message to `gromox-mapi` types.
pub fn to_mapi(m: &MessageContent) -> MapiMessage {
    let (props, named) = split(&m.props);
    MapiMessage {
        props,
        named,
        recipients: m.recipients.iter().map(|r| split(r).0).collect(),
        attachments: m
            .attachments
            .iter()
            .map(|a| {
                let (props, named) = split(&a.props);
                MapiAttachment {
                    props,
                    named,
                    embedded: a.embedded.as_ref().map(|e| Box::new(to_mapi(e))),
                }
            })
            .collect(),
    }
}

/// Converts a message from `gromox-mapi` types.
pub fn from_mapi(m: &MapiMessage) -> MessageContent {
    MessageContent {
        props: join(&m.props, &m.named),
        recipients: m.recipients.iter().map(|r| join(r, &[])).collect(),
        attachments: m
            .attachments
            .iter()
            .map(|a| Attachment {
                props: join(&a.props, &a.named),
                embedded: a.embedded.as_ref().map(|e| Box::new(from_mapi(e))),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bridge_roundtrip_keeps_everything() {
        let raw = b"From: A <a@x>\r\nTo: b@x\r\nSubject: s\r\nKeywords: k1, k2\r\nContent-Type: multipart/mixed; boundary=M\r\n\r\n--M\r\nContent-Type: text/plain\r\n\r\nbody\r\n--M\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\nx\r\n--M--\r\n";
        let m = crate::mime_in::mime_to_mapi(raw);
        let mm = to_mapi(&m);
        assert!(mm
            .props
            .iter()
            .any(|t| t.tag == PropTag(0x0037_001F) && t.val == MVal::Unicode("s".into())));
        assert!(mm
            .named
            .iter()
            .any(|(_, v)| *v == MVal::MvUnicode(vec!["k1".into(), "k2".into()])));
        assert!(mm.attachments[0].embedded.is_some());
        let back = from_mapi(&mm);
        // Named properties come after the tagged ones; otherwise equal.
        fn ordered(m: &MessageContent) -> MessageContent {
            let mut m = m.clone();
            m.props.sort_by_key(|p| p.name.is_some());
            for a in &mut m.attachments {
                a.props.sort_by_key(|p| p.name.is_some());
                if let Some(e) = &a.embedded {
                    a.embedded = Some(Box::new(ordered(e)));
                }
            }
            m
        }
        assert_eq!(back, ordered(&m));
    }
}
