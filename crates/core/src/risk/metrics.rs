//! How well scores rank the rare bad cases: average precision (the area under the
//! precision-recall curve, AUPRC) and the recall reached at a given false-positive rate.

/// Pairs `(score, positive)` sorted by score, highest first.
fn ranked(scores: &[f64], positives: &[bool]) -> Vec<(f64, bool)> {
    let mut pairs: Vec<(f64, bool)> = scores
        .iter()
        .copied()
        .zip(positives.iter().copied())
        .collect();
    pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
    pairs
}

/// Average precision: the mean, over the positives, of the precision at the threshold that
/// first takes each in (tied scores are taken in together). 0 when there is no positive.
pub fn average_precision(scores: &[f64], positives: &[bool]) -> f64 {
    let total = positives.iter().filter(|p| **p).count();
    if total == 0 {
        return 0.0;
    }
    let pairs = ranked(scores, positives);
    let (mut taken, mut hits, mut ap) = (0usize, 0usize, 0.0);
    let mut i = 0;
    while i < pairs.len() {
        // Every pair tied at this score enters at once.
        let mut new_hits = 0;
        while i < pairs.len() && (taken == i || pairs[i].0 == pairs[taken].0) {
            new_hits += usize::from(pairs[i].1);
            i += 1;
        }
        taken = i;
        hits += new_hits;
        ap += new_hits as f64 / total as f64 * (hits as f64 / taken as f64);
    }
    ap
}

/// The share of positives caught by the highest threshold's cut that flags at most `fpr` of the
/// negatives.
pub fn recall_at_fpr(scores: &[f64], positives: &[bool], fpr: f64) -> f64 {
    let total = positives.iter().filter(|p| **p).count();
    let negatives = positives.len() - total;
    if total == 0 {
        return 0.0;
    }
    let allowed = (negatives as f64 * fpr).floor() as usize;
    let pairs = ranked(scores, positives);
    let (mut false_positives, mut hits, mut best) = (0usize, 0usize, 0usize);
    let mut i = 0;
    while i < pairs.len() {
        let score = pairs[i].0;
        while i < pairs.len() && pairs[i].0 == score {
            if pairs[i].1 {
                hits += 1;
            } else {
                false_positives += 1;
            }
            i += 1;
        }
        if false_positives > allowed {
            break;
        }
        best = hits;
    }
    best as f64 / total as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_perfect_ranking_scores_one_and_a_reversed_one_less() {
        let positives = [true, true, false, false, false];
        assert_eq!(
            average_precision(&[0.9, 0.8, 0.3, 0.2, 0.1], &positives),
            1.0
        );
        // Positives ranked 3rd and 5th: (1/3 + 2/5) / 2.
        let ap = average_precision(&[0.5, 0.1, 0.9, 0.8, 0.2], &positives);
        assert!((ap - (1.0 / 3.0 + 2.0 / 5.0) / 2.0).abs() < 1e-12);
    }

    #[test]
    fn ties_enter_together() {
        // All tied: precision is the base rate.
        assert!((average_precision(&[0.5; 4], &[true, false, false, false]) - 0.25).abs() < 1e-12);
    }

    #[test]
    fn recall_stops_where_the_false_positives_pass_the_rate() {
        let positives = [
            true, false, true, false, false, false, false, false, false, false,
        ];
        let scores = [0.9, 0.8, 0.7, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1];
        // 8 negatives: 10 % allows none flagged, so only the first positive.
        assert_eq!(recall_at_fpr(&scores, &positives, 0.10), 0.5);
        // 25 % allows two: both positives.
        assert_eq!(recall_at_fpr(&scores, &positives, 0.25), 1.0);
    }
}
