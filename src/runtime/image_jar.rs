//! The jar flinkops uploads for a session job whose jar is inside its session cluster's
//! image (`jarURI: local:///path/in/image.jar`). Flink's REST API runs only jars uploaded to
//! it, and flinkops cannot read the image. So it uploads a small jar whose manifest's
//! `Class-Path` names the image's jar. Every class loader Flink builds for the job (the
//! JobManager's while it runs `main`, the TaskManagers' from the job's blobs) is a
//! `URLClassLoader`, which follows a jar's `Class-Path` to the file at that path on its own
//! machine: the image's jar, in every pod of the cluster.
//!
//! `Main-Class` is the job's `entryClass`; without one, it is `ImageJarMain` (its Java
//! source and class file are in `image_jar/`), which reads the image jar's own manifest
//! where Flink would and calls that class's main. Pure: bytes in, bytes out.

/// The entry class that finds the image jar's (see the module's doc).
const IMAGE_JAR_MAIN: &str = "flinkops.launcher.ImageJarMain";
const IMAGE_JAR_MAIN_CLASS: &[u8] = include_bytes!("image_jar/ImageJarMain.class");
/// Where `ImageJarMain` reads the image jar's path (a Java properties file).
const PROPERTIES: &str = "flinkops-image-jar.properties";

/// The jar's bytes: a ZIP archive of stored (uncompressed) entries. `jar_path` is absolute
/// and free of spaces and URI syntax (validation checks jarURI).
pub fn launcher(jar_path: &str, entry_class: Option<&str>) -> Vec<u8> {
    let manifest = manifest(jar_path, entry_class.unwrap_or(IMAGE_JAR_MAIN));
    match entry_class {
        Some(_) => zip(&[("META-INF/MANIFEST.MF", manifest.as_bytes())]),
        None => zip(&[
            ("META-INF/MANIFEST.MF", manifest.as_bytes()),
            (PROPERTIES, properties(jar_path).as_bytes()),
            ("flinkops/launcher/ImageJarMain.class", IMAGE_JAR_MAIN_CLASS),
        ]),
    }
}

/// `jar=<path>` as `java.util.Properties` reads it: ISO-8859-1, so every other character
/// as `\uXXXX` (UTF-16 units), and a backslash doubled.
fn properties(jar_path: &str) -> String {
    let mut out = String::from("jar=");
    for c in jar_path.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
        }
    }
    out.push('\n');
    out
}

/// The file name the launcher is uploaded as: the image jar's, so Flink's UI and logs
/// show which jar the job runs.
pub fn upload_name(jar_path: &str) -> String {
    let name = jar_path.rsplit('/').next().unwrap_or_default();
    if name.is_empty() {
        "job.jar".into()
    } else {
        name.to_string()
    }
}

/// A JAR manifest. Its lines are at most 72 bytes; a longer header continues on lines that
/// begin with one space (the JAR specification's rule, which Java enforces when reading).
fn manifest(jar_path: &str, entry_class: &str) -> String {
    let mut out = String::new();
    for (name, value) in [
        ("Manifest-Version", "1.0"),
        ("Created-By", "flinkops"),
        ("Main-Class", entry_class),
        ("Class-Path", jar_path),
    ] {
        let header = format!("{name}: {value}");
        let mut rest = header.as_str();
        let mut limit = 72;
        while !rest.is_empty() {
            let mut cut = rest.len().min(limit);
            while !rest.is_char_boundary(cut) {
                cut -= 1;
            }
            if limit == 71 {
                out.push(' ');
            }
            out.push_str(&rest[..cut]);
            out.push_str("\r\n");
            rest = &rest[cut..];
            limit = 71;
        }
    }
    out.push_str("\r\n");
    out
}

/// A ZIP archive of stored (uncompressed) entries (no timestamps: the same input gives the
/// same bytes).
fn zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    // The fields a local header and a central directory entry share: version needed (1.0),
    // flags (bit 11: the name is UTF-8), method (0: stored), time and date (zero), CRC,
    // sizes, name length.
    let common = |out: &mut Vec<u8>, name: &str, data: &[u8]| {
        let size = data.len() as u32;
        out.extend_from_slice(&10u16.to_le_bytes());
        out.extend_from_slice(&0x0800u16.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&crc32(data).to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
    };
    let mut out = Vec::new();
    let mut offsets = Vec::with_capacity(entries.len());
    for (name, data) in entries {
        offsets.push(out.len() as u32);
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        common(&mut out, name, data);
        out.extend_from_slice(&0u16.to_le_bytes()); // extra field length
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);
    }
    let central = out.len() as u32;
    for ((name, data), offset) in entries.iter().zip(offsets) {
        out.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        out.extend_from_slice(&10u16.to_le_bytes()); // version made by
        common(&mut out, name, data);
        for _ in 0..4 {
            // extra field, comment, disk number, internal attributes
            out.extend_from_slice(&0u16.to_le_bytes());
        }
        out.extend_from_slice(&0u32.to_le_bytes()); // external attributes
        out.extend_from_slice(&offset.to_le_bytes()); // where the local header is
        out.extend_from_slice(name.as_bytes());
    }
    let central_len = out.len() as u32 - central;
    let count = entries.len() as u16;
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes()); // this disk
    out.extend_from_slice(&0u16.to_le_bytes()); // disk of the central directory
    out.extend_from_slice(&count.to_le_bytes()); // entries on this disk
    out.extend_from_slice(&count.to_le_bytes()); // entries
    out.extend_from_slice(&central_len.to_le_bytes());
    out.extend_from_slice(&central.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes()); // comment length
    out
}

/// CRC-32 (IEEE 802.3, reflected), as ZIP uses.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u16_at(b: &[u8], at: usize) -> usize {
        u16::from_le_bytes([b[at], b[at + 1]]) as usize
    }
    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
    }

    /// The manifest's headers, continuation lines joined.
    fn headers(text: &str) -> Vec<(String, String)> {
        let mut joined: Vec<String> = Vec::new();
        for line in text.split("\r\n") {
            match line.strip_prefix(' ') {
                Some(more) => joined.last_mut().unwrap().push_str(more),
                None if line.is_empty() => {}
                None => joined.push(line.to_string()),
            }
        }
        joined
            .iter()
            .map(|h| {
                let (n, v) = h.split_once(": ").unwrap();
                (n.to_string(), v.to_string())
            })
            .collect()
    }

    #[test]
    fn crc_is_the_zip_crc() {
        // The standard check value of CRC-32/ISO-HDLC.
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn long_headers_fold_at_72_bytes_and_read_back_whole() {
        let long = format!("/opt/flink/{}/orders.jar", "nested-directory/".repeat(12));
        for path in ["/opt/flink/usrlib/orders.jar", long.as_str()] {
            let text = manifest(path, "com.example.orders.OrdersJob");
            assert!(
                text.ends_with("\r\n\r\n"),
                "a manifest ends with an empty line"
            );
            for line in text.split("\r\n") {
                assert!(line.len() <= 72, "{line:?} is {} bytes", line.len());
            }
            let h = headers(&text);
            assert_eq!(h[0], ("Manifest-Version".into(), "1.0".into()));
            assert!(h.contains(&("Class-Path".into(), path.into())), "{h:?}");
            assert!(h.contains(&("Main-Class".into(), "com.example.orders.OrdersJob".into())));
        }
        // A fold never splits a character (a path may hold any UTF-8).
        let text = manifest(&format!("/opt/{}.jar", "é".repeat(60)), "A");
        assert!(headers(&text).iter().any(|(_, v)| v.contains("ééé")));
    }

    /// The archive's entries as its central directory lists them, each checked against
    /// its local header and CRC: (name, data).
    fn entries(jar: &[u8]) -> Vec<(String, Vec<u8>)> {
        let end = jar.len() - 22;
        assert_eq!(u32_at(jar, end), 0x0605_4b50, "end of central directory");
        let count = u16_at(jar, end + 10);
        let dir_len = u32_at(jar, end + 12) as usize;
        let mut at = u32_at(jar, end + 16) as usize;
        assert_eq!(at + dir_len, end);
        let mut out = Vec::new();
        for _ in 0..count {
            assert_eq!(u32_at(jar, at), 0x0201_4b50);
            let name_len = u16_at(jar, at + 28);
            let name = String::from_utf8(jar[at + 46..at + 46 + name_len].to_vec()).unwrap();
            let local = u32_at(jar, at + 42) as usize;
            assert_eq!(u32_at(jar, local), 0x0403_4b50);
            let size = u32_at(jar, local + 18) as usize;
            assert_eq!(
                size,
                u32_at(jar, local + 22) as usize,
                "stored: sizes equal"
            );
            let start = local + 30 + u16_at(jar, local + 26) + u16_at(jar, local + 28);
            let data = jar[start..start + size].to_vec();
            assert_eq!(u32_at(jar, local + 14), crc32(&data));
            assert_eq!(u32_at(jar, at + 16), crc32(&data));
            out.push((name, data));
            at += 46 + name_len;
        }
        assert_eq!(at, end);
        out
    }

    #[test]
    fn with_an_entry_class_the_archive_is_its_manifest() {
        let jar = launcher("/opt/flink/usrlib/orders.jar", Some("com.example.Orders"));
        let e = entries(&jar);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].0, "META-INF/MANIFEST.MF");
        let h = headers(std::str::from_utf8(&e[0].1).unwrap());
        assert!(h.contains(&("Class-Path".into(), "/opt/flink/usrlib/orders.jar".into())));
        assert!(h.contains(&("Main-Class".into(), "com.example.Orders".into())));
        // The same job gives the same bytes.
        assert_eq!(
            jar,
            launcher("/opt/flink/usrlib/orders.jar", Some("com.example.Orders"))
        );
    }

    #[test]
    fn without_one_imagejarmain_finds_the_image_jar_s_entry_class() {
        let e = entries(&launcher("/opt/flink/usrlib/orders.jar", None));
        let names: Vec<&str> = e.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "META-INF/MANIFEST.MF",
                PROPERTIES,
                "flinkops/launcher/ImageJarMain.class"
            ]
        );
        let h = headers(std::str::from_utf8(&e[0].1).unwrap());
        assert!(h.contains(&("Main-Class".into(), IMAGE_JAR_MAIN.into())));
        assert_eq!(e[1].1, b"jar=/opt/flink/usrlib/orders.jar\n");
        // A class file for Java 8 (major version 52) and later: every JVM Flink runs on.
        let class = &e[2].1;
        assert_eq!(class[..4], [0xCA, 0xFE, 0xBA, 0xBE]);
        assert_eq!(u16::from_be_bytes([class[6], class[7]]), 52);
    }

    #[test]
    fn the_path_reads_back_as_java_properties_read_it() {
        assert_eq!(properties("/opt/a b.jar"), "jar=/opt/a b.jar\n");
        assert_eq!(properties("/opt/é.jar"), "jar=/opt/\\u00e9.jar\n");
        assert_eq!(
            properties("/opt/\u{1F600}.jar"),
            "jar=/opt/\\ud83d\\ude00.jar\n"
        );
        assert_eq!(properties("C:\\a.jar"), "jar=C:\\\\a.jar\n");
    }

    #[test]
    fn the_upload_is_named_after_the_image_jar() {
        assert_eq!(upload_name("/opt/flink/usrlib/orders.jar"), "orders.jar");
        assert_eq!(upload_name(""), "job.jar");
    }
}
