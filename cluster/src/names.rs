/// A DNS label (RFC 1123): what Docker hostnames, container names and Serf node names
/// can all safely be. Lowercase only, so names compare as users read them.
pub fn is_dns_label(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-'
}

/// Sort key that orders `s2` before `s10`: the name without its trailing digits, then
/// the number they form.
pub fn natural_key(name: &str) -> (&str, u64, &str) {
    let stem = name.trim_end_matches(|c: char| c.is_ascii_digit());
    let digits = &name[stem.len()..];
    (stem, digits.parse().unwrap_or(0), name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_labels() {
        for ok in ["ha", "s1", "web-2", "a"] {
            assert!(is_dns_label(ok), "{ok}");
        }
        let too_long = "a".repeat(64);
        for bad in ["", "-a", "a-", "S1", "a_b", "a.b", too_long.as_str()] {
            assert!(!is_dns_label(bad), "{bad}");
        }
    }

    #[test]
    fn natural_order() {
        let mut names = vec!["s10", "s2", "s1", "ha"];
        names.sort_by_key(|n| natural_key(n));
        assert_eq!(names, ["ha", "s1", "s2", "s10"]);
    }
}
