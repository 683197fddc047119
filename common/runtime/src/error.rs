//! The runtime's error type.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Errors of the runtime: binding, TLS material, poller failures.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// A listening socket could not be created or bound.
    #[error("cannot listen on {addr} ({listener}): {source}")]
    Bind {
        /// Config key of the listener.
        listener: &'static str,
        /// Address asked for.
        addr: SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
    /// A file (certificate, key) could not be read or written.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// A certificate or key file holds no usable material.
    #[error("{path}: {reason}")]
    BadPem {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// Unsupported `tls_min_proto` value.
    #[error("unsupported minimum TLS version {0:?} (use \"1.2\" or \"1.3\")")]
    TlsVersion(String),
    /// Certificate generation failed.
    #[error("certificate generation: {0}")]
    CertGen(String),
    /// A listener is configured with `tls = true` but the server has no TLS configuration.
    #[error("listener {0} wants TLS but no certificate is configured")]
    NoTlsConfig(&'static str),
    /// Any other I/O failure of the runtime itself (poller, waker, threads).
    #[error("{context}: {source}")]
    Io {
        /// What the runtime was doing.
        context: &'static str,
        /// Cause.
        source: std::io::Error,
    },
}

impl RuntimeError {
    pub(crate) fn io(context: &'static str, source: std::io::Error) -> Self {
        RuntimeError::Io { context, source }
    }
}
