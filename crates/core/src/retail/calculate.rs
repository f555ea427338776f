//! `calculate`: arithmetic for the agent, so that it never adds up prices in its head. The
//! expression language and the result's form are the reference's (a Python expression of numbers,
//! `+ - * / ( )` and spaces, rounded to two places): `**` is a power and `//` a floor division.

use super::RetailError;

/// Deepest nesting of parentheses and signs accepted (bounds the recursion).
const MAX_DEPTH: usize = 64;

/// Evaluates `expression` and returns the result rounded to two decimals, written as Python writes
/// a float (`4.0`, `-17.99`).
pub fn calculate(expression: &str) -> Result<String, RetailError> {
    let invalid = |why: &str| RetailError::InvalidExpression(why.to_owned());
    if !expression.chars().all(|c| "0123456789+-*/(). ".contains(c)) {
        return Err(invalid(
            "only numbers, + - * / ( ) . and spaces are allowed",
        ));
    }
    let mut parser = Parser {
        tokens: tokenize(expression)?,
        at: 0,
        depth: 0,
    };
    let value = parser.expression()?;
    if parser.at != parser.tokens.len() {
        return Err(invalid("unexpected text after the expression"));
    }
    if !value.is_finite() {
        return Err(invalid("the result is too large"));
    }
    Ok(python_float(round2(value)))
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Token {
    Number(f64),
    Plus,
    Minus,
    Times,
    Divide,
    FloorDivide,
    Power,
    Open,
    Close,
}

fn tokenize(text: &str) -> Result<Vec<Token>, RetailError> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let two = |c: u8| bytes.get(i + 1) == Some(&c);
        let (token, width) = match bytes[i] {
            b' ' => {
                i += 1;
                continue;
            }
            b'+' => (Token::Plus, 1),
            b'-' => (Token::Minus, 1),
            b'*' if two(b'*') => (Token::Power, 2),
            b'*' => (Token::Times, 1),
            b'/' if two(b'/') => (Token::FloorDivide, 2),
            b'/' => (Token::Divide, 1),
            b'(' => (Token::Open, 1),
            b')' => (Token::Close, 1),
            _ => {
                let start = i;
                while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
                    i += 1;
                }
                let literal = &text[start..i];
                let number = literal
                    .parse::<f64>()
                    .ok()
                    .filter(|_| literal != ".")
                    .ok_or_else(|| {
                        RetailError::InvalidExpression(format!("bad number {literal:?}"))
                    })?;
                tokens.push(Token::Number(number));
                continue;
            }
        };
        tokens.push(token);
        i += width;
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<Token> {
        self.tokens.get(self.at).copied()
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.peek();
        self.at += 1;
        token
    }

    fn nested<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, RetailError>,
    ) -> Result<T, RetailError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(RetailError::InvalidExpression("nested too deeply".into()));
        }
        let result = f(self);
        self.depth -= 1;
        result
    }

    /// sum := product (('+' | '-') product)*
    fn expression(&mut self) -> Result<f64, RetailError> {
        let mut value = self.product()?;
        while let Some(op @ (Token::Plus | Token::Minus)) = self.peek() {
            self.at += 1;
            let rhs = self.product()?;
            value = if op == Token::Plus {
                value + rhs
            } else {
                value - rhs
            };
        }
        Ok(value)
    }

    /// product := unary (('*' | '/' | '//') unary)*
    fn product(&mut self) -> Result<f64, RetailError> {
        let mut value = self.unary()?;
        while let Some(op @ (Token::Times | Token::Divide | Token::FloorDivide)) = self.peek() {
            self.at += 1;
            let rhs = self.unary()?;
            if op != Token::Times && rhs == 0.0 {
                return Err(RetailError::InvalidExpression("division by zero".into()));
            }
            value = match op {
                Token::Times => value * rhs,
                Token::Divide => value / rhs,
                _ => (value / rhs).floor(),
            };
        }
        Ok(value)
    }

    /// unary := ('+' | '-') unary | power — a sign binds less tightly than `**`, as in Python.
    fn unary(&mut self) -> Result<f64, RetailError> {
        match self.peek() {
            Some(Token::Plus) => {
                self.at += 1;
                self.nested(Self::unary)
            }
            Some(Token::Minus) => {
                self.at += 1;
                Ok(-self.nested(Self::unary)?)
            }
            _ => self.power(),
        }
    }

    /// power := atom ('**' unary)?
    fn power(&mut self) -> Result<f64, RetailError> {
        let base = self.atom()?;
        if self.peek() == Some(Token::Power) {
            self.at += 1;
            let exponent = self.nested(Self::unary)?;
            if base == 0.0 && exponent < 0.0 {
                return Err(RetailError::InvalidExpression("division by zero".into()));
            }
            let value = base.powf(exponent);
            if value.is_nan() {
                return Err(RetailError::InvalidExpression("no real result".into()));
            }
            return Ok(value);
        }
        Ok(base)
    }

    /// atom := number | '(' sum ')'
    fn atom(&mut self) -> Result<f64, RetailError> {
        match self.next() {
            Some(Token::Number(n)) => Ok(n),
            Some(Token::Open) => {
                let value = self.nested(Self::expression)?;
                match self.next() {
                    Some(Token::Close) => Ok(value),
                    _ => Err(RetailError::InvalidExpression("missing ')'".into())),
                }
            }
            _ => Err(RetailError::InvalidExpression("a number is missing".into())),
        }
    }
}

/// Rounds to two decimals, correctly (on the exact binary value, ties to even), as Python's round.
fn round2(value: f64) -> f64 {
    format!("{value:.2}").parse().unwrap_or(value)
}

/// Writes a float as Python's `repr` does.
fn python_float(value: f64) -> String {
    if value.abs() >= 1e16 {
        let s = format!("{value:e}");
        return match s.split_once('e') {
            Some((mantissa, exp)) if !exp.starts_with('-') => format!("{mantissa}e+{exp}"),
            _ => s,
        };
    }
    let s = format!("{value}");
    if s.contains('.') { s } else { format!("{s}.0") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_reference_results() {
        for (expression, expected) in [
            ("3131.1 + 4777.75 + 367.38", "8276.23"),
            ("155.33 - 147.05 + 268.77 - 235.13", "41.92"),
            ("135.24 - 153.23", "-17.99"),
            ("2 + 2", "4.0"),
            ("(1 + 2) * 3 / 4", "2.25"),
            ("-2 ** 2", "-4.0"),
            ("2 ** -1", "0.5"),
            ("7 // 2", "3.0"),
            ("10 / 3", "3.33"),
            ("1e3".replace('e', "*10**").as_str(), "1000.0"),
            ("100000000 * 100000000", "1e+16"),
            ("-0.001", "-0.0"),
            (".5 + 3.", "3.5"),
        ] {
            assert_eq!(calculate(expression).unwrap(), expected, "{expression}");
        }
    }

    #[test]
    fn refuses_what_is_not_arithmetic() {
        for expression in [
            "",
            "2 +",
            "1 / 0",
            "1 // 0",
            "(1 + 2",
            "1 + 2)",
            "2 (3)",
            "1.2.3",
            ".",
            "abs(-1)",
            "__import__('os')",
            "0 ** -1",
            "(-8) ** 0.5",
            "10 ** 400",
        ] {
            assert!(
                matches!(
                    calculate(expression),
                    Err(RetailError::InvalidExpression(_))
                ),
                "{expression}"
            );
        }
        let deep = format!("{}1{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(calculate(&deep).is_err());
        assert!(calculate(&"-".repeat(10_000)).is_err());
    }
}
