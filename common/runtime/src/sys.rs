//! Small OS helpers: file descriptor limit, resident memory.

/// Raise the soft `RLIMIT_NOFILE` to the hard limit, so that many connections fit.
/// Returns the new soft limit.
pub fn raise_nofile_limit() -> std::io::Result<u64> {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to a properly sized struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if rl.rlim_cur < rl.rlim_max {
            rl.rlim_cur = rl.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &rl) != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
    }
    Ok(rl.rlim_cur)
}

/// Resident set size of this process in KiB (`VmRSS` of /proc/self/status), if readable.
pub fn rss_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Give memory the allocator holds but no longer uses back to the system (glibc
/// `malloc_trim`); a no-op elsewhere. Freed memory otherwise stays in the process after a burst
/// (a FETCH over a 250,000-message folder) and shows as resident.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Start a thread that calls [`release_free_memory`] whenever the resident set grew by more
/// than `threshold_kib` since the last release, checking every `every`; it runs for the life
/// of the process. Returns false when the thread could not be started.
pub fn spawn_memory_releaser(every: std::time::Duration, threshold_kib: u64) -> bool {
    static STARTED: std::sync::Once = std::sync::Once::new();
    let mut ok = true;
    STARTED.call_once(|| {
        ok = std::thread::Builder::new()
            .name("mem-release".into())
            .spawn(move || {
                let mut floor = rss_kib().unwrap_or(0);
                loop {
                    std::thread::sleep(every);
                    let now = rss_kib().unwrap_or(0);
                    if now > floor.saturating_add(threshold_kib) {
                        release_free_memory();
                        floor = rss_kib().unwrap_or(now);
                    } else if now < floor {
                        floor = now;
                    }
                }
            })
            .is_ok();
    });
    ok
}

#[cfg(test)]
mod tests {
    /// 100 MB in small blocks, freed: without the release most of it stays resident under
    /// glibc; after it, the process is back near where it started.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn freed_memory_goes_back_to_the_system() {
        let before = super::rss_kib().unwrap();
        let mut v: Vec<Vec<u8>> = (0..100_000).map(|i| vec![(i % 251) as u8; 1000]).collect();
        // Keep one block in 64 until the end, so the heap cannot simply shrink from its top.
        let keep: Vec<Vec<u8>> = v.iter().step_by(64).cloned().collect();
        v.clear();
        v.shrink_to_fit();
        let held = super::rss_kib().unwrap();
        super::release_free_memory();
        let after = super::rss_kib().unwrap();
        assert!(
            held > before + 50_000,
            "the blocks were resident: {before} → {held} KiB"
        );
        assert!(after < before + 30_000, "released: {before} → {held} → {after} KiB");
        drop(keep);
    }

    #[test]
    fn nofile_and_rss() {
        let n = super::raise_nofile_limit().unwrap();
        assert!(n >= 256);
        assert!(super::rss_kib().unwrap() > 0);
    }
}
