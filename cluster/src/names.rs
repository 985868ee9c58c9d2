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

/// `text` safe to print on a terminal: every control character (below 0x20, 0x7f, and the
/// C1 controls U+0080-U+009F, which some terminals take as escapes too) written as `\x1b`.
/// Member names come from gossip, so a name must never move the cursor or retitle an
/// operator's terminal.
pub fn escape_control(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(is_control) {
        return text.into();
    }
    text.chars()
        .map(|c| match is_control(c) {
            true => format!("\\x{:02x}", u32::from(c)),
            false => c.to_string(),
        })
        .collect::<String>()
        .into()
}

fn is_control(c: char) -> bool {
    c.is_control()
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
    fn control_characters_are_escaped() {
        assert_eq!(escape_control("s1"), "s1");
        assert!(matches!(
            escape_control("s1 ok é"),
            std::borrow::Cow::Borrowed(_)
        ));
        assert_eq!(escape_control("\x1b]0;pwned\x07s1"), "\\x1b]0;pwned\\x07s1");
        assert_eq!(
            escape_control("a\tb\nc\rd\x7fe\0"),
            "a\\x09b\\x0ac\\x0dd\\x7fe\\x00"
        );
        assert_eq!(escape_control("\u{9b}2J"), "\\x9b2J");
        // Printable text, backslashes included, stays as it is.
        assert_eq!(escape_control("a\\x1b ~"), "a\\x1b ~");
    }

    #[test]
    fn natural_order() {
        let mut names = vec!["s10", "s2", "s1", "ha"];
        names.sort_by_key(|n| natural_key(n));
        assert_eq!(names, ["ha", "s1", "s2", "s10"]);
    }
}
