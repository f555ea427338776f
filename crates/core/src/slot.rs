//! A value clerk replaces whole while it runs: a model `clerk train` saves anew (the
//! recommender, the sentiment, demand and price models), the products' vectors after a rebuild.
//! Readers take the value of the moment and keep it as long as they use it, whatever replaces it
//! meanwhile; a writer puts the next one in.

use std::sync::{Arc, RwLock};

/// A shared, replaceable value, empty until one is put in.
#[derive(Debug)]
pub struct Slot<T>(Arc<RwLock<Option<Arc<T>>>>);

impl<T> Slot<T> {
    /// A slot holding `value`.
    pub fn new(value: Option<Arc<T>>) -> Slot<T> {
        Slot(Arc::new(RwLock::new(value)))
    }

    /// The value of the moment, if there is one.
    pub fn get(&self) -> Option<Arc<T>> {
        // The lock is held only to copy or replace a pointer: one a panic left poisoned still
        // holds a whole value.
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Replaces the value (or empties the slot).
    pub fn set(&self, value: Option<Arc<T>>) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = value;
    }
}

impl<T> Clone for Slot<T> {
    /// Another handle on the same slot.
    fn clone(&self) -> Slot<T> {
        Slot(self.0.clone())
    }
}

impl<T> Default for Slot<T> {
    /// An empty slot.
    fn default() -> Slot<T> {
        Slot::new(None)
    }
}

#[cfg(test)]
mod tests {
    use super::Slot;
    use std::sync::Arc;

    #[test]
    fn every_handle_sees_the_value_put_in_and_readers_keep_theirs() {
        let slot: Slot<String> = Slot::default();
        let other = slot.clone();
        assert_eq!(other.get(), None);
        slot.set(Some(Arc::new("first".to_owned())));
        let held = other.get().unwrap();
        slot.set(Some(Arc::new("second".to_owned())));
        assert_eq!(*held, "first");
        assert_eq!(other.get().as_deref().map(String::as_str), Some("second"));
        slot.set(None);
        assert_eq!(other.get(), None);
    }
}
