//! Collapses repeated warnings: a warning or error whose call site and field values are the
//! same as one written less than an interval ago is counted instead of written; the first
//! repeat after the interval is written once, as the latest occurrence with `repeats=N` (how
//! many occurred since the last line of that text, itself included) and `over_secs` (since
//! when). So a failure that repeats thousands of times a second costs one line per interval
//! and still says how often it happened.
//!
//! Events below WARN pass untouched. Identical text is the key, so two peers' errors (whose
//! messages name different addresses) are limited separately, and a new kind of error is
//! written at once. At most [`MAX_TRACKED`] texts are tracked; beyond that, events pass.
//! A count still pending when the repeats stop is not written later: callers that must
//! report an end (a peer back, a session started) log it themselves.
//!
//! [`RepeatLimited`] wraps the layer that writes (the `fmt` layer) rather than filtering for
//! the whole subscriber, so that the collapsed line can be handed to that layer directly,
//! without logging from inside the logger.

use std::any::TypeId;
use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::fmt::Write as _;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tracing_core::callsite::{Callsite, Identifier};
use tracing_core::field::{Field, FieldSet, Value, Visit};
use tracing_core::metadata::Kind;
use tracing_core::subscriber::Interest;
use tracing_core::{Dispatch, Event, Level, LevelFilter, Metadata, Subscriber, span};
use tracing_subscriber::layer::{Context, Layer};

/// Distinct texts tracked at once; past this, events are written without limit.
pub const MAX_TRACKED: usize = 1024;

/// What to do with one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Write it as it is (first of its text, or the first after a quiet interval).
    Write,
    /// Count it, write nothing.
    Suppress,
    /// Write it with a count: `repeats` occurrences (this one included) over `over`.
    Summarise {
        /// Occurrences since the last line of this text, this one included.
        repeats: u64,
        /// Time since the last line of this text.
        over: Duration,
    },
}

/// The interval state of one text.
#[derive(Debug)]
struct Window {
    /// When the last line of this text was written.
    written: Instant,
    /// Occurrences counted since then.
    suppressed: u64,
}

/// The pure bookkeeping: per text key, when it was last written and how many repeats were
/// held back since.
#[derive(Debug)]
pub struct RepeatBook {
    /// At most one line per key in this long.
    interval: Duration,
    /// Most keys tracked.
    capacity: usize,
    /// Keys seen within the last interval (and older ones until pruned).
    windows: HashMap<u64, Window>,
}

impl RepeatBook {
    /// A book that lets one line per key through every `interval`, tracking `capacity` keys.
    pub fn new(interval: Duration, capacity: usize) -> RepeatBook {
        RepeatBook {
            interval,
            capacity,
            windows: HashMap::new(),
        }
    }

    /// Decides about one occurrence of `key` at `now`.
    pub fn admit(&mut self, key: u64, now: Instant) -> Verdict {
        if let Some(window) = self.windows.get_mut(&key) {
            let age = now.saturating_duration_since(window.written);
            if age < self.interval {
                window.suppressed += 1;
                return Verdict::Suppress;
            }
            let suppressed = std::mem::take(&mut window.suppressed);
            window.written = now;
            return if suppressed == 0 {
                Verdict::Write
            } else {
                Verdict::Summarise {
                    repeats: suppressed + 1,
                    over: age,
                }
            };
        }
        if self.windows.len() >= self.capacity {
            // Keys quiet for a whole interval would be written at once anyway; a count
            // still pending on them is given up.
            let interval = self.interval;
            self.windows
                .retain(|_, w| now.saturating_duration_since(w.written) < interval);
            if self.windows.len() >= self.capacity {
                return Verdict::Write;
            }
        }
        self.windows.insert(
            key,
            Window {
                written: now,
                suppressed: 0,
            },
        );
        Verdict::Write
    }

    /// How many keys are tracked.
    pub fn tracked(&self) -> usize {
        self.windows.len()
    }
}

/// An event's fields as one line of text: the message, then ` name=value` for the others.
#[derive(Default)]
struct Rendered {
    /// The `message` field.
    message: String,
    /// Every other field.
    others: String,
}

impl Visit for Rendered {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.others, " {}={value:?}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.others, " {}={value:?}", field.name());
        }
    }
}

impl Rendered {
    fn of(event: &Event<'_>) -> Rendered {
        let mut rendered = Rendered::default();
        event.record(&mut rendered);
        rendered
    }

    /// The key of an event: its call site and its text.
    fn key(&self, callsite: &Identifier) -> u64 {
        let mut hasher = DefaultHasher::new();
        callsite.hash(&mut hasher);
        self.message.hash(&mut hasher);
        self.others.hash(&mut hasher);
        hasher.finish()
    }

    fn into_line(self) -> String {
        self.message + &self.others
    }
}

/// The call site that collapsed lines claim; they are never registered with the dispatcher.
struct CollapsedCallsite;

static COLLAPSED_CALLSITE: CollapsedCallsite = CollapsedCallsite;

/// Fields of a collapsed line.
const COLLAPSED_FIELDS: &[&str] = &["message", "repeats", "over_secs"];

static COLLAPSED_METADATA: Metadata<'static> = Metadata::new(
    "repeated event",
    "helios_logging::repeats",
    Level::WARN,
    None,
    None,
    None,
    FieldSet::new(COLLAPSED_FIELDS, Identifier(&COLLAPSED_CALLSITE)),
    Kind::EVENT,
);

impl Callsite for CollapsedCallsite {
    fn set_interest(&self, _: Interest) {}

    fn metadata(&self) -> &Metadata<'_> {
        &COLLAPSED_METADATA
    }
}

/// A layer that hands its inner (writing) layer each event, except repeats of a warning or
/// error written less than `interval` ago; see the module documentation.
pub struct RepeatLimited<L> {
    /// The layer that writes lines.
    inner: L,
    /// The decisions.
    book: Mutex<RepeatBook>,
    /// Per original call site, the metadata of its collapsed lines: same target, level, file
    /// and line, with the collapsed fields. Leaked once per call site (a bounded number).
    collapsed: Mutex<HashMap<Identifier, &'static Metadata<'static>>>,
}

impl<L> RepeatLimited<L> {
    /// Wraps `inner`, writing each warning or error text at most once per `interval`.
    pub fn new(inner: L, interval: Duration) -> RepeatLimited<L> {
        RepeatLimited {
            inner,
            book: Mutex::new(RepeatBook::new(interval, MAX_TRACKED)),
            collapsed: Mutex::new(HashMap::new()),
        }
    }

    fn collapsed_metadata(
        &self,
        original: &'static Metadata<'static>,
    ) -> &'static Metadata<'static> {
        let mut cache = self
            .collapsed
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        cache.entry(original.callsite()).or_insert_with(|| {
            Box::leak(Box::new(Metadata::new(
                "repeated event",
                original.target(),
                *original.level(),
                original.file(),
                original.line(),
                original.module_path(),
                FieldSet::new(COLLAPSED_FIELDS, Identifier(&COLLAPSED_CALLSITE)),
                Kind::EVENT,
            )))
        })
    }
}

impl<S, L> Layer<S> for RepeatLimited<L>
where
    S: Subscriber,
    L: Layer<S>,
{
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let metadata = event.metadata();
        if *metadata.level() > Level::WARN {
            return self.inner.on_event(event, ctx);
        }
        let rendered = Rendered::of(event);
        let key = rendered.key(&metadata.callsite());
        let verdict = self
            .book
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .admit(key, Instant::now());
        match verdict {
            Verdict::Write => self.inner.on_event(event, ctx),
            Verdict::Suppress => {}
            Verdict::Summarise { repeats, over } => {
                let collapsed = self.collapsed_metadata(metadata);
                let fields = collapsed.fields();
                let line = rendered.into_line();
                let over_secs = over.as_secs();
                let (Some(message), Some(repeats_field), Some(over_field)) = (
                    fields.field("message"),
                    fields.field("repeats"),
                    fields.field("over_secs"),
                ) else {
                    return self.inner.on_event(event, ctx);
                };
                let values = [
                    (&message, Some(&line.as_str() as &dyn Value)),
                    (&repeats_field, Some(&repeats as &dyn Value)),
                    (&over_field, Some(&over_secs as &dyn Value)),
                ];
                let values = fields.value_set(&values);
                self.inner.on_event(&Event::new(collapsed, &values), ctx);
            }
        }
    }

    fn on_register_dispatch(&self, subscriber: &Dispatch) {
        self.inner.on_register_dispatch(subscriber);
    }

    fn on_layer(&mut self, subscriber: &mut S) {
        self.inner.on_layer(subscriber);
    }

    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        self.inner.register_callsite(metadata)
    }

    fn enabled(&self, metadata: &Metadata<'_>, ctx: Context<'_, S>) -> bool {
        self.inner.enabled(metadata, ctx)
    }

    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        self.inner.on_new_span(attrs, id, ctx);
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        self.inner.max_level_hint()
    }

    fn on_record(&self, span: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
        self.inner.on_record(span, values, ctx);
    }

    fn on_follows_from(&self, span: &span::Id, follows: &span::Id, ctx: Context<'_, S>) {
        self.inner.on_follows_from(span, follows, ctx);
    }

    fn event_enabled(&self, event: &Event<'_>, ctx: Context<'_, S>) -> bool {
        self.inner.event_enabled(event, ctx)
    }

    fn on_enter(&self, id: &span::Id, ctx: Context<'_, S>) {
        self.inner.on_enter(id, ctx);
    }

    fn on_exit(&self, id: &span::Id, ctx: Context<'_, S>) {
        self.inner.on_exit(id, ctx);
    }

    fn on_close(&self, id: span::Id, ctx: Context<'_, S>) {
        self.inner.on_close(id, ctx);
    }

    fn on_id_change(&self, old: &span::Id, new: &span::Id, ctx: Context<'_, S>) {
        self.inner.on_id_change(old, new, ctx);
    }

    unsafe fn downcast_raw(&self, id: TypeId) -> Option<*const ()> {
        if id == TypeId::of::<Self>() {
            return Some(self as *const Self as *const ());
        }
        // SAFETY: forwarded as is; the inner layer answers for its own types.
        unsafe { self.inner.downcast_raw(id) }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::Arc;

    use tracing_subscriber::fmt::MakeWriter;
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn one_line_per_key_per_interval_with_the_count() {
        let mut book = RepeatBook::new(30 * SECOND, 16);
        let t0 = Instant::now();
        assert_eq!(book.admit(1, t0), Verdict::Write);
        for i in 1..=999 {
            assert_eq!(
                book.admit(1, t0 + Duration::from_millis(i)),
                Verdict::Suppress
            );
        }
        assert_eq!(
            book.admit(1, t0 + 31 * SECOND),
            Verdict::Summarise {
                repeats: 1000,
                over: 31 * SECOND
            }
        );
        assert_eq!(book.admit(1, t0 + 32 * SECOND), Verdict::Suppress);
        assert_eq!(
            book.admit(1, t0 + 61 * SECOND),
            Verdict::Summarise {
                repeats: 2,
                over: 30 * SECOND
            }
        );
        // A repeat after a quiet interval is written as it is.
        assert_eq!(book.admit(1, t0 + 100 * SECOND), Verdict::Write);
    }

    #[test]
    fn keys_are_limited_separately() {
        let mut book = RepeatBook::new(30 * SECOND, 16);
        let t0 = Instant::now();
        assert_eq!(book.admit(1, t0), Verdict::Write);
        assert_eq!(book.admit(2, t0), Verdict::Write);
        assert_eq!(book.admit(1, t0 + SECOND), Verdict::Suppress);
        assert_eq!(book.admit(3, t0 + SECOND), Verdict::Write);
    }

    #[test]
    fn a_full_book_drops_quiet_keys_then_lets_events_through() {
        let mut book = RepeatBook::new(30 * SECOND, 2);
        let t0 = Instant::now();
        book.admit(1, t0);
        book.admit(2, t0 + 20 * SECOND);
        // Key 1 is a whole interval old: pruned to make room for key 3.
        assert_eq!(book.admit(3, t0 + 40 * SECOND), Verdict::Write);
        assert_eq!(book.tracked(), 2);
        // Keys 2 and 3 are fresh: key 4 passes untracked, and again.
        assert_eq!(book.admit(4, t0 + 41 * SECOND), Verdict::Write);
        assert_eq!(book.admit(4, t0 + 41 * SECOND), Verdict::Write);
        assert_eq!(book.tracked(), 2);
    }

    /// A writer that keeps every line in memory.
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Lines {
        type Writer = Lines;

        fn make_writer(&'a self) -> Lines {
            self.clone()
        }
    }

    impl Lines {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    fn emit(peer: &str, times: usize) {
        for _ in 0..times {
            tracing::warn!(target: "openraft::replication", "Unreachable node {peer}: connection refused");
        }
    }

    #[test]
    fn repeated_warnings_are_written_once_then_collapsed_with_a_count() {
        let lines = Lines::default();
        let output = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .without_time()
            .with_writer(lines.clone());
        let subscriber = tracing_subscriber::registry()
            .with(RepeatLimited::new(output, Duration::from_millis(200)));
        tracing::subscriber::with_default(subscriber, || {
            emit("127.0.0.1:1", 1000);
            emit("127.0.0.1:2", 1000);
            tracing::info!(target: "openraft::replication", "progress");
            tracing::info!(target: "openraft::replication", "progress");
            std::thread::sleep(Duration::from_millis(250));
            emit("127.0.0.1:1", 1);
        });
        let text = lines.text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5, "{text}");
        assert_eq!(
            lines[0],
            " WARN openraft::replication: Unreachable node 127.0.0.1:1: connection refused"
        );
        assert!(lines[1].contains("127.0.0.1:2"), "{text}");
        // INFO is never limited.
        assert_eq!(lines[2], lines[3]);
        assert_eq!(
            lines[4],
            " WARN openraft::replication: Unreachable node 127.0.0.1:1: connection refused \
             repeats=1000 over_secs=0"
        );
    }

    #[test]
    fn fields_are_part_of_the_text() {
        let lines = Lines::default();
        let output = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .without_time()
            .with_writer(lines.clone());
        let subscriber = tracing_subscriber::registry()
            .with(RepeatLimited::new(output, Duration::from_secs(60)));
        tracing::subscriber::with_default(subscriber, || {
            for master in ["a:1", "b:2", "a:1", "b:2"] {
                tracing::warn!(master, error = "refused", "cannot reach master");
            }
        });
        let text = lines.text();
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(text.contains("master=\"a:1\"") && text.contains("master=\"b:2\""));
    }
}
