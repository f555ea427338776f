//! `clerk eval`: how well the agent does its job, measured on reference tasks. [`conversations`]
//! plays fixed shopper lines on the demo store, one for every job, and checks each conversation
//! by machine; [`merchant`] asks the merchant's questions on the Ta-Feng store and checks the
//! figures of each answer against SQL of its own; [`tau2`] plays tau2-retail tasks against a simulated shopper and scores them as
//! the reference does. This
//! module holds what any evaluation needs: the data README's rule for comparing records, and
//! pass^k.

pub mod conversations;
pub mod merchant;
pub mod tau2;

use serde_json::Value;

/// The reference's comparison rule: JSON compared structurally, numbers equal within 0.01, a null
/// value the same as an absent key, key order free. Returns where the two differ first.
pub fn json_mismatch(ours: &Value, reference: &Value, path: &str) -> Option<String> {
    match (ours, reference) {
        (Value::Number(a), Value::Number(b)) => {
            let (a, b) = (
                a.as_f64().unwrap_or(f64::NAN),
                b.as_f64().unwrap_or(f64::NAN),
            );
            ((a - b).abs() > 0.01 + 1e-9 || a.is_nan() || b.is_nan())
                .then(|| format!("{path}: {a} != {b}"))
        }
        (Value::Object(a), Value::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            keys.into_iter().find_map(|key| {
                let x = a.get(key).unwrap_or(&Value::Null);
                let y = b.get(key).unwrap_or(&Value::Null);
                json_mismatch(x, y, &format!("{path}.{key}"))
            })
        }
        (Value::Array(a), Value::Array(b)) => {
            if a.len() != b.len() {
                return Some(format!("{path}: {} items != {} items", a.len(), b.len()));
            }
            a.iter()
                .zip(b)
                .enumerate()
                .find_map(|(i, (x, y))| json_mismatch(x, y, &format!("{path}[{i}]")))
        }
        (a, b) => (a != b).then(|| format!("{path}: {a} != {b}")),
    }
}

/// pass^k as tau-bench defines it: for each task with `c` successes in `n` trials, the chance
/// that `k` trials drawn without replacement all succeed, C(c, k) / C(n, k), averaged over tasks.
/// `None` when a task has fewer than `k` trials.
pub fn pass_hat_k(successes_and_trials: &[(usize, usize)], k: usize) -> Option<f64> {
    if successes_and_trials.is_empty() || k == 0 {
        return None;
    }
    let choose = |n: usize, k: usize| -> f64 {
        (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64)
    };
    let mut total = 0.0;
    for &(c, n) in successes_and_trials {
        if n < k {
            return None;
        }
        total += if c < k {
            0.0
        } else {
            choose(c, k) / choose(n, k)
        };
    }
    Some(total / successes_and_trials.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn records_compare_as_the_reference_does() {
        assert_eq!(
            json_mismatch(
                &json!({"a": 1.004, "b": null, "c": [1, 2]}),
                &json!({"c": [1, 2], "a": 1}),
                ""
            ),
            None
        );
        assert_eq!(
            json_mismatch(&json!({"a": 1.02}), &json!({"a": 1}), "$"),
            Some("$.a: 1.02 != 1".into())
        );
        assert_eq!(
            json_mismatch(&json!({"s": "x"}), &json!({}), "$"),
            Some("$.s: \"x\" != null".into())
        );
    }

    #[test]
    fn pass_hat_k_follows_tau_bench() {
        // One task 2/2, one 1/2, one 0/2.
        let runs = [(2, 2), (1, 2), (0, 2)];
        assert_eq!(pass_hat_k(&runs, 1), Some((1.0 + 0.5 + 0.0) / 3.0));
        assert_eq!(pass_hat_k(&runs, 2), Some(1.0 / 3.0));
        assert_eq!(pass_hat_k(&runs, 3), None);
        assert_eq!(pass_hat_k(&[], 1), None);
    }
}
