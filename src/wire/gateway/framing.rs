//! Request framing checked below hyper (RFC 9112 §6.3), on every request of a connection.
//!
//! hyper reads a request with both `Content-Length` and `Transfer-Encoding` by the latter and
//! drops the `Content-Length` before the service sees the request, accepts a repeated identical
//! `Content-Length`, and accepts any transfer coding list that ends in `chunked`. A proxy must
//! refuse all of these (a server behind it may frame the message differently: request
//! smuggling), so [`Framed`] wraps the connection's socket, parses each request head with
//! `httparse` as it passes, and follows the message boundaries (`Content-Length` counting, chunked
//! coding with trailers) to find the next head. It records one [`Verdict`] per head in
//! [`Verdicts`], which the service reads in the same order: hyper serves the requests of an
//! HTTP/1 connection strictly one after another, so the k-th request the service sees is the k-th
//! head. After a refused head no further byte reaches hyper: the wrapper passes bytes up to the
//! end of that head, then reports end of stream once the answer has been written (an end of
//! stream seen earlier makes hyper drop the connection without the answer).
//!
//! Body bytes are counted, never copied. A head longer than the gateway's limit
//! ([`Limits::max_head`]), a chunk-size line or trailer section longer than hyper's own limits, or
//! any byte that breaks the chunked syntax ends the stream where it stands.
//!
//! The same wrapper times a client that stops (`limits.rs`): knowing whether it is in a head, a
//! body, or between requests, it ends a head that takes longer than the header timeout, a body
//! that stops arriving for the body timeout, a kept-alive connection idle for the idle timeout,
//! and a response write that makes no progress for the write timeout. Between a request's head
//! and the end of its response no read timer runs (the upstream may take its time); "between
//! requests" is when every head seen has had its response body finished ([`Verdicts::answered`]).

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use http::StatusCode;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use super::limits::Limits;

/// At most this many header fields (hyper's default, so both parsers agree).
const MAX_HEADERS: usize = 100;

/// A chunk-size line with its extensions (hyper allows 16 KiB of extensions per body).
const MAX_CHUNK_LINE: usize = 16 * 1024 + 64;

/// The trailer section of a chunked body (hyper's limit).
const MAX_TRAILERS: usize = 16 * 1024;

/// What the service must do with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Framed unambiguously: serve it.
    Serve,
    /// Answer this status and close the connection; never forward.
    Refuse(StatusCode, &'static str),
}

/// The verdicts of one connection's request heads, oldest first, and how many of its requests
/// have been answered.
#[derive(Debug, Clone, Default)]
pub(super) struct Verdicts(Arc<Mutex<Book>>);

#[derive(Debug, Default)]
struct Book {
    queue: VecDeque<Verdict>,
    heads: u64,
    answered: u64,
    /// The read that waits while a request is answered: woken when it is, to start its timer
    /// (hyper polls the read before it writes the response's end).
    reader: Option<Waker>,
}

impl Verdicts {
    fn push(&self, verdict: Verdict) {
        if let Ok(mut b) = self.0.lock() {
            b.queue.push_back(verdict);
            b.heads += 1;
        }
    }

    /// The verdict on the next request; a request whose head was not seen is refused.
    pub(super) fn next(&self) -> Verdict {
        self.0
            .lock()
            .ok()
            .and_then(|mut b| b.queue.pop_front())
            .unwrap_or(Verdict::Refuse(StatusCode::BAD_REQUEST, "request framing could not be checked\n"))
    }

    /// A token the service attaches to a response's body: when hyper drops the body (all of it
    /// written, or the connection gone), that request counts as answered.
    pub(super) fn answered(&self) -> Answered {
        Answered(self.clone())
    }

    /// `(heads seen, requests answered)`.
    fn counts(&self) -> (u64, u64) {
        self.0.lock().map(|b| (b.heads, b.answered)).unwrap_or((0, 0))
    }

    /// Wakes `waker` when a request is answered.
    fn wake_when_answered(&self, waker: &Waker) {
        if let Ok(mut b) = self.0.lock() {
            if !b.reader.as_ref().is_some_and(|w| w.will_wake(waker)) {
                b.reader = Some(waker.clone());
            }
        }
    }
}

/// See [`Verdicts::answered`].
#[derive(Debug)]
pub(super) struct Answered(Verdicts);

impl Drop for Answered {
    fn drop(&mut self) {
        let reader = match (self.0).0.lock() {
            Ok(mut b) => {
                b.answered += 1;
                b.reader.take()
            }
            Err(_) => None,
        };
        if let Some(w) = reader {
            w.wake();
        }
    }
}

/// A response body that counts its request as answered when hyper drops it.
#[derive(Debug)]
pub(super) struct Tracked {
    body: axum::body::Body,
    _answered: Answered,
}

impl Tracked {
    pub(super) fn new(body: axum::body::Body, answered: Answered) -> Tracked {
        Tracked { body, _answered: answered }
    }
}

impl hyper::body::Body for Tracked {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<bytes::Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

#[derive(Debug)]
enum State {
    /// Reading a request head (partial head in `Framed::buf`).
    Head,
    /// This many `Content-Length` body bytes to go.
    Body(u64),
    /// Reading a chunk-size line (partial line in `Framed::buf`).
    ChunkLine,
    /// This many chunk-data bytes to go, then CRLF.
    ChunkData(u64),
    ChunkCr,
    ChunkLf,
    /// The trailer section (RFC 9112 §7.1.2), `len` bytes so far.
    Trailers {
        at: TrailerAt,
        len: usize,
    },
    /// Nothing more reaches hyper. `refused`: a refused or oversized head was passed, so end of
    /// stream waits until something (the answer to it) has been written.
    Cut {
        refused: bool,
        answered: bool,
        waker: Option<Waker>,
    },
}

#[derive(Debug, Clone, Copy)]
enum TrailerAt {
    /// At the start of a line: CRLF here ends the body.
    LineStart,
    /// After the CR of the final CRLF.
    EndLf,
    /// Inside a trailer field line.
    Line,
    /// After the CR ending a field line.
    LineLf,
}

/// What a read is waiting for, for its timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// A request is being answered: no read timer.
    Nothing,
    /// A request head: the header timeout, from the head's start.
    Head,
    /// Request body bytes: the body timeout, from when the read started waiting.
    Body,
    /// The next request on a kept-alive connection: the idle timeout.
    Idle,
}

#[derive(Debug)]
struct Timers {
    /// The wait being timed.
    wait: Wait,
    /// When the read wait ends; `None` for a body until a read waits.
    read_deadline: Option<Instant>,
    read_sleep: Option<Pin<Box<Sleep>>>,
    /// When the write that is waiting ends; `None` while writes make progress.
    write_deadline: Option<Instant>,
    write_sleep: Option<Pin<Box<Sleep>>>,
}

/// The connection's socket as hyper reads it: see the module documentation.
#[derive(Debug)]
pub(super) struct Framed<IO> {
    io: IO,
    state: State,
    buf: Vec<u8>,
    verdicts: Verdicts,
    limits: Limits,
    timers: Timers,
    /// Told of the first bound the connection runs into, if any.
    report: Option<CutReport>,
}

impl<IO> Framed<IO> {
    /// Wraps `io`; the verdicts go to `verdicts`.
    pub(super) fn new(io: IO, verdicts: Verdicts, limits: Limits) -> Framed<IO> {
        let timers = Timers {
            wait: Wait::Nothing,
            read_deadline: None,
            read_sleep: None,
            write_deadline: None,
            write_sleep: None,
        };
        Framed { io, state: State::Head, buf: Vec::new(), verdicts, limits, timers, report: None }
    }

    /// Reports the first bound this connection runs into to `report`.
    pub(super) fn reporting_cuts(mut self, report: CutReport) -> Framed<IO> {
        self.report = Some(report);
        self
    }

    /// `cut` reported (once: the connection ends with it) and as the io error that ends it.
    fn cut_short(&mut self, cut: Cut) -> io::Error {
        if let Some(report) = self.report.take() {
            (report.0)(cut);
        }
        io::Error::new(io::ErrorKind::TimedOut, cut)
    }

    /// What a read now waits for.
    fn wait(&self) -> Wait {
        match self.state {
            State::Cut { .. } => Wait::Nothing,
            State::Head => {
                let (heads, answered) = self.verdicts.counts();
                if heads != answered {
                    // A pipelined head is timed once the requests before it are answered.
                    Wait::Nothing
                } else if heads == 0 || !self.buf.is_empty() {
                    Wait::Head
                } else {
                    Wait::Idle
                }
            }
            _ => Wait::Body,
        }
    }

    /// Appends to the partial head without growing past the limit (a `Vec` doubles its room).
    fn keep_head(&mut self, bytes: &[u8]) {
        let want = (self.buf.len() + bytes.len()).max(self.buf.capacity() * 2).min(self.limits.max_head + 1);
        if want > self.buf.capacity() {
            self.buf.reserve_exact(want - self.buf.len());
        }
        self.buf.extend_from_slice(bytes);
    }

    fn cut(&mut self, refused: bool) {
        self.buf = Vec::new();
        self.state = State::Cut { refused, answered: false, waker: None };
    }

    /// Follows `data` (just read); returns how many of its bytes hyper may see.
    fn scan(&mut self, data: &[u8]) -> usize {
        let mut i = 0;
        while i < data.len() {
            match &mut self.state {
                State::Head => match self.head(&data[i..]) {
                    HeadStep::Need => return data.len(),
                    HeadStep::Done(used, Framing::Length(0)) => i += used,
                    HeadStep::Done(used, Framing::Length(n)) => {
                        i += used;
                        self.state = State::Body(n);
                    }
                    HeadStep::Done(used, Framing::Chunked) => {
                        i += used;
                        self.state = State::ChunkLine;
                    }
                    HeadStep::Refused(used) => {
                        self.cut(true);
                        return i + used;
                    }
                    HeadStep::TooLarge(used) => {
                        // hyper then holds exactly `max_head` bytes of an incomplete head, its
                        // buffer limit: it answers 431 itself.
                        self.cut(true);
                        return i + used;
                    }
                },
                State::Body(n) => {
                    let step = usize::try_from(*n).unwrap_or(usize::MAX).min(data.len() - i);
                    i += step;
                    *n -= step as u64;
                    if *n == 0 {
                        self.state = State::Head;
                    }
                }
                State::ChunkLine => {
                    let rest = &data[i..];
                    let (take, complete) = match rest.iter().position(|&b| b == b'\n') {
                        Some(p) => (p + 1, true),
                        None => (rest.len(), false),
                    };
                    if self.buf.len() + take > MAX_CHUNK_LINE {
                        self.cut(false);
                        return i;
                    }
                    self.buf.extend_from_slice(&rest[..take]);
                    i += take;
                    if complete {
                        match chunk_size(&self.buf) {
                            Some(0) => self.state = State::Trailers { at: TrailerAt::LineStart, len: 0 },
                            Some(n) => self.state = State::ChunkData(n),
                            None => {
                                self.cut(false);
                                return i;
                            }
                        }
                        self.buf.clear();
                    }
                }
                State::ChunkData(n) => {
                    let step = usize::try_from(*n).unwrap_or(usize::MAX).min(data.len() - i);
                    i += step;
                    *n -= step as u64;
                    if *n == 0 {
                        self.state = State::ChunkCr;
                    }
                }
                State::ChunkCr | State::ChunkLf => {
                    let cr = matches!(self.state, State::ChunkCr);
                    let expected = if cr { b'\r' } else { b'\n' };
                    if data[i] != expected {
                        self.cut(false);
                        return i;
                    }
                    i += 1;
                    self.state = if cr { State::ChunkLf } else { State::ChunkLine };
                }
                State::Trailers { at, len } => {
                    // Strict CRLF (a bare CR or LF ends the stream): hyper ends the body at the
                    // first CRLF that starts a line, and so must this.
                    let b = data[i];
                    i += 1;
                    *len += 1;
                    if *len > MAX_TRAILERS {
                        self.cut(false);
                        return i - 1;
                    }
                    let next = match (*at, b) {
                        (TrailerAt::LineStart, b'\r') => Some(TrailerAt::EndLf),
                        (TrailerAt::EndLf, b'\n') => None,
                        (TrailerAt::LineStart | TrailerAt::Line, b'\n') | (TrailerAt::EndLf, _) => {
                            self.cut(false);
                            return i - 1;
                        }
                        (TrailerAt::Line, b'\r') => Some(TrailerAt::LineLf),
                        (TrailerAt::LineStart | TrailerAt::Line, _) => Some(TrailerAt::Line),
                        (TrailerAt::LineLf, b'\n') => Some(TrailerAt::LineStart),
                        (TrailerAt::LineLf, _) => {
                            self.cut(false);
                            return i - 1;
                        }
                    };
                    match next {
                        Some(next) => *at = next,
                        None => self.state = State::Head,
                    }
                }
                State::Cut { .. } => return i,
            }
        }
        data.len()
    }

    /// One step of reading a head from `rest` (the unread part of this read).
    fn head(&mut self, rest: &[u8]) -> HeadStep {
        let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut fields);
        // Usually the whole head is in one read: parse it where it lies, without a copy.
        let max_head = self.limits.max_head;
        let (parsed, before) = if self.buf.is_empty() {
            (req.parse(rest), 0)
        } else {
            let before = self.buf.len();
            let take = rest.len().min(max_head + 1 - before.min(max_head));
            self.keep_head(&rest[..take]);
            (req.parse(&self.buf), before)
        };
        match parsed {
            Ok(httparse::Status::Complete(len)) => {
                let used = len - before;
                let step = match judge(&req) {
                    Ok(framing) => {
                        self.verdicts.push(Verdict::Serve);
                        HeadStep::Done(used, framing)
                    }
                    Err(verdict) => {
                        self.verdicts.push(verdict);
                        HeadStep::Refused(used)
                    }
                };
                self.buf.clear();
                step
            }
            Ok(httparse::Status::Partial) => {
                if before + rest.len() > max_head {
                    return HeadStep::TooLarge(max_head.saturating_sub(before));
                }
                if before == 0 {
                    self.keep_head(rest);
                }
                HeadStep::Need
            }
            Err(_) => {
                // hyper refuses the same head itself; if it did not, the service refuses it.
                self.verdicts.push(Verdict::Refuse(StatusCode::BAD_REQUEST, "malformed request head\n"));
                HeadStep::Refused(rest.len())
            }
        }
    }
}

enum HeadStep {
    /// The head goes on in the next read (all of this one is kept).
    Need,
    /// A head of this many bytes (of this read), then a body framed so.
    Done(usize, Framing),
    /// A refused head ends after this many bytes of this read.
    Refused(usize),
    /// No head within `max_head` bytes; this many bytes of this read fill it up.
    TooLarge(usize),
}

enum Framing {
    Length(u64),
    Chunked,
}

/// The framing rules of RFC 9112 §6.1–§6.3 for a request head.
fn judge(req: &httparse::Request<'_, '_>) -> Result<Framing, Verdict> {
    let refuse = |text| Err(Verdict::Refuse(StatusCode::BAD_REQUEST, text));
    let mut length = None;
    let mut lengths = 0;
    let mut codings: Vec<&[u8]> = Vec::new();
    let mut transfer_encoding = false;
    for field in req.headers.iter() {
        if field.name.eq_ignore_ascii_case("content-length") {
            lengths += 1;
            length = parse_length(field.value);
        } else if field.name.eq_ignore_ascii_case("transfer-encoding") {
            transfer_encoding = true;
            codings.extend(field.value.split(|&b| b == b',').map(<[u8]>::trim_ascii));
        }
    }
    if transfer_encoding && lengths > 0 {
        // §6.3 item 3: "ought to be handled as an error"; a proxy must not forward it.
        return refuse("both Content-Length and Transfer-Encoding\n");
    }
    if transfer_encoding {
        if req.version != Some(1) {
            // §6.1: Transfer-Encoding in HTTP/1.0 is faulty framing.
            return refuse("Transfer-Encoding in an HTTP/1.0 request\n");
        }
        let chunked = |c: &&[u8]| c.eq_ignore_ascii_case(b"chunked");
        return match codings.split_last() {
            Some((last, others)) if chunked(last) && !others.iter().any(chunked) => {
                if others.is_empty() {
                    Ok(Framing::Chunked)
                } else {
                    // §6.1: a transfer coding the server does not understand.
                    Err(Verdict::Refuse(StatusCode::NOT_IMPLEMENTED, "transfer coding not implemented\n"))
                }
            }
            // §6.3 item 4: chunked not final (or twice, or missing): the length is unknown.
            _ => refuse("Transfer-Encoding must end in chunked, once\n"),
        };
    }
    match (lengths, length) {
        (0, _) => Ok(Framing::Length(0)),
        (1, Some(n)) => Ok(Framing::Length(n)),
        // §6.3 item 5; a repeated field, even with the same value, is refused (RFC 9110 §8.6
        // allows it) rather than guessed at.
        (1, None) => refuse("invalid Content-Length\n"),
        _ => refuse("more than one Content-Length\n"),
    }
}

/// `1*DIGIT` as a `u64`.
fn parse_length(value: &[u8]) -> Option<u64> {
    let value = value.trim_ascii();
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}

/// The size on a whole chunk-size line (up to and including its LF), as hyper reads it: a hex
/// digit first, CRLF last.
fn chunk_size(line: &[u8]) -> Option<u64> {
    if !line.first().is_some_and(u8::is_ascii_hexdigit) {
        return None;
    }
    match httparse::parse_chunk_size(line) {
        Ok(httparse::Status::Complete((used, size))) if used == line.len() => Some(size),
        _ => None,
    }
}

/// `timeout` from now; `None` if that is beyond what the clock can say (no timer then).
fn after(timeout: std::time::Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

/// Whether `deadline` has passed; if not, the task is woken when it does.
fn expired(sleep: &mut Option<Pin<Box<Sleep>>>, deadline: Instant, cx: &mut Context<'_>) -> bool {
    let sleep = sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
    if sleep.deadline() != deadline {
        sleep.as_mut().reset(deadline);
    }
    std::future::Future::poll(sleep.as_mut(), cx).is_ready()
}

/// Why the gateway cut a connection short: a bound a client ran into. [`Framed`] reports each
/// once, to its [`CutReport`]; an idle kept-alive connection closed quietly is not one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cut {
    /// A request head longer than the head limit (hyper answers 431 and ends the connection with
    /// its own error; the serve loop reports it).
    HeadTooLarge,
    /// A request head not complete within the header timeout.
    HeaderTimeout,
    /// A request body that stopped arriving for the body timeout.
    BodyTimeout,
    /// A response the client stopped reading for the write timeout.
    WriteTimeout,
}

impl Cut {
    /// Every reason, so each has a series from the start.
    pub(super) const ALL: [Cut; 4] =
        [Cut::HeadTooLarge, Cut::HeaderTimeout, Cut::BodyTimeout, Cut::WriteTimeout];

    /// The metric label and log field.
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Cut::HeadTooLarge => "head_too_large",
            Cut::HeaderTimeout => "header_timeout",
            Cut::BodyTimeout => "body_timeout",
            Cut::WriteTimeout => "write_timeout",
        }
    }
}

impl std::fmt::Display for Cut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Cut::HeadTooLarge => "request head too large",
            Cut::HeaderTimeout => "request head timed out",
            Cut::BodyTimeout => "request body timed out",
            Cut::WriteTimeout => "response write timed out",
        })
    }
}

impl std::error::Error for Cut {}

/// Where a connection's [`Cut`] is reported: counted by the metrics and logged with the peer
/// (such a connection never reaches the service, so it has no access-log line).
pub(super) struct CutReport(pub(super) Box<dyn Fn(Cut) + Send + Sync>);

impl std::fmt::Debug for CutReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CutReport")
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Framed<IO> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let State::Cut { refused, answered, waker } = &mut this.state {
            if *refused && !*answered {
                *waker = Some(cx.waker().clone());
                return Poll::Pending;
            }
            return Poll::Ready(Ok(()));
        }
        let wait = this.wait();
        if wait != this.timers.wait {
            this.timers.wait = wait;
            this.timers.read_deadline = match wait {
                Wait::Head => after(this.limits.header_timeout),
                Wait::Idle => after(this.limits.idle_timeout),
                Wait::Body | Wait::Nothing => None,
            };
        }
        // A head sent a byte at a time is timed as a whole, not per read.
        if wait == Wait::Head && this.timers.read_deadline.is_some_and(|d| Instant::now() >= d) {
            return Poll::Ready(Err(this.cut_short(Cut::HeaderTimeout)));
        }
        let start = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => {
                if wait == Wait::Nothing {
                    this.verdicts.wake_when_answered(cx.waker());
                }
                if wait == Wait::Body && this.timers.read_deadline.is_none() {
                    this.timers.read_deadline = after(this.limits.body_timeout);
                }
                // An answer still being written is the write timer's to end, not the idle one's.
                let writing = wait == Wait::Idle && this.timers.write_deadline.is_some();
                if let Some(deadline) = this.timers.read_deadline.filter(|_| !writing) {
                    if expired(&mut this.timers.read_sleep, deadline, cx) {
                        return Poll::Ready(match wait {
                            // End of stream: hyper closes an idle connection quietly.
                            Wait::Idle => Ok(()),
                            Wait::Body => Err(this.cut_short(Cut::BodyTimeout)),
                            Wait::Head | Wait::Nothing => Err(this.cut_short(Cut::HeaderTimeout)),
                        });
                    }
                }
                return Poll::Pending;
            }
        }
        let end = buf.filled().len();
        if end > start {
            if wait == Wait::Body {
                this.timers.read_deadline = None;
            }
            let keep = this.scan(&buf.filled()[start..end]);
            buf.set_filled(start + keep);
        }
        Poll::Ready(Ok(()))
    }
}

impl<IO> Framed<IO> {
    /// After a write: progress ends its timer; no progress starts it, and ends the connection
    /// once it runs out (a client that stops reading its response).
    fn wrote(&mut self, written: Poll<io::Result<usize>>, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        match written {
            Poll::Ready(r) => {
                self.timers.write_deadline = None;
                if r.is_ok() {
                    self.answered();
                }
                Poll::Ready(r)
            }
            Poll::Pending => {
                if self.timers.write_deadline.is_none() {
                    self.timers.write_deadline = after(self.limits.write_timeout);
                }
                match self.timers.write_deadline {
                    Some(deadline) if expired(&mut self.timers.write_sleep, deadline, cx) => {
                        Poll::Ready(Err(self.cut_short(Cut::WriteTimeout)))
                    }
                    _ => Poll::Pending,
                }
            }
        }
    }

    fn answered(&mut self) {
        if let State::Cut { refused: true, answered, waker } = &mut self.state {
            *answered = true;
            if let Some(w) = waker.take() {
                w.wake();
            }
        }
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Framed<IO> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.io).poll_write(cx, data);
        this.wrote(written, cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.wrote(written, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.answered();
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in pieces of `split` bytes; returns the bytes passed and the verdicts.
    fn run(input: &[u8], split: usize) -> (Vec<u8>, Vec<Verdict>, bool) {
        let verdicts = Verdicts::default();
        let mut f = Framed::new((), verdicts.clone(), Limits::default());
        let mut passed = Vec::new();
        for piece in input.chunks(split.max(1)) {
            if matches!(f.state, State::Cut { .. }) {
                break;
            }
            let keep = f.scan(piece);
            passed.extend_from_slice(&piece[..keep]);
        }
        let cut = matches!(f.state, State::Cut { .. });
        let v = verdicts.0.lock().unwrap().queue.iter().copied().collect();
        (passed, v, cut)
    }

    const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";

    #[test]
    fn pipelined_requests_are_followed_across_bodies_in_any_split() {
        let mut input = Vec::new();
        input.extend_from_slice(b"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nGET /x");
        input.extend_from_slice(
            b"POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nGET\r\n0\r\nX-T: 1\r\n\r\n",
        );
        input.extend_from_slice(b"POST /c HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n0\r\n\r\n");
        input.extend_from_slice(GET);
        for split in [1, 2, 3, 7, 64, input.len()] {
            let (passed, v, cut) = run(&input, split);
            assert_eq!(passed, input, "split {split}");
            assert_eq!(v, vec![Verdict::Serve; 4], "split {split}");
            assert!(!cut);
        }
    }

    #[test]
    fn a_refused_head_passes_nothing_after_it() {
        for (head, status) in [
            (&b"POST / HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"[..], 400),
            (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nContent-Length: 4, 4\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nContent-Length: +4\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked,\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
            (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        ] {
            let mut input = GET.to_vec();
            input.extend_from_slice(head);
            input.extend_from_slice(b"0\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n");
            for split in [1, 5, input.len()] {
                let (passed, v, cut) = run(&input, split);
                let text = String::from_utf8_lossy(head);
                assert_eq!(passed.len(), GET.len() + head.len(), "{text} split {split}");
                assert!(cut, "{text}");
                assert_eq!(v.len(), 2, "{text}");
                assert_eq!(v[0], Verdict::Serve);
                assert!(matches!(v[1], Verdict::Refuse(s, _) if s.as_u16() == status), "{text}: {v:?}");
            }
        }
    }

    #[test]
    fn broken_chunked_syntax_cuts_the_stream() {
        for body in [
            &b"3\r\nabcX\r\n0\r\n\r\n"[..],
            b"3\nabc\r\n0\r\n\r\n",
            b";x\r\n",
            b"zz\r\n",
            b"0\r\n\n",
            b"0\r\nX-T: 1\n\r\n",
            b"0\r\nX-T: 1\r\r\n",
            b"00000000000000000003\r\nabc\r\n",
        ] {
            let mut input = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
            input.extend_from_slice(body);
            input.extend_from_slice(GET);
            let (passed, v, cut) = run(&input, 1);
            assert!(cut, "{:?}", String::from_utf8_lossy(body));
            assert!(passed.len() < input.len() - GET.len() + 1, "{:?}", String::from_utf8_lossy(body));
            assert_eq!(v, vec![Verdict::Serve]);
        }
    }

    #[test]
    fn a_head_over_the_limit_is_not_buffered() {
        for max_head in [super::super::limits::MIN_MAX_HEAD_SIZE, Limits::default().max_head, 64 * 1024] {
            let limits = Limits { max_head, ..Limits::default() };
            let mut input = b"GET / HTTP/1.1\r\nX-Big: ".to_vec();
            input.resize(max_head * 3, b'a');
            for split in [4096, 5000, max_head * 3] {
                let verdicts = Verdicts::default();
                let mut f = Framed::new((), verdicts.clone(), limits);
                let mut passed = 0;
                for piece in input.chunks(split) {
                    passed += f.scan(piece);
                    // Neither the partial head nor the room kept for it grows past the limit.
                    assert!(f.buf.capacity() <= max_head + 1, "{max_head} split {split}");
                    if matches!(f.state, State::Cut { .. }) {
                        break;
                    }
                }
                // Exactly hyper's buffer limit reaches hyper, so that it answers 431.
                assert_eq!(passed, max_head, "{max_head} split {split}");
                assert!(matches!(f.state, State::Cut { refused: true, .. }), "split {split}");
                assert!(verdicts.0.lock().unwrap().queue.is_empty());
            }
        }
    }

    #[test]
    fn a_malformed_head_is_refused() {
        let (_, v, cut) = run(b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", 100);
        assert!(cut);
        assert!(matches!(v[..], [Verdict::Refuse(s, _)] if s == StatusCode::BAD_REQUEST));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]
        #[test]
        fn never_panics_on_any_bytes(
            prefix in proptest::sample::select(vec![
                &b""[..],
                b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
                b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\n",
            ]),
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512),
            split in 1usize..64,
        ) {
            let mut input = prefix.to_vec();
            input.extend_from_slice(&bytes);
            let (passed, _, _) = run(&input, split);
            proptest::prop_assert!(passed.len() <= input.len());
        }
    }
}
