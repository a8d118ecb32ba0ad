//! How long a kept-alive connection may wait for its next request (`limits.keepalive_timeout`,
//! nginx's `keepalive_timeout`).
//!
//! A busy connection waits between requests thousands of times a second. A timer armed for
//! each wait puts an entry into tokio's timer wheel and takes it out again every time, under
//! the driver's lock. [`IdleTimer`] keeps one timer for the connection's life and moves it
//! only when it fires: a wait starts by reading the clock, and a timer left from an earlier
//! wait, firing early, is set again to this wait's end. The timer then fires at most once per
//! `keepalive_timeout` of a busy connection, and once at the end of an idle one.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use tokio::time::{Instant, Sleep};

/// One connection's keep-alive timer, shared by its waits between requests.
#[derive(Debug)]
pub struct IdleTimer {
    limit: Duration,
    /// Made on the first wait; its deadline is an earlier wait's end until it fires.
    sleep: Option<Pin<Box<Sleep>>>,
}

impl IdleTimer {
    /// Waits of at most `limit` each.
    pub fn new(limit: Duration) -> Self {
        Self { limit, sleep: None }
    }

    /// Completes `limit` after it was called (unless dropped before: the next request came).
    pub fn expired(&mut self) -> impl Future<Output = ()> + '_ {
        let end = Instant::now() + self.limit;
        async move {
            let sleep = self
                .sleep
                .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(end)));
            loop {
                sleep.as_mut().await;
                if Instant::now() >= end {
                    return;
                }
                // Set by an earlier wait, which ended sooner.
                sleep.as_mut().reset(end);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real time, kept short: the behaviour, not the speed, is under test.
    const LIMIT: Duration = Duration::from_millis(200);

    #[tokio::test]
    async fn a_wait_ends_at_the_limit() {
        let mut timer = IdleTimer::new(LIMIT);
        let start = Instant::now();
        tokio::time::timeout(4 * LIMIT, timer.expired())
            .await
            .expect("the wait ends");
        assert!(start.elapsed() >= LIMIT, "{:?}", start.elapsed());
    }

    #[tokio::test]
    async fn a_timer_left_by_an_earlier_wait_does_not_cut_a_later_one_short() {
        let mut timer = IdleTimer::new(LIMIT);
        // The first wait ends early: a request came.
        let first = tokio::time::timeout(LIMIT / 2, timer.expired()).await;
        assert!(first.is_err(), "the first wait was still waiting");
        // The next wait starts later; the timer still holds the first wait's end.
        let start = Instant::now();
        tokio::time::timeout(4 * LIMIT, timer.expired())
            .await
            .expect("the wait ends");
        assert!(
            start.elapsed() >= LIMIT,
            "ended after {:?}, at the first wait's end",
            start.elapsed()
        );
    }

    #[tokio::test]
    async fn every_wait_of_a_connection_uses_its_one_timer() {
        let mut timer = IdleTimer::new(LIMIT);
        let _ = tokio::time::timeout(LIMIT / 10, timer.expired()).await;
        let first: *const Sleep = &**timer.sleep.as_ref().expect("made by the first wait");
        for _ in 0..3 {
            let _ = tokio::time::timeout(LIMIT / 10, timer.expired()).await;
        }
        let last: *const Sleep = &**timer.sleep.as_ref().expect("kept");
        assert_eq!(first, last);
    }
}
