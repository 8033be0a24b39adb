//! The dispatcher's bounded spin: how long it stays awake after work before parking.

use std::time::Duration;

/// How long the dispatcher stays awake before parking, so that a reply from Redis or the
/// next call from JavaScript finds it running instead of waking it: a wake-up of a
/// parked thread costs far more than a Redis round trip on a virtual machine whose idle
/// CPUs halt. Both windows are bounded, so a store with no calls parks and uses no CPU.
#[derive(Clone, Copy)]
pub(super) struct Spin {
    /// While calls are waiting for Redis: a round trip's time on a loopback or LAN.
    in_flight: Duration,
    /// After the last call settled: long enough for JavaScript to settle it and send the
    /// next one in a sequential loop.
    idle: Duration,
}

impl Spin {
    const DEFAULT: Spin = Spin { in_flight: Duration::from_micros(250), idle: Duration::from_micros(100) };
    const OFF: Spin = Spin { in_flight: Duration::ZERO, idle: Duration::ZERO };

    /// On by default where there is a CPU to spare for it. With one CPU a spinning thread
    /// only delays the JavaScript thread and the server; `RSS_NATIVE_SPIN=0` turns it off
    /// anywhere (a machine billed by CPU time, or to compare).
    pub(super) fn from_env() -> Spin {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        match std::env::var("RSS_NATIVE_SPIN").as_deref() {
            Ok("0") => Spin::OFF,
            Ok("1") => Spin::DEFAULT,
            _ if cpus < 2 => Spin::OFF,
            _ => Spin::DEFAULT,
        }
    }

    /// Calls running above which the dispatcher parks at once: with many calls in flight
    /// replies arrive in batches, each wake-up is shared by many calls, and a spinning
    /// thread would take CPU time from the Redis server when both run on the same machine.
    const MAX_RUNNING: usize = 2;

    /// How long to stay awake with `calls_running`, given how long the last calls waited
    /// for their replies: when the server is further away than the in-flight window
    /// (another host, a busy server), spinning for a reply would only burn the window.
    pub(super) fn window(self, calls_running: usize, last_wait: Duration) -> Duration {
        match calls_running {
            0 => self.idle,
            n if n <= Self::MAX_RUNNING && last_wait <= self.in_flight => self.in_flight,
            _ => Duration::ZERO,
        }
    }
}
