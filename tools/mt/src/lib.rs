//! Import and export (placeholder until the stream lands).
