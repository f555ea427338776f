//! Which computed prefixes the candle runtime keeps, so that a step computes only the tokens no
//! earlier step has: the shared system message (pinned: every conversation starts with it) and
//! each conversation's latest sequence (least recently used first out).
//!
//! A step's tokens are matched against every kept sequence; the longest common prefix wins,
//! whether the kept sequence ends there or goes on (a view the engine rebuilt differently from
//! what the model generated, or a question appended after tool results that the next view no
//! longer has): its cache is cut back to the common part. Generic over the cache type so that the
//! bookkeeping is tested without a model.

/// A cache of some computed sequence: cloned cheaply and cut back to a prefix.
pub trait Prefix: Clone {
    /// Keeps only the first `len` tokens.
    fn cut(&mut self, len: usize);
}

impl Prefix for super::qwen2::KvCache {
    fn cut(&mut self, len: usize) {
        // A narrow of a tensor at least `len` long cannot fail; should it, drop the whole cache.
        if self.truncate(len).is_err() {
            *self = Self::default();
        }
    }
}

/// One kept sequence.
#[derive(Debug)]
struct Entry<C> {
    tokens: Vec<u32>,
    cache: C,
    pinned: bool,
    used: u64,
}

/// The kept sequences.
#[derive(Debug)]
pub struct PrefixStore<C> {
    entries: Vec<Entry<C>>,
    /// Most unpinned sequences kept.
    capacity: usize,
    /// Most pinned sequences kept (one per distinct system message: the shoppers', the
    /// merchants').
    pinned_capacity: usize,
    clock: u64,
}

impl<C: Prefix> PrefixStore<C> {
    /// A store keeping at most `capacity` conversations' sequences and `pinned_capacity` shared
    /// ones.
    pub fn new(capacity: usize, pinned_capacity: usize) -> PrefixStore<C> {
        PrefixStore {
            entries: Vec::new(),
            capacity,
            pinned_capacity,
            clock: 0,
        }
    }

    /// The cache of the longest kept prefix of `tokens`, cut to it, and its length; `None` when
    /// no kept sequence shares a first token with `tokens`. At most `tokens.len() - 1` tokens
    /// are taken, so that the step always has one to compute (its logits are the next token's).
    pub fn take(&mut self, tokens: &[u32]) -> Option<(C, usize)> {
        let limit = tokens.len().saturating_sub(1);
        let (at, len) = self
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| (i, common_prefix(&e.tokens, tokens).min(limit)))
            .filter(|&(_, len)| len > 0)
            .max_by_key(|&(i, len)| (len, self.entries[i].pinned))?;
        self.clock += 1;
        let entry = &mut self.entries[at];
        entry.used = self.clock;
        let mut cache = entry.cache.clone();
        cache.cut(len);
        Some((cache, len))
    }

    /// Whether `tokens` are kept pinned.
    pub fn is_pinned(&self, tokens: &[u32]) -> bool {
        self.entries.iter().any(|e| e.pinned && e.tokens == tokens)
    }

    /// Keeps `cache` as the computation of `tokens`. A pinned sequence is kept until more than
    /// `pinned_capacity` are; an unpinned one replaces every unpinned sequence it extends (the
    /// same conversation's earlier steps) and then the least recently used beyond `capacity`.
    pub fn keep(&mut self, tokens: Vec<u32>, cache: C, pinned: bool) {
        self.clock += 1;
        self.entries.retain(|e| {
            let extended = !e.pinned && tokens.starts_with(&e.tokens);
            let same_pinned = e.pinned && pinned && e.tokens == tokens;
            !(extended || same_pinned)
        });
        self.entries.push(Entry {
            tokens,
            cache,
            pinned,
            used: self.clock,
        });
        for pinned in [false, true] {
            let limit = if pinned {
                self.pinned_capacity
            } else {
                self.capacity
            };
            while self.entries.iter().filter(|e| e.pinned == pinned).count() > limit {
                let oldest = self
                    .entries
                    .iter()
                    .enumerate()
                    .filter(|(_, e)| e.pinned == pinned)
                    .min_by_key(|(_, e)| e.used)
                    .map(|(i, _)| i);
                match oldest {
                    Some(i) => drop(self.entries.remove(i)),
                    None => break,
                }
            }
        }
    }

    /// Sequences kept (pinned ones included).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// How many first tokens `a` and `b` share.
fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cache that is the tokens it computed.
    #[derive(Debug, Clone, PartialEq)]
    struct Seen(Vec<u32>);

    impl Prefix for Seen {
        fn cut(&mut self, len: usize) {
            self.0.truncate(len);
        }
    }

    fn keep(store: &mut PrefixStore<Seen>, tokens: &[u32], pinned: bool) {
        store.keep(tokens.to_vec(), Seen(tokens.to_vec()), pinned);
    }

    #[test]
    fn a_new_conversation_starts_from_the_pinned_system_message() {
        let mut store = PrefixStore::new(2, 1);
        keep(&mut store, &[1, 2, 3], true);
        let (cache, len) = store.take(&[1, 2, 3, 7, 8]).unwrap();
        assert_eq!((cache, len), (Seen(vec![1, 2, 3]), 3));
        assert!(
            store.take(&[9, 1, 2]).is_none(),
            "nothing shared, nothing taken"
        );
    }

    #[test]
    fn a_conversation_resumes_from_its_own_longer_sequence_cut_where_the_view_differs() {
        let mut store = PrefixStore::new(2, 1);
        keep(&mut store, &[1, 2, 3], true);
        // The step's view ended with an appended question (5) and the model's answer (6).
        keep(&mut store, &[1, 2, 3, 4, 5, 6], false);
        let (cache, len) = store.take(&[1, 2, 3, 4, 6, 6]).unwrap();
        assert_eq!((cache, len), (Seen(vec![1, 2, 3, 4]), 4));
    }

    #[test]
    fn at_least_one_token_is_left_to_compute() {
        let mut store = PrefixStore::new(2, 1);
        keep(&mut store, &[1, 2, 3], false);
        let (cache, len) = store.take(&[1, 2, 3]).unwrap();
        assert_eq!((cache, len), (Seen(vec![1, 2]), 2));
    }

    #[test]
    fn a_longer_sequence_replaces_the_ones_it_extends_and_the_oldest_goes_first() {
        let mut store = PrefixStore::new(2, 1);
        keep(&mut store, &[1, 2, 3], true);
        keep(&mut store, &[1, 2, 3, 4], false);
        keep(&mut store, &[1, 2, 3, 4, 5], false);
        assert_eq!(
            store.len(),
            2,
            "the pinned system message and one conversation"
        );
        keep(&mut store, &[1, 2, 3, 8], false);
        keep(&mut store, &[1, 2, 3, 9], false);
        assert_eq!(store.len(), 3, "two conversations beside the pinned one");
        assert_eq!(
            store.take(&[1, 2, 3, 4, 5, 0]).unwrap().1,
            3,
            "the oldest went"
        );
        assert!(store.is_pinned(&[1, 2, 3]));
        keep(&mut store, &[7, 7], true);
        assert!(
            !store.is_pinned(&[1, 2, 3]),
            "one pinned sequence at most here"
        );
    }
}
