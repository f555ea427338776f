//! Stock counts and supplier lead times from a CSV file, as an inventory system exports them:
//! `item_id,stock,lead_time_days`. Each row updates an item already in the catalog; an empty
//! cell leaves that value as it is (a file may carry only the counts). Counts and lead times are
//! whole numbers, at least 0 (a lead time at most 365 days).

use super::{BadRow, ImportError};
use crate::store::ItemEdit;
use std::io::BufRead;

/// The columns, in any order.
pub const COLUMNS: [&str; 3] = ["item_id", "stock", "lead_time_days"];

/// The longest lead time accepted, in days.
pub const MAX_LEAD_TIME_DAYS: i64 = 365;

/// One row read, with the line it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The line number in the file.
    pub line: u64,
    /// The item.
    pub item_id: String,
    /// What changes.
    pub edit: ItemEdit,
}

/// What a stock file holds.
#[derive(Debug, Default)]
pub struct StockFile {
    /// Every good row, in file order.
    pub rows: Vec<Row>,
    /// Every bad row, by line number.
    pub bad_rows: Vec<BadRow>,
}

/// A whole number of at least 0 (at most `max`) from `cell`; `None` when it is empty.
fn count(cell: &str, what: &str, max: i64) -> Result<Option<i64>, String> {
    let cell = cell.trim();
    if cell.is_empty() {
        return Ok(None);
    }
    match cell.parse::<i64>() {
        Ok(n) if n < 0 => Err(format!("{what} {n} is negative")),
        Ok(n) if n > max => Err(format!("{what} {n} is more than {max}")),
        Ok(n) => Ok(Some(n)),
        Err(_) => Err(format!("{what} {cell:?} is not a whole number")),
    }
}

/// Reads a stock CSV. A row that cannot be read is reported and skipped; a file without the
/// columns is refused.
pub fn read(input: impl BufRead) -> Result<StockFile, ImportError> {
    let (mut reader, header) = super::csv_with_header(input, "stock")?;
    let columns: Vec<usize> = COLUMNS
        .iter()
        .filter_map(|c| header.iter().position(|h| h == c))
        .collect();
    if columns.len() != COLUMNS.len() {
        return Err(ImportError::Format(format!(
            "not a stock file: the header must name {}, not {}",
            COLUMNS.join(","),
            header.join(",")
        )));
    }
    let mut file = StockFile::default();
    for (i, record) in reader.records().enumerate() {
        let line = i as u64 + 2;
        let parsed = record.map_err(|e| e.to_string()).and_then(|record| {
            let cell = |c: usize| record.get(columns[c]).unwrap_or("");
            let item_id = cell(0).trim().to_owned();
            if item_id.is_empty() {
                return Err("no item_id".to_owned());
            }
            let stock = count(cell(1), "stock", i64::MAX)?;
            let lead_time_days = count(cell(2), "lead_time_days", MAX_LEAD_TIME_DAYS)?;
            if stock.is_none() && lead_time_days.is_none() {
                return Err("neither a stock count nor a lead time".to_owned());
            }
            Ok(Row {
                line,
                item_id,
                edit: ItemEdit {
                    stock: stock.map(Some),
                    lead_time_days: lead_time_days.map(Some),
                    ..ItemEdit::default()
                },
            })
        });
        match parsed {
            Ok(row) => file.rows.push(row),
            Err(reason) => file.bad_rows.push(BadRow { line, reason }),
        }
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_update_what_they_carry_and_bad_ones_are_reported_by_line() {
        let text = "lead_time_days,item_id,stock\n\
                    7,1001,40\n\
                    ,1002,3\n\
                    14,1003,\n\
                    x,1004,5\n\
                    3,1005,-2\n\
                    ,1006,\n\
                    400,1007,1\n";
        let file = read(text.as_bytes()).unwrap();
        type Seen<'a> = (u64, &'a str, Option<Option<i64>>, Option<Option<i64>>);
        let rows: Vec<Seen> = file
            .rows
            .iter()
            .map(|r| {
                (
                    r.line,
                    r.item_id.as_str(),
                    r.edit.stock,
                    r.edit.lead_time_days,
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                (2, "1001", Some(Some(40)), Some(Some(7))),
                (3, "1002", Some(Some(3)), None),
                (4, "1003", None, Some(Some(14))),
            ]
        );
        let bad: Vec<(u64, &str)> = file
            .bad_rows
            .iter()
            .map(|b| (b.line, b.reason.as_str()))
            .collect();
        assert_eq!(
            bad,
            [
                (5, "lead_time_days \"x\" is not a whole number"),
                (6, "stock -2 is negative"),
                (7, "neither a stock count nor a lead time"),
                (8, "lead_time_days 400 is more than 365"),
            ]
        );
        assert!(matches!(
            read("item,qty\n1,2\n".as_bytes()),
            Err(ImportError::Format(_))
        ));
    }
}
