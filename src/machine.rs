//! What the machine has, for the budgets that keep hostile or huge input from taking it down.

/// Total memory in bytes (Linux `/proc/meminfo`), or `None` where it cannot be read.
pub fn total_memory_bytes() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb.saturating_mul(1024))
}

#[cfg(test)]
mod tests {
    #[test]
    fn total_memory_is_read_where_proc_exists() {
        if std::path::Path::new("/proc/meminfo").exists() {
            let total = super::total_memory_bytes().expect("MemTotal");
            assert!(total > 64 << 20, "{total}");
        }
    }
}
