//! Helios's plain-text tables: every cell is followed by four spaces and
//! padded to the widest cell of its column, so columns line up and every line
//! ends in whitespace, exactly as Helios's `Table` prints them.

use std::io::Write;

/// Spaces between two columns.
const PADDING: usize = 4;

/// Renders `rows` (the first is usually the header) as lines joined by `\n`,
/// each ending with `\n`. Widths count characters, not bytes.
pub fn render(rows: &[Vec<String>]) -> String {
    let mut out = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = write_lines(&mut out, rows);
    String::from_utf8(out).unwrap_or_default()
}

/// [`render`] written to `out` line by line (a table of many rows is never one string),
/// through a buffer: standard output is line-buffered, and a write per line was a system call
/// per row.
pub fn write(out: &mut dyn Write, rows: &[Vec<String>]) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::with_capacity(64 << 10, out);
    write_lines(&mut out, rows)?;
    out.flush()
}

/// The lines of [`render`], each written to `out` as it is made.
fn write_lines(out: &mut impl Write, rows: &[Vec<String>]) -> std::io::Result<()> {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; columns];
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(width(cell));
        }
    }
    let mut line = String::new();
    for row in rows {
        line.clear();
        for (i, cell) in row.iter().enumerate() {
            line.push_str(cell);
            let pad = PADDING + widths[i] - width(cell);
            line.extend(std::iter::repeat_n(' ', pad));
        }
        line.push('\n');
        out.write_all(line.as_bytes())?;
    }
    Ok(())
}

/// A cell's width in characters (its length in bytes when it is ASCII, the common case).
fn width(cell: &str) -> usize {
    if cell.is_ascii() {
        cell.len()
    } else {
        cell.chars().count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(cells: &[&str]) -> Vec<String> {
        cells.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn columns_are_padded_to_max_width_plus_four() {
        let text = render(&[row(&["JOB ID", "NAME"]), row(&["foo:1:abcdefg", "foo"])]);
        assert_eq!(
            text,
            "JOB ID           NAME    \nfoo:1:abcdefg    foo     \n"
        );
    }

    #[test]
    fn widths_count_characters() {
        let text = render(&[row(&["é", "x"]), row(&["ab", "y"])]);
        assert_eq!(text, "é     x    \nab    y    \n");
    }

    #[test]
    fn empty_table_is_empty() {
        assert_eq!(render(&[]), "");
    }
}
