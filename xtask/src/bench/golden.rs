//! The committed results (bench/results.json and bench/results.md, both written by one
//! full run) as the golden input and output of the report: read back, the results must
//! serialize to the same bytes, render to the same results.md, and give the same targets.
//! A change to the report's wording shows here; if it is meant, regenerate results.md from
//! the committed results.json with `BENCH_GOLDEN_WRITE=1 cargo test -p xtask --lib golden`.
use super::report::{self, Results};

const JSON: &str = include_str!("../../../bench/results.json");
const MARKDOWN: &str = include_str!("../../../bench/results.md");

fn committed() -> Results {
    serde_json::from_str(JSON).expect("bench/results.json reads back")
}

/// The first line that differs, so a failure says where instead of printing both texts.
#[track_caller]
fn assert_same(name: &str, actual: &str, expected: &str) {
    if actual == expected {
        return;
    }
    let (a, e): (Vec<&str>, Vec<&str>) = (actual.lines().collect(), expected.lines().collect());
    let at = (0..a.len().max(e.len()))
        .find(|&i| a.get(i) != e.get(i))
        .unwrap_or(a.len().min(e.len()));
    panic!(
        "{name} differs from the committed one at line {}:\n  rendered:  {:?}\n  committed: {:?}\n\
         ({} vs {} lines, {} vs {} bytes)",
        at + 1,
        a.get(at),
        e.get(at),
        a.len(),
        e.len(),
        actual.len(),
        expected.len()
    );
}

#[test]
fn the_committed_results_serialize_to_the_same_json() {
    let json = report::json(&committed()).unwrap();
    assert_same("results.json", &json, JSON);
}

#[test]
fn the_committed_results_render_to_the_committed_markdown() {
    let md = report::markdown(&committed());
    if std::env::var_os("BENCH_GOLDEN_WRITE").is_some() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../bench/results.md");
        std::fs::write(path, &md).unwrap();
    }
    assert_same("results.md", &md, MARKDOWN);
}

#[test]
fn the_committed_measurements_give_the_committed_targets() {
    let r = committed();
    assert_eq!(report::targets(&r), r.targets);
}
