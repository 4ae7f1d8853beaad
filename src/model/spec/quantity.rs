//! Sizes and CPU amounts as written in job definitions.
//!
//! Memory accepts Flink sizes (`2048m`, `2g`, `512 mb`; binary and case-insensitive, as
//! Flink's MemorySize reads them) and Kubernetes binary quantities (`2Gi`, `512Mi`).
//! Kubernetes decimal suffixes would read differently in Flink (`2G` is 2 GiB there), so
//! the Flink reading wins for k/m/g/t and the others are rejected rather than guessed.
//! The Apache operator reads memory the same way (Flink's reading first), also in
//! `resources`. Ephemeral storage, in `resources` and `resource.ephemeralStorage`, is a
//! plain Kubernetes quantity there (`parse_k8s_bytes`): `10G` is 10^10 bytes.

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

/// Bytes from a Kubernetes quantity, as Kubernetes reads it: binary (`Ki` … `Ei`),
/// decimal (`k`, `M`, `G`, `T`, `P`, `E`) or an exponent (`10e9`). A fraction of a byte
/// is rounded up, as Kubernetes does; `m` (thousandths) is rejected: no one means
/// half a byte.
pub fn parse_k8s_bytes(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let unsigned = t.strip_prefix('+').unwrap_or(t);
    let split = unsigned
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(unsigned.len());
    let (num, suffix) = unsigned.split_at(split);
    let bad = || format!("`{text}` is not a Kubernetes quantity (examples: 10Gi, 500Mi, 10G)");
    if num.is_empty() || num == "." {
        return Err(if t.starts_with('-') {
            format!("`{text}` must be greater than zero")
        } else {
            bad()
        });
    }
    let n: f64 = num.parse().map_err(|_| bad())?;
    let factor = match suffix {
        "" => 1.0,
        "Ki" => KI,
        "Mi" => KI.powi(2),
        "Gi" => KI.powi(3),
        "Ti" => KI.powi(4),
        "Pi" => KI.powi(5),
        "Ei" => KI.powi(6),
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "m" => {
            return Err(format!(
                "`{text}` is {n} thousandths of a byte in Kubernetes; write Mi or M for megabytes"
            ))
        }
        s => match s.strip_prefix(['e', 'E']).map(str::parse::<i32>) {
            Some(Ok(exp)) if (0..=18).contains(&exp) => 10f64.powi(exp),
            _ => return Err(case_hint(text, num, s).unwrap_or_else(bad)),
        },
    };
    let bytes = (n * factor).ceil();
    if bytes < 1.0 {
        return Err(format!("`{text}` must be greater than zero"));
    }
    if bytes > u64::MAX as f64 / 2.0 {
        return Err(format!("`{text}` is too large"));
    }
    Ok(bytes as u64)
}

/// For a unit Kubernetes would take in another case (Flink's `2g`, `2GB`, `2kb`): both
/// Kubernetes units it may have meant, as they differ.
fn case_hint(text: &str, num: &str, suffix: &str) -> Option<String> {
    let lower = suffix.to_ascii_lowercase();
    let base = ["ib", "b", "i"]
        .into_iter()
        .find_map(|end| lower.strip_suffix(end))
        .unwrap_or(&lower);
    let mut chars = base.chars();
    let (Some(c), None) = (chars.next(), chars.next()) else {
        return None;
    };
    let power = "kmgtpe".find(c)? + 1;
    let upper = c.to_ascii_uppercase();
    let decimal = if c == 'k' { 'k' } else { upper };
    Some(format!(
        "`{text}` is not a Kubernetes quantity (its units are case-sensitive): write {num}{upper}i ({num} × 2^{} bytes) or {num}{decimal} ({num} × 10^{} bytes)",
        10 * power,
        3 * power
    ))
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
    fn kubernetes_quantities_read_as_kubernetes_reads_them() {
        assert_eq!(parse_k8s_bytes("10Gi"), Ok(10 << 30));
        assert_eq!(parse_k8s_bytes("10G"), Ok(10_000_000_000));
        assert_eq!(parse_k8s_bytes("1.5k"), Ok(1500));
        assert_eq!(parse_k8s_bytes("512"), Ok(512));
        assert_eq!(parse_k8s_bytes("2e9"), Ok(2_000_000_000));
        assert_eq!(parse_k8s_bytes("0.5Ki"), Ok(512));
        assert_eq!(parse_k8s_bytes("+1Mi"), Ok(1 << 20));
        assert!(parse_k8s_bytes("500m").unwrap_err().contains("thousandths"));
        assert_eq!(
            parse_k8s_bytes("10g"),
            Err("`10g` is not a Kubernetes quantity (its units are case-sensitive): write 10Gi (10 × 2^30 bytes) or 10G (10 × 10^9 bytes)".into())
        );
        assert!(parse_k8s_bytes("4KB")
            .unwrap_err()
            .contains("write 4Ki (4 × 2^10 bytes) or 4k (4 × 10^3 bytes)"));
        assert!(parse_k8s_bytes("1mib").unwrap_err().contains("write 1Mi"));
        assert_eq!(
            parse_k8s_bytes("10x"),
            Err("`10x` is not a Kubernetes quantity (examples: 10Gi, 500Mi, 10G)".into())
        );
        assert!(parse_k8s_bytes("10bytes").unwrap_err().contains("examples"));
        assert_eq!(
            parse_k8s_bytes("-1Gi"),
            Err("`-1Gi` must be greater than zero".into())
        );
        assert_eq!(
            parse_k8s_bytes("0"),
            Err("`0` must be greater than zero".into())
        );
        assert!(parse_k8s_bytes("lots").is_err());
        assert!(parse_k8s_bytes("").is_err());
        assert!(parse_k8s_bytes("1e40").is_err());
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
