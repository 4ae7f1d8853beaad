//! Sizes and CPU amounts as written in job definitions.
//!
//! Memory accepts Flink sizes (`2048m`, `2g`, `512 mb`; binary and case-insensitive, as
//! Flink's MemorySize reads them) and Kubernetes binary quantities (`2Gi`, `512Mi`).
//! Kubernetes decimal suffixes would read differently in Flink (`2G` is 2 GiB there), so
//! the Flink reading wins for k/m/g/t and the others are rejected rather than guessed.

const KI: f64 = 1024.0;

pub fn parse_memory(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let unit = unit.trim();
    let n: f64 = num
        .parse()
        .map_err(|_| format!("`{text}` is not a size (examples: 2048m, 2g, 2Gi)"))?;
    let factor = match unit {
        "" | "b" | "B" | "bytes" => 1.0,
        "Ki" => KI,
        "Mi" => KI * KI,
        "Gi" => KI * KI * KI,
        "Ti" => KI * KI * KI * KI,
        u => match u.to_ascii_lowercase().as_str() {
            "k" | "kb" | "kibibytes" => KI,
            "m" | "mb" | "mebibytes" => KI * KI,
            "g" | "gb" | "gibibytes" => KI * KI * KI,
            "t" | "tb" | "tebibytes" => KI * KI * KI * KI,
            _ => {
                return Err(format!(
                    "`{text}` has unknown unit `{u}` (use Flink units k, m, g, t or Kubernetes Ki, Mi, Gi, Ti)"
                ))
            }
        },
    };
    let bytes = (n * factor).round();
    if bytes < 1.0 {
        return Err(format!("`{text}` must be greater than zero"));
    }
    if bytes > u64::MAX as f64 / 2.0 {
        return Err(format!("`{text}` is too large"));
    }
    Ok(bytes as u64)
}

/// CPU in millicores, from a number (`0.5`, `2`) or a Kubernetes quantity (`500m`).
pub fn parse_cpu(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let (num, scale) = match t.strip_suffix('m') {
        Some(n) => (n, 1.0),
        None => (t, 1000.0),
    };
    let n: f64 = num
        .parse()
        .map_err(|_| format!("`{text}` is not a CPU amount (examples: 0.5, 2, 500m)"))?;
    if !n.is_finite() || n <= 0.0 {
        return Err(format!("`{text}` must be greater than zero"));
    }
    let millis = (n * scale).round();
    if millis < 1.0 {
        return Err(format!("`{text}` is less than 1m, the smallest CPU amount"));
    }
    Ok(millis as u64)
}

/// Kubernetes quantity text for a byte count, in the largest exact binary unit.
pub fn k8s_bytes(bytes: u64) -> String {
    for (unit, size) in [
        ("Ti", 1u64 << 40),
        ("Gi", 1 << 30),
        ("Mi", 1 << 20),
        ("Ki", 1 << 10),
    ] {
        if bytes % size == 0 {
            return format!("{}{unit}", bytes / size);
        }
    }
    bytes.to_string()
}

/// Flink MemorySize text for a byte count.
pub fn flink_bytes(bytes: u64) -> String {
    for (unit, size) in [("g", 1u64 << 30), ("m", 1 << 20), ("k", 1 << 10)] {
        if bytes % size == 0 {
            return format!("{}{unit}", bytes / size);
        }
    }
    format!("{bytes}b")
}

/// Kubernetes quantity text for millicores.
pub fn k8s_cpu(millis: u64) -> String {
    if millis % 1000 == 0 {
        (millis / 1000).to_string()
    } else {
        format!("{millis}m")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_accepts_flink_and_kubernetes_units() {
        let mi = 1u64 << 20;
        assert_eq!(parse_memory("2048m"), Ok(2048 * mi));
        assert_eq!(parse_memory("2g"), Ok(2048 * mi));
        assert_eq!(parse_memory("2G"), Ok(2048 * mi));
        assert_eq!(parse_memory("2Gi"), Ok(2048 * mi));
        assert_eq!(parse_memory("512 mb"), Ok(512 * mi));
        assert_eq!(parse_memory("1.5Gi"), Ok(1536 * mi));
        assert_eq!(parse_memory("1024"), Ok(1024));
        assert_eq!(parse_memory("4k"), Ok(4096));
    }

    #[test]
    fn memory_rejects_nonsense_with_reason() {
        assert_eq!(
            parse_memory("lots"),
            Err("`lots` is not a size (examples: 2048m, 2g, 2Gi)".into())
        );
        assert_eq!(
            parse_memory("2P"),
            Err("`2P` has unknown unit `P` (use Flink units k, m, g, t or Kubernetes Ki, Mi, Gi, Ti)".into())
        );
        assert_eq!(
            parse_memory("0m"),
            Err("`0m` must be greater than zero".into())
        );
        assert!(parse_memory("-1g").is_err());
    }

    #[test]
    fn cpu_parses_numbers_and_millis() {
        assert_eq!(parse_cpu("0.5"), Ok(500));
        assert_eq!(parse_cpu("2"), Ok(2000));
        assert_eq!(parse_cpu("250m"), Ok(250));
        assert_eq!(
            parse_cpu("-1"),
            Err("`-1` must be greater than zero".into())
        );
        assert_eq!(parse_cpu("0"), Err("`0` must be greater than zero".into()));
        assert!(parse_cpu("0.0001").unwrap_err().contains("smallest"));
        assert!(parse_cpu("many").is_err());
    }

    #[test]
    fn rendering_uses_exact_units() {
        assert_eq!(k8s_bytes(2 << 30), "2Gi");
        assert_eq!(k8s_bytes(1536 << 20), "1536Mi");
        assert_eq!(k8s_bytes(1000), "1000");
        assert_eq!(flink_bytes(1600 << 20), "1600m");
        assert_eq!(flink_bytes(2 << 30), "2g");
        assert_eq!(flink_bytes(1000), "1000b");
        assert_eq!(k8s_cpu(500), "500m");
        assert_eq!(k8s_cpu(2000), "2");
    }
}
