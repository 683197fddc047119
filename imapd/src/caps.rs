//! Capabilities as data (RFC 9051 §6.1.1, §7.2.2).
//!
//! [`Capability`] is serialised in one place ([`Capability::as_str`]); [`capabilities`]
//! computes the list from the connection state, so nothing is advertised that the session
//! cannot do in that state.

/// A capability this server can advertise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    Imap4rev1,
    /// RFC 9051
    Imap4rev2,
    /// RFC 6154
    SpecialUse,
    /// Pre-standard SPECIAL-USE (Gmail's XLIST), answered like LIST RETURN (SPECIAL-USE).
    Xlist,
    /// RFC 3691
    Unselect,
    /// RFC 4315
    UidPlus,
    /// RFC 2177
    Idle,
    /// RFC 7888
    LiteralPlus,
    /// RFC 5161
    Enable,
    /// RFC 6851
    Move,
    /// RFC 4731
    Esearch,
    /// RFC 5182
    SearchRes,
    /// RFC 5258
    ListExtended,
    /// RFC 5819
    ListStatus,
    /// RFC 8438
    StatusSize,
    /// RFC 2342
    Namespace,
    /// RFC 9051 §6.2.1
    StartTls,
    /// RFC 2971
    Id,
    /// RFC 4616 via AUTHENTICATE
    AuthPlain,
    /// RFC 4959
    SaslIr,
    /// RFC 3348
    Children,
    /// RFC 3516 (FETCH BINARY; part of IMAP4rev2)
    Binary,
    /// RFC 7162 §3.1
    Condstore,
    /// RFC 3502
    MultiAppend,
    /// RFC 6855 / RFC 9755
    Utf8Accept,
    /// RFC 7162 §3.2 (only when the store keeps expunge history)
    Qresync,
    /// RFC 9208
    Quota,
    /// RFC 9208 §5.1
    QuotaResStorage,
    /// RFC 4978 (after login)
    CompressDeflate,
    /// RFC 5256
    Sort,
    /// RFC 5256 §4 ORDEREDSUBJECT
    ThreadOrderedSubject,
    /// RFC 5256 §4 REFERENCES
    ThreadReferences,
    /// RFC 9051 §6.2.3: LOGIN and AUTHENTICATE refused until TLS.
    LoginDisabled,
}

impl Capability {
    /// The capability's wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Imap4rev1 => "IMAP4rev1",
            Capability::Imap4rev2 => "IMAP4rev2",
            Capability::SpecialUse => "SPECIAL-USE",
            Capability::Xlist => "XLIST",
            Capability::Unselect => "UNSELECT",
            Capability::UidPlus => "UIDPLUS",
            Capability::Idle => "IDLE",
            Capability::LiteralPlus => "LITERAL+",
            Capability::Enable => "ENABLE",
            Capability::Move => "MOVE",
            Capability::Esearch => "ESEARCH",
            Capability::SearchRes => "SEARCHRES",
            Capability::ListExtended => "LIST-EXTENDED",
            Capability::ListStatus => "LIST-STATUS",
            Capability::StatusSize => "STATUS=SIZE",
            Capability::Namespace => "NAMESPACE",
            Capability::StartTls => "STARTTLS",
            Capability::Id => "ID",
            Capability::AuthPlain => "AUTH=PLAIN",
            Capability::SaslIr => "SASL-IR",
            Capability::Children => "CHILDREN",
            Capability::Binary => "BINARY",
            Capability::Condstore => "CONDSTORE",
            Capability::MultiAppend => "MULTIAPPEND",
            Capability::Utf8Accept => "UTF8=ACCEPT",
            Capability::Qresync => "QRESYNC",
            Capability::Quota => "QUOTA",
            Capability::QuotaResStorage => "QUOTA=RES-STORAGE",
            Capability::CompressDeflate => "COMPRESS=DEFLATE",
            Capability::Sort => "SORT",
            Capability::ThreadOrderedSubject => "THREAD=ORDEREDSUBJECT",
            Capability::ThreadReferences => "THREAD=REFERENCES",
            Capability::LoginDisabled => "LOGINDISABLED",
        }
    }
}

/// The connection facts capabilities depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CapState {
    /// The user is logged in.
    pub authenticated: bool,
    /// TLS is active on the connection.
    pub tls_active: bool,
    /// The server has TLS material (STARTTLS is possible).
    pub tls_configured: bool,
    /// `imap_force_tls`: no authentication over plaintext.
    pub force_tls: bool,
    /// The store supports QRESYNC.
    pub qresync: bool,
}

/// The capabilities to advertise in `state`.
pub fn capabilities(state: CapState) -> Vec<Capability> {
    use Capability as C;
    let mut v = vec![C::Imap4rev1, C::Imap4rev2];
    if !state.authenticated {
        if state.tls_configured && !state.tls_active {
            v.push(C::StartTls);
        }
        if state.force_tls && !state.tls_active {
            v.push(C::LoginDisabled);
        } else {
            v.push(C::AuthPlain);
            v.push(C::SaslIr);
        }
    }
    v.extend_from_slice(&[
        C::SpecialUse,
        C::Xlist,
        C::Unselect,
        C::UidPlus,
        C::Idle,
        C::LiteralPlus,
        C::Enable,
        C::Move,
        C::Esearch,
        C::SearchRes,
        C::ListExtended,
        C::ListStatus,
        C::StatusSize,
        C::Namespace,
        C::Id,
        C::Children,
        C::Binary,
        C::Condstore,
        C::MultiAppend,
        C::Utf8Accept,
        C::Quota,
        C::QuotaResStorage,
        C::Sort,
        C::ThreadOrderedSubject,
        C::ThreadReferences,
    ]);
    if state.qresync {
        v.push(C::Qresync);
    }
    if state.authenticated {
        v.push(C::CompressDeflate);
    }
    v
}

/// Write `CAPABILITY a b c` (no leading `* `, no CRLF) into `out`.
pub fn write_capabilities(out: &mut Vec<u8>, state: CapState) {
    out.extend_from_slice(b"CAPABILITY");
    for c in capabilities(state) {
        out.push(b' ');
        out.extend_from_slice(c.as_str().as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(state: CapState) -> String {
        let mut v = Vec::new();
        write_capabilities(&mut v, state);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn plaintext_with_force_tls_disables_login() {
        let st = CapState {
            tls_configured: true,
            force_tls: true,
            ..Default::default()
        };
        let c = s(st);
        assert!(
            c.contains(" STARTTLS") && c.contains(" LOGINDISABLED") && !c.contains("AUTH=PLAIN"),
            "{c}"
        );
        let tls = s(CapState { tls_active: true, ..st });
        assert!(!tls.contains("STARTTLS") && !tls.contains("LOGINDISABLED") && tls.contains("AUTH=PLAIN"));
    }

    #[test]
    fn no_starttls_without_tls_and_none_after_login() {
        let c = s(CapState::default());
        assert!(!c.contains("STARTTLS") && c.contains("AUTH=PLAIN SASL-IR"), "{c}");
        let a = s(CapState {
            authenticated: true,
            tls_configured: true,
            ..Default::default()
        });
        assert!(
            !a.contains("STARTTLS") && !a.contains("AUTH=") && a.contains("IDLE"),
            "{a}"
        );
    }
}
