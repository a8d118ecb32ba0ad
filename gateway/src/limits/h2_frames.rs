//! What one HTTP/2 connection may make the gateway do for nothing: the control-frame flood
//! guard (CVE-2019-9512 ping flood, -9513 PRIORITY "resource loop", -9515 settings flood,
//! -9518 empty frames, and `WINDOW_UPDATE` floods).
//!
//! HTTP/2 lets a client send frames that ask for no answer a citizen sees: `PRIORITY`,
//! `WINDOW_UPDATE`, `PING`, `SETTINGS`, `RST_STREAM`, empty `DATA`, frame types nobody
//! knows. pingora's HTTP/2 layer (the `h2` crate) parses each one and asks nothing of the
//! sender. Found when tried: eight connections sending `PRIORITY` or `WINDOW_UPDATE`
//! frames as fast as they could took 1.5–1.9 of the machine's two cores, and every citizen's
//! request went from 1 ms to 13–290 ms.
//!
//! So every HTTP/2 connection has a budget of such frames ([`FrameBudget`]), the rule
//! Envoy applies (`max_inbound_priority_frames_per_stream`,
//! `max_inbound_window_update_frames_per_data_frame_sent`), kept as one count and earned
//! only by what the gateway did for the client:
//! - it starts at [`FIRST_BUDGET`] frames, and earns [`PER_ANSWER`] for each answer the
//!   gateway sends (a malformed or refused stream, which HTTP/2 resets itself, earns only
//!   the [`PER_STREAM_OPENED`] every stream the client opens does, for its own cancel: it
//!   earned 100 once, a review found) and one frame, plus one for every
//!   [`DATA_BYTES_PER_FRAME`] bytes, for each `DATA` frame the gateway sends (the window
//!   updates a download needs; a window opened a byte at a time earns as much as it spends);
//! - what it earns is capped at [`MOST_BUDGET`], so a long download banks no flood for later;
//! - when it is spent, it refills at [`REFILL_PER_SECOND`], so a connection kept alive by
//!   `PING`s for hours never runs out;
//! - a frame beyond it closes the connection: its reads fail with [`Flooded`], and
//!   `egov_rate_limited_total{scope="h2_frames"}` counts it. nginx closes a connection whose
//!   overhead is over eight times its payload ("http2 flood detected") the same way, without
//!   a `GOAWAY`.
//!
//! The frames are read off the connection's bytes as they pass (their 9-byte heads only, by
//! [`HeadDeadline`](super::head_deadline::HeadDeadline), which wraps every accepted
//! connection), so the count costs a few instructions per frame and nothing for HTTP/1.

use super::penalty::Offender;
use prometheus::IntCounter;
use std::time::Instant;

/// Frames that carry nothing a connection may send before it has earned any: a browser's
/// start takes a handful (`SETTINGS`, a window update, a tree of `PRIORITY` frames), and a
/// page asking for a hundred things at once one priority each. Each new connection gets
/// it again, so it is what a flood that reconnects gets per connection (Envoy allows 100
/// `PRIORITY` and 10 `WINDOW_UPDATE` frames before any stream or data).
pub const FIRST_BUDGET: u32 = 250;

/// Earned for each stream the gateway answers (Envoy's default PRIORITY frames per stream).
pub const PER_ANSWER: u64 = 100;

/// Earned for each stream the client opens: its own cancel (`RST_STREAM`, when a citizen
/// leaves the page or a call's deadline passes) or a change of its priority, before any
/// answer. Little, as a stream HTTP/2 refuses earns it too.
pub const PER_STREAM_OPENED: u64 = 2;

/// A `DATA` frame the gateway sends earns one frame, and one more for each of these bytes
/// it carries: a 16 KiB frame 65, more than the 10 window updates a frame Envoy allows.
pub const DATA_BYTES_PER_FRAME: u32 = 256;

/// The most a connection may have to spend, however much it earned.
pub const MOST_BUDGET: u64 = 10 * FIRST_BUDGET as u64;

/// A padded `DATA` frame this long or shorter is taken for an empty one: its padding may be
/// all it carries (h2 drops such a frame and gives its window back), and no browser pads.
const PADDED_EMPTY: u32 = 256;

/// How fast a spent budget comes back, frames a second, up to [`FIRST_BUDGET`].
pub const REFILL_PER_SECOND: f64 = 10.0;

/// Why an HTTP/2 connection was closed: it sent more frames that carry nothing than its
/// budget allowed.
#[derive(Debug, thiserror::Error)]
#[error("HTTP/2 flood: more frames that carry no request or data than the connection earned (limits::h2_frames)")]
pub struct Flooded;

/// The client's preface (RFC 9113 §3.4), which the server's reads start with.
const PREFACE_BYTES: u32 = 24;

const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const GOAWAY: u8 = 0x7;
const CONTINUATION: u8 = 0x9;
/// `GOAWAY`'s code for a peer that generates excessive load (RFC 9113 §7).
const ENHANCE_YOUR_CALM: u32 = 0xb;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;

/// One frame's head (RFC 9113 §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Frame {
    length: u32,
    kind: u8,
    flags: u8,
    stream: u32,
}

impl Frame {
    fn parse(head: &[u8; 9]) -> Self {
        Self {
            length: u32::from_be_bytes([0, head[0], head[1], head[2]]),
            kind: head[3],
            flags: head[4],
            stream: u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff,
        }
    }

    /// Whether the frame carries what a client is there for: a request's header, its body,
    /// or the end of either.
    fn carries_something(&self) -> bool {
        match self.kind {
            HEADERS => true,
            DATA if self.flags & END_STREAM != 0 => true,
            DATA if self.flags & PADDED != 0 => self.length > PADDED_EMPTY,
            DATA => self.length > 0,
            CONTINUATION => self.length > 0 || self.flags & END_HEADERS != 0,
            _ => false,
        }
    }
}

/// The frame heads in one direction of a connection, found as its bytes go by in pieces of
/// any size.
#[derive(Debug)]
struct FrameHeads {
    /// Bytes still to pass before the next head: the rest of a payload, or of the preface.
    skip: u32,
    head: [u8; 9],
    have: u8,
    /// The first bytes of the last `GOAWAY` frame's payload (its last stream and its error
    /// code) as they pass: how many are wanted (0 or 8), and how many have.
    goaway: [u8; 8],
    goaway_want: u8,
    goaway_have: u8,
    /// Whether the payload about to pass is a bare answer's header block (one byte, the
    /// stream ended with it), and how many such blocks said `:status 400` ([`BARE_400`]).
    bare_answer: bool,
    bare_400: u32,
}

/// The whole header block of the answer pingora's HTTP/2 layer gives a stream it refuses
/// before any phase of the gateway's runs (an `:authority` that disagrees with `Host`, one
/// with userinfo...): `:status 400` from HPACK's static table (index 12), and nothing else.
/// Every answer of the gateway's carries more (at least its `X-Request-Id`).
const BARE_400: u8 = 0x80 | 12;

impl FrameHeads {
    fn after(skip: u32) -> Self {
        Self {
            skip,
            head: [0; 9],
            have: 0,
            goaway: [0; 8],
            goaway_want: 0,
            goaway_have: 0,
            bare_answer: false,
            bare_400: 0,
        }
    }

    /// The error code of a `GOAWAY` frame whose code has passed since the last call.
    fn goaway_code(&mut self) -> Option<u32> {
        if self.goaway_want == 8 && self.goaway_have == 8 {
            self.goaway_want = 0;
            let [_, _, _, _, a, b, c, d] = self.goaway;
            return Some(u32::from_be_bytes([a, b, c, d]));
        }
        None
    }

    /// Calls `each` with every frame whose head completes in `bytes`, in order; stops at
    /// its first error.
    fn feed<E>(
        &mut self,
        mut bytes: &[u8],
        mut each: impl FnMut(Frame) -> Result<(), E>,
    ) -> Result<(), E> {
        loop {
            if self.skip > 0 {
                let n = bytes.len().min(self.skip as usize);
                if self.goaway_have < self.goaway_want {
                    let at = usize::from(self.goaway_have);
                    let take = n.min(usize::from(self.goaway_want) - at);
                    self.goaway[at..at + take].copy_from_slice(&bytes[..take]);
                    // At most 8.
                    self.goaway_have += take as u8;
                }
                if self.bare_answer && n > 0 {
                    self.bare_answer = false;
                    self.bare_400 += u32::from(bytes[0] == BARE_400);
                }
                bytes = &bytes[n..];
                // `n` is at most `skip`, a u32.
                self.skip -= n as u32;
            }
            if bytes.is_empty() {
                return Ok(());
            }
            let have = usize::from(self.have);
            let n = bytes.len().min(9 - have);
            self.head[have..have + n].copy_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            // At most 9.
            self.have += n as u8;
            if self.have < 9 {
                return Ok(());
            }
            self.have = 0;
            let frame = Frame::parse(&self.head);
            self.skip = frame.length;
            self.bare_answer = frame.kind == HEADERS
                && frame.length == 1
                && frame.flags & (END_STREAM | END_HEADERS) == END_STREAM | END_HEADERS;
            if frame.kind == GOAWAY {
                // A shorter one is malformed; its code is not read.
                self.goaway_want = if frame.length >= 8 { 8 } else { 0 };
                self.goaway_have = 0;
            }
            each(frame)?;
        }
    }
}

/// One HTTP/2 connection's budget of frames that carry nothing (see the module's text).
#[derive(Debug)]
pub struct FrameBudget {
    received: FrameHeads,
    sent: FrameHeads,
    /// Frames it may still send that carry nothing.
    left: u64,
    /// The highest stream the client opened: a `HEADERS` frame on a higher one opens
    /// another (stream ids only grow).
    highest_opened: u32,
    /// When the budget last refilled (or the connection began).
    refilled: Instant,
    flooded: bool,
    closed: IntCounter,
    /// The connection's address, penalized when it floods.
    offender: Option<Offender>,
}

impl FrameBudget {
    /// The budget of a connection whose reads start with the client's preface; `closed`
    /// counts the connections it closes, and `offender`, if any, is penalized for each.
    pub fn new(closed: IntCounter, offender: Option<Offender>) -> Self {
        Self {
            received: FrameHeads::after(PREFACE_BYTES),
            sent: FrameHeads::after(0),
            left: u64::from(FIRST_BUDGET),
            highest_opened: 0,
            refilled: Instant::now(),
            flooded: false,
            closed,
            offender,
        }
    }

    /// The client's bytes, as the gateway reads them: an error once it has sent more than
    /// its budget, and on every read after.
    pub fn received(&mut self, bytes: &[u8]) -> Result<(), Flooded> {
        if self.flooded {
            return Err(Flooded);
        }
        let Self {
            received,
            left,
            highest_opened,
            refilled,
            ..
        } = self;
        let verdict = received.feed(bytes, |frame| {
            if frame.kind == HEADERS && frame.stream > *highest_opened {
                *highest_opened = frame.stream;
                *left = (*left + PER_STREAM_OPENED).min(MOST_BUDGET);
            }
            if frame.carries_something() {
                return Ok(());
            }
            if *left == 0 {
                refill(left, refilled, Instant::now());
            }
            match left.checked_sub(1) {
                Some(rest) => {
                    *left = rest;
                    Ok(())
                }
                None => Err(Flooded),
            }
        });
        if verdict.is_err() {
            self.flood();
        }
        verdict
    }

    /// The gateway's bytes to the client, as written: each answer earns the priorities a
    /// request may come with, each `DATA` frame the window updates reading it takes.
    ///
    /// The `h2` crate's own guards close a connection with `GOAWAY` `ENHANCE_YOUR_CALM`
    /// (more than 100 empty `DATA` frames, small ones piling up faster than they are read,
    /// streams reset before they were served): such a closure is counted and penalized as
    /// this budget's own. Found when tried: an upload sent a byte per `DATA` frame was
    /// closed that way, uncounted and unpenalized, and reconnected 1,800 times in 40 s.
    pub fn sent(&mut self, bytes: &[u8]) {
        let Self { sent, left, .. } = self;
        let _ = sent.feed(bytes, |frame| {
            let earned = match frame.kind {
                // Answers go out in any order. A stream's header is sent once, with at most
                // its trailers and the few interim answers the gateway lets through.
                HEADERS => PER_ANSWER,
                DATA if frame.length > 0 => 1 + u64::from(frame.length / DATA_BYTES_PER_FRAME),
                _ => 0,
            };
            *left = (*left + earned).min(MOST_BUDGET);
            Ok::<(), Flooded>(())
        });
        if self.sent.goaway_code() == Some(ENHANCE_YOUR_CALM) && !self.flooded {
            self.flood();
        }
    }

    /// How many streams pingora's HTTP/2 layer answered `400` on its own since the last
    /// call ([`BARE_400`]): requests no phase of the gateway's saw, which would leave no
    /// trace otherwise (found in an observability probe: 3,100 such answers in 0.2 s, no
    /// access-log line, no count, no span; HTTP/1's are told the same way, by their bytes).
    pub fn refused_unread(&mut self) -> u32 {
        std::mem::take(&mut self.sent.bare_400)
    }

    /// The connection flooded: its reads fail from now on, it is counted, and its address
    /// penalized.
    fn flood(&mut self) {
        self.flooded = true;
        self.closed.inc();
        if let Some(offender) = &self.offender {
            offender.penalize();
        }
    }
}

/// A spent budget gets back what the time since its last refill earned, up to
/// [`FIRST_BUDGET`]; the clock is read only here, when the budget has run out. The part of
/// a frame not yet earned stays earned toward the next.
fn refill(left: &mut u64, refilled: &mut Instant, now: Instant) {
    let earned = now.duration_since(*refilled).as_secs_f64() * REFILL_PER_SECOND;
    if earned >= f64::from(FIRST_BUDGET) {
        *left = u64::from(FIRST_BUDGET);
        *refilled = now;
    } else if earned >= 1.0 {
        // Truncation is the intent: whole frames.
        let frames = earned as u64;
        *left = frames;
        *refilled += std::time::Duration::from_secs_f64(frames as f64 / REFILL_PER_SECOND);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(9 + payload.len());
        out.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
        out.push(kind);
        out.push(flags);
        out.extend_from_slice(&stream.to_be_bytes());
        out.extend_from_slice(payload);
        out
    }

    /// pingora's bare `400` is told apart from every other answer, however the bytes are
    /// cut into writes.
    #[test]
    fn the_bare_400s_pingora_sends_are_counted_in_pieces_of_any_size() {
        let ended = END_STREAM | END_HEADERS;
        let mut sent = Vec::new();
        sent.extend(frame(HEADERS, ended, 1, &[BARE_400]));
        // The gateway's answers: more than the status, or not the end of the stream.
        sent.extend(frame(HEADERS, ended, 3, &[BARE_400, 0x0f, 0x10]));
        sent.extend(frame(HEADERS, END_HEADERS, 5, &[BARE_400]));
        sent.extend(frame(HEADERS, ended, 7, &[0x88]));
        sent.extend(frame(DATA, END_STREAM, 5, &[BARE_400]));
        sent.extend(frame(HEADERS, ended, 9, &[BARE_400]));
        for piece in [1, 2, 9, 10, 11, sent.len()] {
            let mut budget = FrameBudget::new(IntCounter::new("c", "c").expect("counter"), None);
            for chunk in sent.chunks(piece) {
                budget.sent(chunk);
            }
            assert_eq!(budget.refused_unread(), 2, "in pieces of {piece}");
            assert_eq!(budget.refused_unread(), 0, "told once");
        }
    }

    fn priority(stream: u32) -> Vec<u8> {
        frame(0x2, 0, stream, &[0, 0, 0, 0, 15])
    }

    fn window_update(stream: u32) -> Vec<u8> {
        frame(0x8, 0, stream, &[0, 0, 0x40, 0])
    }

    fn get(stream: u32) -> Vec<u8> {
        // An HPACK-encoded GET / (indexed fields), the whole header.
        frame(
            HEADERS,
            END_HEADERS | END_STREAM,
            stream,
            &[0x82, 0x84, 0x86],
        )
    }

    fn new_budget() -> FrameBudget {
        FrameBudget::new(IntCounter::new("closed", "test").expect("counter"), None)
    }

    /// A budget whose client has sent its preface.
    fn started() -> FrameBudget {
        let mut budget = new_budget();
        budget.received(PREFACE).expect("the preface is free");
        budget
    }

    /// Feeds `frames`; how many whole frames went through before the budget closed the
    /// connection, or `None` if it never did.
    fn closed_after(budget: &mut FrameBudget, frames: &[Vec<u8>]) -> Option<usize> {
        for (i, f) in frames.iter().enumerate() {
            if budget.received(f).is_err() {
                return Some(i);
            }
        }
        None
    }

    #[test]
    fn a_flood_of_priority_frames_is_cut_off_after_the_first_budget() {
        let mut budget = started();
        let flood: Vec<_> = (0..5_000).map(|_| priority(1)).collect();
        assert_eq!(
            closed_after(&mut budget, &flood),
            Some(FIRST_BUDGET as usize)
        );
        assert!(budget.received(&priority(1)).is_err(), "and stays closed");
        assert_eq!(budget.closed.get(), 1, "counted once");
    }

    #[test]
    fn every_kind_of_frame_that_carries_nothing_spends_the_budget() {
        let empty_data = frame(DATA, 0, 1, &[]);
        let empty_continuation = frame(CONTINUATION, 0, 1, &[]);
        let ping = frame(0x6, 0, 0, &[0; 8]);
        let settings = frame(0x4, 0, 0, &[]);
        let reset = frame(0x3, 0, 1, &[0, 0, 0, 8]);
        let unknown = frame(0xfa, 0, 0, &[1, 2, 3]);
        for kind in [
            empty_data,
            empty_continuation,
            ping,
            settings,
            reset,
            unknown,
            window_update(0),
        ] {
            let mut budget = started();
            let flood = vec![kind.clone(); 2_000];
            assert_eq!(
                closed_after(&mut budget, &flood),
                Some(FIRST_BUDGET as usize),
                "{kind:?}"
            );
        }
    }

    #[test]
    fn requests_and_their_bodies_are_never_counted() {
        let mut budget = started();
        let mut frames = Vec::new();
        for stream in (1..20_000u32).step_by(2) {
            frames.push(frame(HEADERS, END_HEADERS, stream, &[0x83, 0x84, 0x86]));
            frames.push(frame(DATA, 0, stream, &[b'x'; 100]));
            frames.push(frame(DATA, PADDED, stream, &[10; 300]));
            frames.push(frame(DATA, END_STREAM, stream, &[]));
        }
        assert_eq!(closed_after(&mut budget, &frames), None);
    }

    fn goaway(code: u32) -> Vec<u8> {
        let mut payload = 7u32.to_be_bytes().to_vec();
        payload.extend_from_slice(&code.to_be_bytes());
        payload.extend_from_slice(b"too_many_data_frames");
        frame(GOAWAY, 0, 0, &payload)
    }

    #[test]
    fn a_connection_the_h2_library_calls_excessive_is_counted_and_closed_as_a_flood() {
        let mut budget = started();
        // Sent a byte at a time: the code is read as it passes, in any pieces.
        for byte in [answer(1), goaway(ENHANCE_YOUR_CALM)].concat() {
            budget.sent(&[byte]);
        }
        assert_eq!(budget.closed.get(), 1);
        assert!(budget.received(&get(3)).is_err(), "its reads fail");
        budget.sent(&goaway(ENHANCE_YOUR_CALM));
        assert_eq!(budget.closed.get(), 1, "counted once");
    }

    #[test]
    fn a_goaway_for_any_other_reason_is_no_flood() {
        let mut budget = started();
        budget.sent(&goaway(0)); // NO_ERROR: a graceful shutdown
        budget.sent(&goaway(0x2)); // INTERNAL_ERROR
        assert_eq!(budget.closed.get(), 0);
        assert!(budget.received(&get(1)).is_ok());
    }

    #[test]
    fn padded_data_frames_that_may_carry_only_their_padding_spend_the_budget() {
        // Length 1: the pad length byte, 0, and nothing else (CVE-2019-9518 with padding).
        let mut budget = started();
        let flood = vec![frame(DATA, PADDED, 1, &[0]); 2_000];
        assert_eq!(
            closed_after(&mut budget, &flood),
            Some(FIRST_BUDGET as usize)
        );
    }

    /// The gateway's answer to stream `stream`: its header and a 1,000-byte body.
    fn answer(stream: u32) -> Vec<u8> {
        [
            frame(HEADERS, END_HEADERS, stream, &[0x88]),
            frame(DATA, END_STREAM, stream, &[b'z'; 1_000]),
        ]
        .concat()
    }

    #[test]
    fn a_browser_giving_each_request_priorities_is_never_cut_off() {
        // An older Firefox: a tree of five PRIORITY frames at the start, then each request
        // with two more and a window update now and then, each answered.
        let mut budget = started();
        let mut start = vec![frame(0x4, 0, 0, &[0; 18]), window_update(0)];
        start.extend((3..13).step_by(2).map(priority));
        budget.received(&start.concat()).expect("the start");
        for stream in (13..40_013u32).step_by(2) {
            let asked = [priority(stream), get(stream), priority(stream)].concat();
            budget.received(&asked).expect("a request");
            budget.sent(&answer(stream));
            budget.received(&window_update(0)).expect("an update");
        }
    }

    #[test]
    fn answers_sent_out_of_order_each_earn() {
        let mut budget = started();
        budget.left = 0;
        budget.sent(&answer(199));
        budget.sent(&answer(1));
        assert_eq!(budget.left, 2 * (PER_ANSWER + 1 + 1_000 / 256));
    }

    #[test]
    fn streams_the_gateway_never_answered_earn_only_their_own_cancel() {
        // Malformed or refused streams are reset by HTTP/2 itself, the gateway never sees
        // them; a citizen leaving a page cancels what was not answered yet.
        let mut budget = started();
        let mut frames: Vec<_> = (1..2_001u32).step_by(2).map(get).collect();
        let reset = |stream: u32| frame(0x3, 0, stream, &[0, 0, 0, 8]);
        frames.extend((1..2_001u32).step_by(2).map(reset));
        frames.extend((0..2_000).map(|_| priority(1)));
        let earned = FIRST_BUDGET as usize + 1_000 * PER_STREAM_OPENED as usize;
        assert_eq!(
            closed_after(&mut budget, &frames),
            Some(1_000 + earned),
            "a thousand requests, their thousand cancels, then what is left of the budget"
        );
    }

    #[test]
    fn window_updates_are_paid_for_by_the_data_the_gateway_sends() {
        let mut budget = started();
        budget.received(&get(1)).expect("a download");
        // A client with a small window acknowledges every DATA frame on its stream and on
        // the connection: far past the first budget over a long download.
        for _ in 0..20_000 {
            budget.sent(&frame(DATA, 0, 1, &[0; 1024]));
            let updates = [window_update(1), window_update(0)].concat();
            budget.received(&updates).expect("earned by the data sent");
        }
        // Without the data, the same updates are a flood.
        let mut idle = started();
        let updates: Vec<_> = (0..2_000).map(|_| window_update(0)).collect();
        assert!(closed_after(&mut idle, &updates).is_some());
    }

    #[test]
    fn a_window_opened_a_byte_at_a_time_earns_only_what_it_spends() {
        let mut budget = started();
        for _ in 0..5_000 {
            budget.received(&window_update(1)).expect("one byte more");
            budget.sent(&frame(DATA, 0, 1, b"x"));
        }
        let flood: Vec<_> = (0..2_000).map(|_| priority(1)).collect();
        assert_eq!(
            closed_after(&mut budget, &flood),
            Some(FIRST_BUDGET as usize)
        );
    }

    #[test]
    fn a_long_download_banks_at_most_the_most_budget() {
        let mut budget = started();
        for stream in (1..2_001u32).step_by(2) {
            budget.sent(&answer(stream));
            budget.sent(&frame(DATA, 0, stream, &[0; 16_384]));
        }
        let flood: Vec<_> = (0..20_000).map(|_| priority(1)).collect();
        assert_eq!(
            closed_after(&mut budget, &flood),
            Some(MOST_BUDGET as usize)
        );
    }

    #[test]
    fn frames_split_across_reads_at_any_byte_are_counted_the_same() {
        let within = FIRST_BUDGET as usize - 50;
        for (priorities, closed) in [(within, false), (within + 200, true)] {
            let mut stream = PREFACE.to_vec();
            stream.extend(get(1));
            stream.extend(frame(DATA, 0, 1, &[b'y'; 300]));
            for _ in 0..priorities {
                stream.extend(priority(1));
            }
            for piece in [1, 2, 7, 9, 13, 4096, stream.len()] {
                let mut budget = new_budget();
                let refused = stream.chunks(piece).any(|c| budget.received(c).is_err());
                assert_eq!(
                    refused, closed,
                    "{priorities} frames in pieces of {piece} bytes"
                );
                if !closed {
                    assert_eq!(
                        budget.left,
                        50 + PER_STREAM_OPENED,
                        "the request earned its cancel"
                    );
                }
            }
        }
    }

    #[test]
    fn what_the_gateway_writes_is_counted_the_same_in_pieces_of_any_size() {
        let written = [answer(1), answer(3), frame(DATA, 0, 3, &[0; 5_000])].concat();
        let whole = {
            let mut budget = new_budget();
            budget.left = 0;
            budget.sent(&written);
            budget.left
        };
        assert_eq!(whole, 2 * (PER_ANSWER + 1 + 1_000 / 256) + 1 + 5_000 / 256);
        for piece in [1, 2, 9, 10, 4096] {
            let mut budget = new_budget();
            budget.left = 0;
            written.chunks(piece).for_each(|c| budget.sent(c));
            assert_eq!(budget.left, whole, "pieces of {piece} bytes");
        }
    }

    #[test]
    fn a_spent_budget_refills_with_time_for_a_connection_kept_alive_by_pings() {
        let start = Instant::now();
        let (mut left, mut refilled) = (0, start);
        refill(&mut left, &mut refilled, start + Duration::from_millis(50));
        assert_eq!(left, 0, "half a frame is not a frame");
        refill(
            &mut left,
            &mut refilled,
            start + Duration::from_millis(10_050),
        );
        assert_eq!(left, 100, "ten seconds at 10 a second");
        left = 0;
        refill(
            &mut left,
            &mut refilled,
            start + Duration::from_millis(10_099),
        );
        assert_eq!(
            left, 0,
            "the half frame left over and 49 ms are not a frame"
        );
        refill(
            &mut left,
            &mut refilled,
            start + Duration::from_millis(10_110),
        );
        assert_eq!(left, 1, "a tenth of a second is");
        left = 0;
        refill(&mut left, &mut refilled, start + Duration::from_secs(3_600));
        assert_eq!(
            left,
            u64::from(FIRST_BUDGET),
            "an hour idle buys at most the first"
        );
    }

    #[test]
    fn a_spent_budget_closes_the_connection_until_time_refills_it() {
        let mut budget = started();
        budget.left = 0;
        // Refilled just now, as far as this test's clock goes.
        budget.refilled = Instant::now() + Duration::from_secs(3_600);
        let ping = frame(0x6, 0, 0, &[0; 8]);
        assert!(budget.received(&ping).is_err());
    }
}
