//! Exact money: amounts are integer cents in memory and in storage, and become decimal numbers
//! with two places only at the JSON edge. Binary floats never hold a balance.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign, Neg, Sub, SubAssign};

/// An amount of money in cents. It may be negative (a price difference that is refunded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Cents(pub i64);

/// A number that cannot be an amount of money.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MoneyError {
    /// NaN, infinite, or beyond what cents in an `i64` can hold.
    #[error("{0} is not a valid amount of money")]
    OutOfRange(f64),
    /// More than two decimal places that are not rounding noise (e.g. `1.005`).
    #[error("{0} has more than two decimal places")]
    SubCent(f64),
}

impl Cents {
    /// Zero dollars.
    pub const ZERO: Cents = Cents(0);

    /// Converts a decimal amount such as `50.88` to cents. Float noise below a thousandth of a cent
    /// (`71.96000000000001`) is rounded away; a real fraction of a cent is refused.
    pub fn from_dollars(amount: f64) -> Result<Cents, MoneyError> {
        if !amount.is_finite() || amount.abs() > 9.0e15 {
            return Err(MoneyError::OutOfRange(amount));
        }
        let scaled = amount * 100.0;
        let rounded = scaled.round();
        if (scaled - rounded).abs() > 1e-3 {
            return Err(MoneyError::SubCent(amount));
        }
        Ok(Cents(rounded as i64))
    }

    /// The amount in dollars, as the closest binary number to the exact decimal (for JSON).
    pub fn to_dollars(self) -> f64 {
        self.0 as f64 / 100.0
    }

    /// The absolute value.
    pub fn abs(self) -> Cents {
        Cents(self.0.abs())
    }
}

impl fmt::Display for Cents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        write!(f, "{sign}{}.{:02}", self.0.abs() / 100, self.0.abs() % 100)
    }
}

impl Add for Cents {
    type Output = Cents;
    fn add(self, rhs: Cents) -> Cents {
        Cents(self.0 + rhs.0)
    }
}

impl Sub for Cents {
    type Output = Cents;
    fn sub(self, rhs: Cents) -> Cents {
        Cents(self.0 - rhs.0)
    }
}

impl Neg for Cents {
    type Output = Cents;
    fn neg(self) -> Cents {
        Cents(-self.0)
    }
}

impl AddAssign for Cents {
    fn add_assign(&mut self, rhs: Cents) {
        self.0 += rhs.0;
    }
}

impl SubAssign for Cents {
    fn sub_assign(&mut self, rhs: Cents) {
        self.0 -= rhs.0;
    }
}

impl Sum for Cents {
    fn sum<I: Iterator<Item = Cents>>(iter: I) -> Cents {
        iter.fold(Cents::ZERO, Add::add)
    }
}

impl Serialize for Cents {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.to_dollars())
    }
}

impl<'de> Deserialize<'de> for Cents {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Cents, D::Error> {
        let amount = f64::deserialize(deserializer)?;
        Cents::from_dollars(amount).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_store_prices_exactly() {
        assert_eq!(Cents::from_dollars(50.88), Ok(Cents(5088)));
        assert_eq!(Cents::from_dollars(71.96000000000001), Ok(Cents(7196)));
        assert_eq!(Cents::from_dollars(-17.99), Ok(Cents(-1799)));
        assert_eq!(Cents(5088).to_dollars().to_string(), "50.88");
        assert_eq!(Cents(-1799).to_string(), "-17.99");
        assert_eq!(Cents(5).to_string(), "0.05");
    }

    #[test]
    fn refuses_what_is_not_money() {
        assert!(matches!(
            Cents::from_dollars(1.005),
            Err(MoneyError::SubCent(_))
        ));
        assert!(matches!(
            Cents::from_dollars(f64::NAN),
            Err(MoneyError::OutOfRange(_))
        ));
        assert!(matches!(
            Cents::from_dollars(1e300),
            Err(MoneyError::OutOfRange(_))
        ));
    }

    #[test]
    fn a_thousand_dimes_make_exactly_one_hundred_dollars() {
        let total: Cents = (0..1000).map(|_| Cents::from_dollars(0.1).unwrap()).sum();
        assert_eq!(total.to_dollars(), 100.0);
    }
}
