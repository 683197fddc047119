//! Capabilities as data (RFC 2449 §6), computed from the connection state in one place, so
//! `CAPA` lists exactly what the session accepts (DESIGN.md §7).

/// One capability of the CAPA list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    /// RFC 2449 §6.1: `TOP` is supported.
    Top,
    /// RFC 2449 §6.7: `UIDL` is supported.
    Uidl,
    /// RFC 2449 §6.4: response codes in brackets.
    RespCodes,
    /// RFC 3206 §6: `[AUTH]` on authentication failures other than bad credentials.
    AuthRespCode,
    /// RFC 2449 §6.6: commands may be sent without waiting for replies.
    Pipelining,
    /// RFC 2449 §6.2: `USER`/`PASS` (offered where plaintext login is allowed).
    User,
    /// RFC 2449 §6.3 / RFC 5034: `AUTH` with these mechanisms.
    Sasl,
    /// RFC 2595 §4: `STLS` (TLS configured and not active yet).
    Stls,
    /// RFC 2449 §6.9.
    Implementation,
}

/// The SASL mechanisms offered (RFC 4616 PLAIN; LOGIN, the draft mechanism clients still use).
pub const SASL_MECHANISMS: &str = "PLAIN LOGIN";

impl Capability {
    /// The CAPA line.
    pub fn line(self) -> &'static str {
        match self {
            Capability::Top => "TOP",
            Capability::Uidl => "UIDL",
            Capability::RespCodes => "RESP-CODES",
            Capability::AuthRespCode => "AUTH-RESP-CODE",
            Capability::Pipelining => "PIPELINING",
            Capability::User => "USER",
            Capability::Sasl => "SASL PLAIN LOGIN",
            Capability::Stls => "STLS",
            Capability::Implementation => "IMPLEMENTATION gromox-rs",
        }
    }
}

/// The connection state the capabilities depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapState {
    /// Logged in (transaction state): login and STLS are no longer offered.
    pub authenticated: bool,
    /// TLS is active.
    pub tls_active: bool,
    /// A certificate is configured (STLS possible).
    pub tls_configured: bool,
    /// `pop3_force_tls`: no login without TLS.
    pub force_tls: bool,
}

impl CapState {
    /// Whether USER/PASS and AUTH are accepted now.
    pub fn login_allowed(&self) -> bool {
        !self.authenticated && (self.tls_active || !self.force_tls)
    }
}

/// The capabilities in this state, in CAPA order.
pub fn capabilities(s: CapState) -> Vec<Capability> {
    let mut v = vec![
        Capability::Top,
        Capability::Uidl,
        Capability::RespCodes,
        Capability::AuthRespCode,
        Capability::Pipelining,
    ];
    if s.login_allowed() {
        v.push(Capability::User);
        v.push(Capability::Sasl);
    }
    if !s.authenticated && s.tls_configured && !s.tls_active {
        v.push(Capability::Stls);
    }
    v.push(Capability::Implementation);
    v
}

/// The full CAPA response (RFC 2449 §5), multi-line, dot-terminated.
pub fn capa_response(s: CapState, out: &mut Vec<u8>) {
    out.extend_from_slice(b"+OK capability list follows\r\n");
    for c in capabilities(s) {
        out.extend_from_slice(c.line().as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
}
