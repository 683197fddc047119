//! Character set helpers over `encoding_rs` (Windows code pages and MIME
//! charset labels).

use encoding_rs::Encoding;

/// Encoding of a Windows code page number (as in RTF `\ansicpgN` or
/// PidTagInternetCodepage); `None` if unknown.
pub fn codepage_encoding(cp: u32) -> Option<&'static Encoding> {
    let label: &str = match cp {
        65001 => "utf-8",
        1200 => "utf-16le",
        1201 => "utf-16be",
        20127 | 367 => "us-ascii",
        28591 => "iso-8859-1",
        28592 => "iso-8859-2",
        28593 => "iso-8859-3",
        28594 => "iso-8859-4",
        28595 => "iso-8859-5",
        28596 => "iso-8859-6",
        28597 => "iso-8859-7",
        28598 => "iso-8859-8",
        28599 => "iso-8859-9",
        28603 => "iso-8859-13",
        28605 => "iso-8859-15",
        874 => "windows-874",
        932 => "shift_jis",
        936 => "gbk",
        949 => "euc-kr",
        950 => "big5",
        1250..=1258 => return Encoding::for_label(format!("windows-{cp}").as_bytes()),
        20866 => "koi8-r",
        21866 => "koi8-u",
        50220..=50222 => "iso-2022-jp",
        51932 | 20932 => "euc-jp",
        54936 => "gb18030",
        10000 => "macintosh",
        866 => "ibm866",
        _ => return None,
    };
    Encoding::for_label(label.as_bytes())
}

/// Code page number of an encoding (for PidTagInternetCodepage).
pub fn encoding_codepage(enc: &'static Encoding) -> u32 {
    let name = enc.name();
    if let Some(n) = name.strip_prefix("windows-") {
        if let Ok(n) = n.parse() {
            return n;
        }
    }
    match name {
        "UTF-8" => 65001,
        "UTF-16LE" => 1200,
        "UTF-16BE" => 1201,
        "ISO-8859-2" => 28592,
        "ISO-8859-3" => 28593,
        "ISO-8859-4" => 28594,
        "ISO-8859-5" => 28595,
        "ISO-8859-6" => 28596,
        "ISO-8859-7" => 28597,
        "ISO-8859-8" | "ISO-8859-8-I" => 28598,
        "ISO-8859-13" => 28603,
        "ISO-8859-15" => 28605,
        "Shift_JIS" => 932,
        "GBK" => 936,
        "EUC-KR" => 949,
        "Big5" => 950,
        "KOI8-R" => 20866,
        "KOI8-U" => 21866,
        "ISO-2022-JP" => 50220,
        "EUC-JP" => 51932,
        "gb18030" => 54936,
        "macintosh" => 10000,
        "IBM866" => 866,
        _ => 65001,
    }
}

/// Decodes `bytes` in the charset named by a MIME label (unknown labels are
/// decoded as windows-1252, which never fails: RFC 2046 text with a bogus
/// charset is still shown).
pub fn decode_label(label: &str, bytes: &[u8]) -> String {
    let enc = Encoding::for_label(label.trim().as_bytes()).unwrap_or(encoding_rs::WINDOWS_1252);
    let (s, _, _) = enc.decode(bytes);
    s.into_owned()
}
