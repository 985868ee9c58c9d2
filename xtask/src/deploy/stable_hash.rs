//! The hash behind every fingerprint the toolkit stores (containers' and Swarm services'
//! labels, secrets' names, the nested engine image's files): the same value across Rust
//! releases and platforms, which `std`'s hashers do not promise.

/// FNV-1a: a hash that stays the same across Rust releases (the fingerprint is stored on
/// containers and compared by later runs).
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x100000001b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_is_the_published_64_bit_hash() {
        assert_eq!(fnv1a(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a(b"lbkit"), 0xcded8de0604955ad);
    }
}
