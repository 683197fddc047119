//! RTF to HTML / text.
