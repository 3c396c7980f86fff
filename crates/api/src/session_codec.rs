//! The protobuf codec of the agent protocol (`proto/agent.proto`), with small buffers.
//!
//! tonic gives every stream an 8 KiB encode and an 8 KiB decode buffer, and a decode buffer
//! keeps the largest capacity it ever grew to. A leader holds one stream per agent for the
//! agent's whole life, so those buffers are paid ten thousand times at 10,000 hosts (the
//! `helios-bench scale` heap profile put them at about a quarter of a leader's per-agent
//! cost). Agent messages are small (heartbeats are a few bytes; a status under 1 KB, as agents
//! report statuses without their job), so the buffers here start at 1 KiB and grow only for
//! the messages that need it, and an encoder hands a chunk to the transport once 4 KiB are
//! buffered, so one agent's burst of reports does not arrive at the master as one 16 KiB
//! frame.

use std::marker::PhantomData;

use tonic::codec::{BufferSettings, Codec};
use tonic_prost::{ProstCodec, ProstDecoder, ProstEncoder};

/// Initial capacity of a stream's encode and decode buffers.
const BUFFER_SIZE: usize = 1024;

/// Buffered bytes at which an encoder yields a chunk to the transport.
const YIELD_THRESHOLD: usize = 4096;

/// [`ProstCodec`] with [`BUFFER_SIZE`] and [`YIELD_THRESHOLD`]; named by `build.rs` as the
/// codec of every service of `agent.proto`.
#[derive(Debug, Clone)]
pub struct SessionCodec<T, U> {
    _messages: PhantomData<(T, U)>,
}

impl<T, U> Default for SessionCodec<T, U> {
    fn default() -> Self {
        SessionCodec {
            _messages: PhantomData,
        }
    }
}

fn settings() -> BufferSettings {
    BufferSettings::new(BUFFER_SIZE, YIELD_THRESHOLD)
}

impl<T, U> Codec for SessionCodec<T, U>
where
    T: prost::Message + Send + 'static,
    U: prost::Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = ProstDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstCodec::<T, U>::raw_encoder(settings())
    }

    fn decoder(&mut self) -> Self::Decoder {
        ProstCodec::<T, U>::raw_decoder(settings())
    }
}
