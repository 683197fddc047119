//! HTML to plain text and plain text to HTML.
