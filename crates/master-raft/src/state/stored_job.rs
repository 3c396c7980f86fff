//! A job as the state keeps it: its JSON, compressed, and the few fields `apply` and the
//! leader's loops read often.
//!
//! As a `Job` struct a job costs about 2 KB of memory whatever it holds (744 bytes inline, and
//! a 544-byte B-tree node for every map with an entry); as compact JSON it costs its size,
//! about what the client sent, most of it the names of Helios's thirty-odd fields and their
//! empty values. So the JSON is kept compressed: an LZ4 block whose dictionary is the JSON of
//! an empty job ([`DICTIONARY`]), so the field names and empty values cost a few bytes each
//! (a job of `helios-bench footprint`, 780 bytes of JSON, keeps about 120: some 60 MiB less per
//! master at 100,000 jobs). Listings decompress it straight into the body they write
//! ([`StoredJob::write_json`]); the dispatcher, `GET /jobs/{id}` and job statuses decompress
//! it into a copy; the token, the static ports (every deploy), the expiry (the reaper's
//! scan) and the service registrations (every DNS answer) are kept beside it, and anything
//! else is decoded when it is read. The JSON is made by serializing a `Job`, so it always
//! decodes into the same job.
//!
//! The compressed form never leaves the process (the dictionary may change between
//! versions): in snapshots a stored job is its JSON text, and a snapshot of an earlier
//! version, where it is the job itself, still loads.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, LazyLock};

use chrono::{DateTime, Utc};
use helios_api::{Job, ServiceEndpoint, ServicePorts};
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

/// A job in the replicated state; cheap to clone (shared).
#[derive(Clone)]
pub struct StoredJob(Arc<Inner>);

/// The LZ4 dictionary of stored jobs: the JSON of an empty job, which holds the name and the
/// empty value of every field.
static DICTIONARY: LazyLock<Vec<u8>> =
    LazyLock::new(|| serde_json::to_vec(&Job::default()).unwrap_or_default());

struct Inner {
    /// The job's JSON, compressed against [`DICTIONARY`], its length prepended.
    json: Box<[u8]>,
    expires: Option<DateTime<Utc>>,
    /// The hot fields most jobs leave empty, allocated only for a job that sets one (the
    /// state holds one `Inner` per job: 40 bytes with this, 104 without).
    extras: Option<Box<Extras>>,
}

/// Hot fields of a job that are usually empty.
struct Extras {
    token: Box<str>,
    static_ports: Box<[i32]>,
    registration: BTreeMap<ServiceEndpoint, ServicePorts>,
    registration_domain: Box<str>,
}

/// The registrations of a job without any.
static NO_REGISTRATION: BTreeMap<ServiceEndpoint, ServicePorts> = BTreeMap::new();

impl StoredJob {
    /// Stores `job`.
    pub fn new(job: &Job) -> StoredJob {
        // A Job (strings, numbers and string-keyed maps) always serializes.
        let text = serde_json::to_vec(job).unwrap_or_else(|_| b"null".to_vec());
        let extras = Extras {
            token: job.token.as_str().into(),
            static_ports: job.ports.values().filter_map(|p| p.external_port).collect(),
            registration: job.registration.clone(),
            registration_domain: job.registration_domain.as_str().into(),
        };
        let empty = extras.token.is_empty()
            && extras.static_ports.is_empty()
            && extras.registration.is_empty()
            && extras.registration_domain.is_empty();
        StoredJob(Arc::new(Inner {
            json: lz4_flex::block::compress_prepend_size_with_dict(&text, &DICTIONARY)
                .into_boxed_slice(),
            expires: job.expires,
            extras: (!empty).then(|| Box::new(extras)),
        }))
    }

    /// The job itself, decoded from its JSON.
    pub fn job(&self) -> Job {
        serde_json::from_str(&self.json_text()).unwrap_or_else(|e| {
            // Unreachable: the JSON was made from a Job (see the module's documentation).
            tracing::error!("a stored job does not decode: {e}");
            Job::default()
        })
    }

    /// The job's JSON, as `GET /jobs/{id}` answers it.
    pub fn json_text(&self) -> String {
        let mut out = Vec::new();
        self.write_json(&mut out);
        String::from_utf8(out).unwrap_or_else(|e| {
            // Unreachable: the JSON was made from a Job (see the module's documentation).
            tracing::error!("a stored job's JSON is not UTF-8: {e}");
            "null".into()
        })
    }

    /// The job's JSON as a raw value, for a body serialized with serde (checked again by
    /// `serde_json` as it is made: for listings, [`Self::write_json`] is cheaper).
    pub fn raw_json(&self) -> Box<RawValue> {
        RawValue::from_string(self.json_text()).unwrap_or_else(|e| {
            // Unreachable: the JSON was made from a Job (see the module's documentation).
            tracing::error!("a stored job's JSON is not JSON: {e}");
            RawValue::NULL.to_owned()
        })
    }

    /// Appends the job's JSON to `out`, decompressed in place.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        let start = out.len();
        let written = lz4_flex::block::uncompressed_size(&self.0.json).and_then(|(len, block)| {
            out.resize(start + len, 0);
            lz4_flex::block::decompress_into_with_dict(block, &mut out[start..], &DICTIONARY)
        });
        match written {
            Ok(len) => out.truncate(start + len),
            Err(e) => {
                // Unreachable: the block was compressed by `new` with the same dictionary.
                tracing::error!("a stored job does not decompress: {e}");
                out.truncate(start);
                out.extend_from_slice(b"null");
            }
        }
    }

    /// The job's token (`""` for none).
    pub fn token(&self) -> &str {
        self.0.extras.as_ref().map_or("", |e| &e.token)
    }

    /// The external ports the job fixes (each reserved on a host it is deployed to).
    pub fn static_ports(&self) -> &[i32] {
        self.0.extras.as_ref().map_or(&[], |e| &e.static_ports)
    }

    /// When the job expires, if it does.
    pub fn expires(&self) -> Option<DateTime<Utc>> {
        self.0.expires
    }

    /// The job's service-discovery registrations.
    pub fn registration(&self) -> &BTreeMap<ServiceEndpoint, ServicePorts> {
        self.0
            .extras
            .as_ref()
            .map_or(&NO_REGISTRATION, |e| &e.registration)
    }

    /// The job's service-registration domain, `""` for the masters' default.
    pub fn registration_domain(&self) -> &str {
        self.0
            .extras
            .as_ref()
            .map_or("", |e| &e.registration_domain)
    }
}

impl From<&Job> for StoredJob {
    fn from(job: &Job) -> Self {
        StoredJob::new(job)
    }
}

impl PartialEq for StoredJob {
    fn eq(&self, other: &Self) -> bool {
        // LZ4 compression is a function of the text and the dictionary (fixed for the
        // process, and no table is reused between calls): the same JSON gives the same block.
        self.0.json == other.0.json
    }
}

impl fmt::Debug for StoredJob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.json_text())
    }
}

impl Serialize for StoredJob {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.json_text())
    }
}

impl<'de> Deserialize<'de> for StoredJob {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StoredJobVisitor)
    }
}

/// Reads a stored job: JSON text (this version), or the job itself (earlier snapshots).
struct StoredJobVisitor;

impl<'de> Visitor<'de> for StoredJobVisitor {
    type Value = StoredJob;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a job, or its JSON text")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<StoredJob, E> {
        let job: Job = serde_json::from_str(text).map_err(E::custom)?;
        Ok(StoredJob::new(&job))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<StoredJob, A::Error> {
        let job = Job::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok(StoredJob::new(&job))
    }
}

/// A stored job that serializes as the job's JSON object (for REST bodies), not as the text
/// snapshots hold.
pub struct AsJson(pub StoredJob);

impl Serialize for AsJson {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.raw_json().serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use helios_api::{JobId, PortMapping};

    use super::*;

    fn job() -> Job {
        let mut j = Job::new(JobId::full("web", "1", "a".repeat(40)), "nginx");
        j.token = "secret".into();
        j.env.insert("K".into(), "V \"quoted\"".into());
        j.ports
            .insert("http".into(), PortMapping::with_external(80, 8080));
        j.ports.insert("admin".into(), PortMapping::of(81));
        j.registration.insert(
            ServiceEndpoint::new("svc", "http"),
            ServicePorts::of(["http"]),
        );
        j.registration_domain = "d".into();
        j
    }

    #[test]
    fn a_stored_job_gives_back_the_same_job_and_its_hot_fields() {
        let stored = StoredJob::new(&job());
        assert_eq!(stored.job(), job());
        assert_eq!(stored.token(), "secret");
        assert_eq!(stored.static_ports(), [8080]);
        assert_eq!(stored.expires(), None);
        assert_eq!(stored.registration(), &job().registration);
        assert_eq!(stored.registration_domain(), "d");
        assert_eq!(stored.json_text(), serde_json::to_string(&job()).unwrap());
        assert_eq!(
            stored.raw_json().get(),
            serde_json::to_string(&job()).unwrap()
        );
        let mut listing = b"[".to_vec();
        stored.write_json(&mut listing);
        assert_eq!(listing[1..], serde_json::to_vec(&job()).unwrap());
        assert_eq!(
            serde_json::to_string(&AsJson(stored.clone())).unwrap(),
            serde_json::to_string(&job()).unwrap()
        );
    }

    #[test]
    fn large_and_unusual_jobs_keep_their_json_and_compress_alike_every_time() {
        let mut big = job();
        // Beyond LZ4's 64 KiB window, and text that needs escapes or is not ASCII.
        big.env
            .insert("BIG".into(), "0123456789abcdef".repeat(8 << 10));
        big.env
            .insert("ODD".into(), "é \u{1F600} \"\\ \n \u{7}".into());
        let stored = StoredJob::new(&big);
        assert_eq!(stored.json_text(), serde_json::to_string(&big).unwrap());
        assert_eq!(stored.job(), big);
        assert_eq!(StoredJob::new(&big).0.json, stored.0.json);
        assert_eq!(StoredJob::new(&big), stored);
        assert_ne!(StoredJob::new(&job()), stored);
        // What the dictionary saves: the JSON of an empty job compresses to a few bytes.
        let empty = StoredJob::new(&Job::default());
        assert!(empty.0.json.len() < 32, "{} bytes", empty.0.json.len());
    }

    #[test]
    fn a_job_without_token_ports_or_registrations_has_them_empty() {
        let stored = StoredJob::new(&Job::new(JobId::full("web", "1", "a".repeat(40)), "nginx"));
        assert!(stored.0.extras.is_none());
        assert_eq!(stored.token(), "");
        assert!(stored.static_ports().is_empty());
        assert!(stored.registration().is_empty());
        assert_eq!(stored.registration_domain(), "");
        assert_eq!(std::mem::size_of::<Inner>(), 40);
    }

    #[test]
    fn snapshots_hold_the_text_and_still_read_the_job_itself() {
        let stored = StoredJob::new(&job());
        let packed = rmp_serde::to_vec_named(&stored).unwrap();
        let back: StoredJob = rmp_serde::from_slice(&packed).unwrap();
        assert_eq!(back, stored);
        // An earlier snapshot held the Job struct.
        let old = rmp_serde::to_vec_named(&job()).unwrap();
        let back: StoredJob = rmp_serde::from_slice(&old).unwrap();
        assert_eq!(back, stored);
        let back: StoredJob =
            serde_json::from_str(&serde_json::to_string(&job()).unwrap()).unwrap();
        assert_eq!(back, stored);
        assert!(serde_json::from_str::<StoredJob>("\"not json\"").is_err());
    }
}
