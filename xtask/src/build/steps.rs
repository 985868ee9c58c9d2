//! Makes sense of the classic builder's output: which step runs, whether it came from the
//! cache, and what the failing step printed.

/// One image build's output, fed chunk by chunk as the engine streams it.
#[derive(Default)]
pub(crate) struct BuildOutput {
    /// Everything, for the log file.
    pub(crate) log: String,
    partial: String,
    steps: Vec<Step>,
}

struct Step {
    title: String,
    output: Vec<String>,
    cached: bool,
    made_layer: bool,
}

impl Step {
    /// A step the engine executed rather than took from its cache. FROM only names an
    /// existing image, and an ARG before FROM makes no layer: neither counts.
    fn ran(&self) -> bool {
        self.made_layer && !self.cached && !self.title.contains(" : FROM ")
    }
}

impl BuildOutput {
    /// Takes a chunk of output; returns the title of a step that started in it, if any.
    pub(crate) fn push(&mut self, chunk: &str) -> Option<String> {
        let chunk = strip_colors(chunk);
        self.log.push_str(&chunk);
        self.partial.push_str(&chunk);
        let mut started = None;
        while let Some(end) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=end).collect();
            if let Some(title) = self.line(line.trim_end()) {
                started = Some(title);
            }
        }
        started
    }

    fn line(&mut self, line: &str) -> Option<String> {
        if line.starts_with("Step ") && line.contains(" : ") {
            self.steps.push(Step {
                title: line.to_string(),
                output: Vec::new(),
                cached: false,
                made_layer: false,
            });
            return Some(line.to_string());
        }
        let step = self.steps.last_mut()?;
        match line.strip_prefix(" ---> ") {
            Some("Using cache") => step.cached = true,
            Some(rest) if rest.starts_with("Running in ") => {}
            Some(rest) if rest.chars().all(|c| c.is_ascii_hexdigit()) => step.made_layer = true,
            _ if line.starts_with("Removing intermediate container") => {}
            _ => step.output.push(line.to_string()),
        }
        None
    }

    /// True when every step came from the cache: the image is the one built before.
    pub(crate) fn all_cached(&self) -> bool {
        !self.steps.iter().any(Step::ran)
    }

    /// The last step started (the failing one after an error) and its last output lines.
    pub(crate) fn last_step(&self, lines: usize) -> Option<(String, Vec<String>)> {
        let step = self.steps.last()?;
        let mut output = step.output.clone();
        if !self.partial.is_empty() {
            output.push(self.partial.clone());
        }
        let skip = output.len().saturating_sub(lines);
        Some((step.title.clone(), output.split_off(skip)))
    }
}

/// The engine paints a step's stderr red with ANSI escapes: not wanted in a log file.
fn strip_colors(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // CSI: ESC [ parameters, ended by a byte in @..~
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{strip_colors, BuildOutput};

    #[test]
    fn colors_are_stripped() {
        let red = "\x1b[91mls: \x1b[0m\x1b[91mcannot access '/x'\x1b[0m\n";
        assert_eq!(strip_colors(red), "ls: cannot access '/x'\n");
    }

    const CACHED: &str = "Step 1/4 : ARG BASE\nStep 2/4 : FROM ${BASE}\n ---> 15af8605d401\n\
        Step 3/4 : COPY webapp /usr/local/bin/webapp\n ---> Using cache\n ---> 14aaca9da77b\n\
        Step 4/4 : LABEL lbkit.role=webapp\n ---> Using cache\n ---> 95abce3f771b\n\
        Successfully built 95abce3f771b\n";

    #[test]
    fn every_step_from_the_cache_is_cached() {
        let mut output = BuildOutput::default();
        // Chunks split lines anywhere.
        let (a, b) = CACHED.split_at(37);
        output.push(a);
        output.push(b);
        assert!(output.all_cached());
        assert_eq!(output.log, CACHED);
    }

    #[test]
    fn a_step_that_ran_makes_the_image_built_and_the_failure_is_shown() {
        let mut output = BuildOutput::default();
        output.push("Step 1/2 : FROM base\n ---> 15af8605d401\n");
        let started = output.push("Step 2/2 : RUN apt-get install nope\n ---> Running in 5304\n");
        assert_eq!(
            started.as_deref(),
            Some("Step 2/2 : RUN apt-get install nope")
        );
        output.push("E: Unable to locate package nope\n");
        let (title, lines) = output.last_step(10).unwrap();
        assert_eq!(title, "Step 2/2 : RUN apt-get install nope");
        assert_eq!(lines, ["E: Unable to locate package nope"]);

        output.push("Removing intermediate container 5304\n ---> e863834da877\n");
        assert!(!output.all_cached());
    }
}
