//! Plain-text tables for the terminal (status, scale, build): each column as wide as its
//! widest cell, so a long node name (DNS labels go up to 63 characters) shifts the columns
//! after it instead of breaking them.

/// One column: its header, a minimum width, right alignment (numbers), and the spaces
/// before it.
pub(crate) struct Column {
    header: &'static str,
    min: usize,
    right: bool,
    gap: usize,
}

impl Column {
    pub(crate) fn left(header: &'static str, min: usize) -> Column {
        Column {
            header,
            min,
            right: false,
            gap: 1,
        }
    }

    pub(crate) fn right(header: &'static str, min: usize) -> Column {
        Column {
            right: true,
            ..Column::left(header, min)
        }
    }

    /// Spaces between this column and the one before it (1 by default).
    pub(crate) fn gap(self, gap: usize) -> Column {
        Column { gap, ..self }
    }
}

/// The header line and one line per row, each ending in a newline, trailing spaces
/// trimmed. A row may have fewer cells than there are columns.
pub(crate) fn render(columns: &[Column], rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, column)| {
            rows.iter()
                .filter_map(|row| row.get(i))
                .map(|cell| cell.chars().count())
                .chain([column.header.len(), column.min])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let header: Vec<String> = columns.iter().map(|c| c.header.to_string()).collect();
    let mut out = String::new();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, (cell, column)) in row.iter().zip(columns).enumerate() {
            if i > 0 {
                line.push_str(&" ".repeat(column.gap));
            }
            let pad = " ".repeat(widths[i].saturating_sub(cell.chars().count()));
            if column.right {
                line.push_str(&pad);
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.push_str(&pad);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_63_character_name_keeps_the_columns_aligned() {
        let long = "n".repeat(63);
        let columns = [
            Column::left("NODE", 4),
            Column::left("STATE", 7),
            Column::right("REQUESTS", 8),
        ];
        let rows = [
            vec!["ha".to_string(), "running".to_string(), "-".to_string()],
            vec![long.clone(), "exited".to_string(), "12".to_string()],
        ];
        let text = render(&columns, &rows);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], format!("NODE{} STATE   REQUESTS", " ".repeat(59)));
        assert_eq!(lines[1], format!("ha{} running        -", " ".repeat(61)));
        assert_eq!(lines[2], format!("{long} exited        12"));
        // Every column starts at the same place on every line.
        let starts = |line: &str| line.find(" running").or(line.find(" exited"));
        assert_eq!(starts(lines[1]), starts(lines[2]));
        assert!(lines.iter().all(|l| l.len() == lines[0].len()));
    }

    #[test]
    fn short_cells_keep_the_minimum_widths() {
        let columns = [Column::left("a", 4), Column::right("b", 3).gap(2)];
        let text = render(&columns, &[vec!["x".into(), "1".into()]]);
        assert_eq!(text, "a       b\nx       1\n");
    }
}
