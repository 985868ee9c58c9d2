//! Refused members are recorded once per (name, address, reason), not on every poll, and
//! what is kept to know that is bounded: a flood of fake names costs a few lines.
use std::collections::BTreeSet;

use crate::members::Skipped;

/// How many refusals are remembered (and so recorded) at once.
const AT_MOST: usize = 1024;

#[derive(Debug, Default)]
pub(crate) struct Refusals {
    seen: BTreeSet<(String, String, String)>,
    full_said: bool,
}

impl Refusals {
    /// The refusals not recorded yet, plus one line when the bound is first reached.
    /// `present` is every (name, address) Serf lists now: a member that is gone is
    /// forgotten, and recorded again if it comes back.
    pub(crate) fn fresh(
        &mut self,
        refused: &[Skipped],
        present: &BTreeSet<(String, String)>,
    ) -> (Vec<Skipped>, Option<String>) {
        self.seen
            .retain(|(name, addr, _)| present.contains(&(name.clone(), addr.clone())));
        let mut fresh = Vec::new();
        let mut note = None;
        for skipped in refused {
            let key = (
                skipped.name.clone(),
                skipped.addr.clone(),
                skipped.reason.clone(),
            );
            if self.seen.contains(&key) {
                continue;
            }
            if self.seen.len() >= AT_MOST {
                if !self.full_said {
                    self.full_said = true;
                    note = Some(format!(
                        "more than {AT_MOST} members refused at once: further refusals are not recorded until some leave"
                    ));
                }
                continue;
            }
            self.seen.insert(key);
            fresh.push(skipped.clone());
        }
        if self.seen.len() < AT_MOST / 2 {
            self.full_said = false;
        }
        (fresh, note)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skipped(name: &str, reason: &str) -> Skipped {
        Skipped {
            name: name.into(),
            addr: "10.0.0.2:7950".into(),
            reason: reason.into(),
        }
    }

    fn present(names: &[&str]) -> BTreeSet<(String, String)> {
        names
            .iter()
            .map(|n| (n.to_string(), "10.0.0.2:7950".to_string()))
            .collect()
    }

    #[test]
    fn each_refusal_once_while_it_lasts() {
        let mut refusals = Refusals::default();
        let all = [skipped("s99", "r1"), skipped("s98", "r1")];
        assert_eq!(refusals.fresh(&all, &present(&["s99", "s98"])).0.len(), 2);
        assert!(refusals.fresh(&all, &present(&["s99", "s98"])).0.is_empty());
        // Another reason is news; a member that left and came back is recorded again.
        assert_eq!(
            refusals
                .fresh(&[skipped("s99", "r2")], &present(&["s99"]))
                .0,
            [skipped("s99", "r2")]
        );
        refusals.fresh(&[], &present(&[]));
        assert_eq!(refusals.fresh(&all[..1], &present(&["s99"])).0.len(), 1);
    }

    #[test]
    fn memory_and_lines_are_bounded() {
        let mut refusals = Refusals::default();
        let flood: Vec<Skipped> = (0..AT_MOST + 100)
            .map(|i| skipped(&format!("fake{i}"), "r"))
            .collect();
        let names: Vec<String> = flood.iter().map(|s| s.name.clone()).collect();
        let everyone = present(&names.iter().map(String::as_str).collect::<Vec<_>>());
        let (fresh, note) = refusals.fresh(&flood, &everyone);
        assert_eq!(fresh.len(), AT_MOST);
        assert!(note.is_some());
        let (fresh, note) = refusals.fresh(&flood, &everyone);
        assert!(fresh.is_empty() && note.is_none());
    }
}
