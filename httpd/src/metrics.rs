//! httpd's metrics: the runtime's [`gromox_runtime::Registry`] with requests labelled by
//! `endpoint` and `code`, and the files the other daemons export, appended to `/metrics`.

pub use gromox_runtime::metrics::{code_label, Registry as Metrics};

/// httpd's registry (`gromox_http_*`, labels `endpoint` and `code`).
pub fn registry() -> Metrics {
    Metrics::with_labels("gromox_http", "endpoint", "code")
}

/// Append the counters the other daemons export (`*.prom` files in `dir`, see
/// `gromox_runtime::MetricsExport`), skipping `own` (httpd's own export), in file-name order.
/// A file that vanishes or cannot be read is skipped.
pub fn append_exported(dir: &std::path::Path, own: &str, out: &mut String) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut files: Vec<_> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "prom"))
        .filter(|p| p.file_name().is_some_and(|n| n != own))
        .collect();
    files.sort();
    for f in files {
        if let Ok(text) = std::fs::read_to_string(&f) {
            out.push_str(&text);
            if !text.ends_with('\n') {
                out.push('\n');
            }
        }
    }
}
