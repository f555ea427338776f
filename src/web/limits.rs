//! The public chat's limits, per client address and overall: how many conversations an address
//! may start and how many messages it may send (token buckets, refilled steadily, answered 429
//! with `Retry-After` when empty), and how many replies may be in the making at once for one
//! address and for everyone (each costs model time). Kept in this process: several clerk
//! instances each apply them.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The limits of the public chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChatLimits {
    /// Conversations one address may start per hour.
    pub conversations_per_hour: u32,
    /// Messages one address may send per minute.
    pub messages_per_minute: u32,
    /// Replies being made at once for one address.
    pub turns_per_address: u32,
    /// Replies being made at once for everyone.
    pub turns: u32,
}

impl Default for ChatLimits {
    /// 20 conversations an hour and 10 messages a minute per address; 2 replies at once per
    /// address, 16 in all.
    fn default() -> ChatLimits {
        ChatLimits {
            conversations_per_hour: 20,
            messages_per_minute: 10,
            turns_per_address: 2,
            turns: 16,
        }
    }
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The address used its allowance: try again after this long.
    RateLimited(Duration),
    /// Too many replies are being made (for this address, or in all).
    Busy,
}

/// A bucket of `capacity` tokens refilled at `capacity` per `period`.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The limits' state.
#[derive(Debug)]
pub struct Limiter {
    limits: ChatLimits,
    starts: Mutex<HashMap<IpAddr, Bucket>>,
    messages: Mutex<HashMap<IpAddr, Bucket>>,
    turns: Arc<Mutex<Turns>>,
}

#[derive(Debug, Default)]
struct Turns {
    all: u32,
    by_address: HashMap<IpAddr, u32>,
}

/// A reply in the making; dropping it frees its place.
#[derive(Debug)]
pub struct TurnPermit {
    address: IpAddr,
    turns: Arc<Mutex<Turns>>,
}

impl Drop for TurnPermit {
    fn drop(&mut self) {
        let mut turns = self.turns.lock().unwrap_or_else(|e| e.into_inner());
        turns.all = turns.all.saturating_sub(1);
        if let Some(n) = turns.by_address.get_mut(&self.address) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                turns.by_address.remove(&self.address);
            }
        }
    }
}

/// How many addresses a bucket map keeps before it forgets the full ones.
const MAX_TRACKED: usize = 10_000;

fn take(
    buckets: &Mutex<HashMap<IpAddr, Bucket>>,
    address: IpAddr,
    capacity: u32,
    period: Duration,
) -> Result<(), Refusal> {
    let capacity = f64::from(capacity.max(1));
    let rate = capacity / period.as_secs_f64();
    let now = Instant::now();
    let mut buckets = buckets.lock().unwrap_or_else(|e| e.into_inner());
    if buckets.len() >= MAX_TRACKED {
        // Forget the addresses whose buckets have refilled: they lose nothing.
        buckets.retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * rate < capacity);
    }
    let bucket = buckets.entry(address).or_insert(Bucket {
        tokens: capacity,
        at: now,
    });
    bucket.tokens =
        (bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * rate).min(capacity);
    bucket.at = now;
    if bucket.tokens >= 1.0 {
        bucket.tokens -= 1.0;
        Ok(())
    } else {
        let wait = (1.0 - bucket.tokens) / rate;
        Err(Refusal::RateLimited(Duration::from_secs_f64(
            wait.max(0.001),
        )))
    }
}

impl Limiter {
    /// A limiter applying `limits`.
    pub fn new(limits: ChatLimits) -> Limiter {
        Limiter {
            limits,
            starts: Mutex::default(),
            messages: Mutex::default(),
            turns: Arc::default(),
        }
    }

    /// `address` starts a conversation.
    pub fn start(&self, address: IpAddr) -> Result<(), Refusal> {
        take(
            &self.starts,
            address,
            self.limits.conversations_per_hour,
            Duration::from_secs(3600),
        )
    }

    /// `address` sends a message, to be answered: counts it, and holds a place for its reply.
    pub fn message(&self, address: IpAddr) -> Result<TurnPermit, Refusal> {
        let permit = self.turn(address)?;
        take(
            &self.messages,
            address,
            self.limits.messages_per_minute,
            Duration::from_secs(60),
        )?;
        Ok(permit)
    }

    /// A place for a reply to `address` (a resumed turn takes one too).
    pub fn turn(&self, address: IpAddr) -> Result<TurnPermit, Refusal> {
        let mut turns = self.turns.lock().unwrap_or_else(|e| e.into_inner());
        let mine = turns.by_address.get(&address).copied().unwrap_or(0);
        if turns.all >= self.limits.turns.max(1) || mine >= self.limits.turns_per_address.max(1) {
            return Err(Refusal::Busy);
        }
        turns.all += 1;
        *turns.by_address.entry(address).or_default() += 1;
        Ok(TurnPermit {
            address,
            turns: self.turns.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([203, 0, 113, last])
    }

    #[test]
    fn each_address_has_its_own_allowance() {
        let limiter = Limiter::new(ChatLimits {
            conversations_per_hour: 3,
            ..ChatLimits::default()
        });
        for _ in 0..3 {
            assert_eq!(limiter.start(ip(1)), Ok(()));
        }
        let Err(Refusal::RateLimited(wait)) = limiter.start(ip(1)) else {
            panic!("the fourth start is refused");
        };
        // One start comes back every 20 minutes.
        assert!(wait > Duration::from_secs(1190) && wait <= Duration::from_secs(1200));
        assert_eq!(limiter.start(ip(2)), Ok(()));
    }

    #[test]
    fn replies_at_once_are_bounded_per_address_and_in_all() {
        let limiter = Limiter::new(ChatLimits {
            turns_per_address: 2,
            turns: 3,
            ..ChatLimits::default()
        });
        let a = limiter.turn(ip(1)).unwrap();
        let _b = limiter.turn(ip(1)).unwrap();
        assert_eq!(limiter.turn(ip(1)).unwrap_err(), Refusal::Busy);
        let _c = limiter.turn(ip(2)).unwrap();
        assert_eq!(
            limiter.turn(ip(3)).unwrap_err(),
            Refusal::Busy,
            "three in all"
        );
        drop(a);
        assert!(
            limiter.turn(ip(3)).is_ok(),
            "a finished reply frees its place"
        );
    }
}
