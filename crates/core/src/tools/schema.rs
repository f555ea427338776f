//! Checks tool arguments against the tool's JSON schema — the subset of JSON Schema that tool
//! descriptions use: `type`, `properties`, `required`, `additionalProperties`, `items`, `enum`,
//! `maxLength`, `maxItems`, `maxProperties`, `minimum` and `maximum`.

use serde_json::Value;

/// Returns the first way `value` breaks `schema`, naming where (`$.filters.max_price`).
pub fn check(schema: &Value, value: &Value) -> Result<(), String> {
    check_at(schema, value, "$")
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn check_at(schema: &Value, value: &Value, path: &str) -> Result<(), String> {
    let Some(schema) = schema.as_object() else {
        return Ok(());
    };
    if let Some(expected) = schema.get("type").and_then(Value::as_str) {
        let fits = match expected {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "boolean" => value.is_boolean(),
            "number" => value.is_number(),
            "integer" => value.is_i64() || value.is_u64(),
            "null" => value.is_null(),
            _ => true,
        };
        if !fits {
            return Err(format!(
                "{path} must be {expected_article} {expected}, not {}",
                type_name(value),
                expected_article = if expected.starts_with(['a', 'e', 'i', 'o', 'u']) {
                    "an"
                } else {
                    "a"
                }
            ));
        }
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array)
        && !options.contains(value)
    {
        return Err(format!(
            "{path} must be one of {}",
            Value::Array(options.clone())
        ));
    }
    match value {
        Value::String(s) => {
            if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
                && s.chars().count() as u64 > max
            {
                return Err(format!("{path} is longer than {max} characters"));
            }
        }
        Value::Number(n) => {
            let n = n.as_f64().unwrap_or(f64::NAN);
            if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
                && n < min
            {
                return Err(format!("{path} must be at least {min}"));
            }
            if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
                && n > max
            {
                return Err(format!("{path} must be at most {max}"));
            }
        }
        Value::Array(items) => {
            if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
                && items.len() as u64 > max
            {
                return Err(format!("{path} has more than {max} items"));
            }
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    check_at(item_schema, item, &format!("{path}[{i}]"))?;
                }
            }
        }
        Value::Object(fields) => {
            if let Some(max) = schema.get("maxProperties").and_then(Value::as_u64)
                && fields.len() as u64 > max
            {
                return Err(format!("{path} has more than {max} entries"));
            }
            for required in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(name) = required.as_str()
                    && !fields.contains_key(name)
                {
                    return Err(format!("{path}.{name} is required"));
                }
            }
            let properties = schema.get("properties").and_then(Value::as_object);
            for (name, field) in fields {
                let field_path = format!("{path}.{name}");
                match properties.and_then(|p| p.get(name)) {
                    Some(field_schema) => check_at(field_schema, field, &field_path)?,
                    None => match schema.get("additionalProperties") {
                        Some(Value::Bool(false)) => {
                            return Err(format!("{field_path} is not an argument of this tool"));
                        }
                        Some(extra @ Value::Object(_)) => check_at(extra, field, &field_path)?,
                        _ => {}
                    },
                }
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reports_the_first_problem_with_its_place() {
        let schema = json!({
            "type": "object",
            "properties": {
                "order_id": {"type": "string", "maxLength": 5},
                "ids": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
                "limit": {"type": "integer", "minimum": 1, "maximum": 20},
                "filters": {"type": "object", "additionalProperties": {"type": "string"}}
            },
            "required": ["order_id"],
            "additionalProperties": false
        });
        let cases = [
            (json!({"order_id": "#W1"}), None),
            (json!([]), Some("$ must be an object, not an array")),
            (json!({}), Some("$.order_id is required")),
            (
                json!({"order_id": 7}),
                Some("$.order_id must be a string, not an integer"),
            ),
            (
                json!({"order_id": "#W123456"}),
                Some("$.order_id is longer than 5 characters"),
            ),
            (
                json!({"order_id": "a", "x": 1}),
                Some("$.x is not an argument of this tool"),
            ),
            (
                json!({"order_id": "a", "ids": ["1", 2]}),
                Some("$.ids[1] must be a string, not an integer"),
            ),
            (
                json!({"order_id": "a", "ids": ["1", "2", "3"]}),
                Some("$.ids has more than 2 items"),
            ),
            (
                json!({"order_id": "a", "limit": 2.5}),
                Some("$.limit must be an integer, not a number"),
            ),
            (
                json!({"order_id": "a", "limit": 0}),
                Some("$.limit must be at least 1"),
            ),
            (
                json!({"order_id": "a", "filters": {"color": 1}}),
                Some("$.filters.color must be a string, not an integer"),
            ),
        ];
        for (value, expected) in cases {
            assert_eq!(check(&schema, &value).err().as_deref(), expected, "{value}");
        }
    }
}
