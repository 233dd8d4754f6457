//! Byte-stream framing end to end: many frames in one stream, cut into arbitrary chunks,
//! damaged in the ways serial lines and broken pipes damage them.

use bridgeless_wire::stream::{DecodeError, Decoder, decoder_buffer_len, encode, encoded_len_max};
use proptest::prelude::*;

/// Largest frame the tests generate, and the decoders' capacity.
const MAX_FRAME: usize = 300;

/// Encodes `frames` back to back and returns the stream and each frame's byte range in it.
fn encode_all(frames: &[Vec<u8>]) -> (Vec<u8>, Vec<std::ops::Range<usize>>) {
    let mut stream = Vec::new();
    let mut ranges = Vec::new();
    for frame in frames {
        let start = stream.len();
        stream.resize(start + encoded_len_max(frame.len()), 0xEE);
        let n = encode(frame, &mut stream[start..]).unwrap();
        stream.truncate(start + n);
        ranges.push(start..start + n);
    }
    (stream, ranges)
}

/// Decoder output: delivered frames in order, and the errors reported.
#[derive(Debug, Default)]
struct Decoded {
    frames: Vec<Vec<u8>>,
    errors: Vec<DecodeError>,
}

/// Feeds `stream` in chunks of the given sizes (cycled; the last chunk takes the rest).
fn decode_chunked<B: AsMut<[u8]>>(
    decoder: &mut Decoder<B>,
    stream: &[u8],
    chunk_sizes: &[usize],
) -> Decoded {
    let mut out = Decoded::default();
    let mut rest = stream;
    let mut sizes = chunk_sizes.iter().cycle();
    while !rest.is_empty() {
        let size = (*sizes.next().unwrap_or(&rest.len())).clamp(1, rest.len());
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        // The caller's loop over one chunk, as documented on `feed`.
        let mut chunk = chunk;
        while !chunk.is_empty() {
            let (used, event) = decoder.feed(chunk);
            assert!(used >= 1 && used <= chunk.len());
            match event {
                Some(Ok(frame)) => out.frames.push(frame.to_vec()),
                Some(Err(e)) => out.errors.push(e),
                None => assert_eq!(used, chunk.len(), "feed stops only at events"),
            }
            chunk = &chunk[used..];
        }
    }
    out
}

fn frame_strategy() -> impl Strategy<Value = Vec<u8>> {
    // Zeros are what COBS is about: make them common.
    prop::collection::vec(
        prop_oneof![Just(0u8), Just(0xFFu8), any::<u8>()],
        0..=MAX_FRAME,
    )
}

fn frames_strategy(min: usize) -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(frame_strategy(), min..12)
}

fn chunks_strategy() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1usize..80, 1..20)
}

/// One way a frame gets damaged on the way; positions are taken modulo the frame's range.
#[derive(Debug, Clone)]
enum Damage {
    /// A byte changes (xor with a non-zero value: it may become a delimiter, or stop being one).
    Flip { at: usize, xor: u8 },
    /// Bytes are lost (a cut, an overrun).
    Drop { at: usize, len: usize },
    /// Line noise is inserted, possibly with delimiters, possibly longer than the buffer.
    Insert { at: usize, noise: Vec<u8> },
}

fn damage_strategy() -> impl Strategy<Value = Damage> {
    prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(at, xor)| Damage::Flip { at, xor }),
        (any::<usize>(), 1usize..400).prop_map(|(at, len)| Damage::Drop { at, len }),
        (
            any::<usize>(),
            prop::collection::vec(prop_oneof![Just(0u8), any::<u8>()], 1..700)
        )
            .prop_map(|(at, noise)| Damage::Insert { at, noise }),
    ]
}

/// Applies `damage` inside `range` of `stream`; returns the bytes now standing where the
/// frame was (to tell whether anything of it is left).
fn apply(stream: &mut Vec<u8>, range: std::ops::Range<usize>, damage: &Damage) -> Vec<u8> {
    let len = range.len();
    match damage {
        Damage::Flip { at, xor } => {
            stream[range.start + at % len] ^= xor;
            stream[range].to_vec()
        }
        Damage::Drop { at, len: n } => {
            let start = range.start + at % len;
            let end = (start + n).min(range.end);
            stream.drain(start..end);
            stream[range.start..range.end - (end - start)].to_vec()
        }
        Damage::Insert { at, noise } => {
            let at = range.start + at % (len + 1);
            stream.splice(at..at, noise.iter().copied());
            stream[range.start..range.end + noise.len()].to_vec()
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Every frame of a stream comes back, in order, whatever the chunk boundaries.
    #[test]
    fn frames_survive_any_chunking(frames in frames_strategy(0), chunks in chunks_strategy()) {
        let (stream, _) = encode_all(&frames);
        let mut decoder = Decoder::new([0u8; decoder_buffer_len(MAX_FRAME)]);
        let decoded = decode_chunked(&mut decoder, &stream, &chunks);
        prop_assert_eq!(&decoded.frames, &frames);
        prop_assert!(decoded.errors.is_empty());
        let stats = decoder.stats();
        prop_assert_eq!(stats.frames, frames.len() as u64);
        prop_assert_eq!(stats.errors(), 0);
        prop_assert_eq!(stats.bytes, stream.len() as u64);
    }

    /// The encoder stays within its bound, writes no zero between its delimiters, and a frame
    /// decodes the same with a decoder whose buffer is exactly large enough.
    #[test]
    fn encoding_is_bounded_and_exact(frame in frame_strategy()) {
        let mut out = vec![0u8; encoded_len_max(frame.len())];
        let n = encode(&frame, &mut out).unwrap();
        prop_assert!(n <= encoded_len_max(frame.len()));
        prop_assert_eq!(out[0], 0);
        prop_assert_eq!(out[n - 1], 0);
        prop_assert!(!out[1..n - 1].contains(&0));
        // One byte short fails cleanly.
        prop_assert!(encode(&frame, &mut out[..n - 1]).is_err());

        let mut buffer = vec![0u8; decoder_buffer_len(frame.len())];
        let mut decoder = Decoder::new(&mut buffer[..]);
        let decoded = decode_chunked(&mut decoder, &out[..n], &[n]);
        prop_assert_eq!(decoded.frames, vec![frame.clone()]);

        // A buffer one byte smaller rejects it as too long, once.
        if let Some(small) = decoder_buffer_len(frame.len()).checked_sub(1) {
            let mut buffer = vec![0u8; small];
            let mut decoder = Decoder::new(&mut buffer[..]);
            let decoded = decode_chunked(&mut decoder, &out[..n], &[n]);
            prop_assert!(decoded.frames.is_empty());
            prop_assert_eq!(decoded.errors, vec![DecodeError::TooLong]);
        }
    }

    /// Damage to one frame (a changed byte, lost bytes, inserted noise) costs that frame only:
    /// all the others are delivered intact and in order, and the damaged one is either reported
    /// as an error or, when nothing of it is left but delimiters, not seen at all.
    #[test]
    fn damage_costs_one_frame(
        frames in frames_strategy(1),
        which in any::<usize>(),
        damage in damage_strategy(),
        chunks in chunks_strategy(),
    ) {
        let (mut stream, ranges) = encode_all(&frames);
        let k = which % frames.len();
        let left = apply(&mut stream, ranges[k].clone(), &damage);
        // A cut at the very end of the stream leaves a frame the decoder still waits for: the
        // next frame's leading delimiter is what ends it. Send one.
        stream.push(0);

        let mut decoder = Decoder::new([0u8; decoder_buffer_len(MAX_FRAME)]);
        let decoded = decode_chunked(&mut decoder, &stream, &chunks);

        let mut without_k = frames.clone();
        without_k.remove(k);
        if decoded.frames == frames {
            // The damage missed the frame's contents: for instance noise inserted before its
            // leading delimiter, or an empty COBS block added after its last full block.
        } else {
            prop_assert_eq!(&decoded.frames, &without_k, "damaged frame {}", k);
            if left.iter().any(|&b| b != 0) {
                prop_assert!(!decoded.errors.is_empty(), "lost frame {} not reported", k);
            }
        }
        let stats = decoder.stats();
        prop_assert_eq!(stats.frames, decoded.frames.len() as u64);
        prop_assert_eq!(stats.errors(), decoded.errors.len() as u64);
        prop_assert_eq!(stats.bytes, stream.len() as u64);
    }

    /// Noise of any kind never makes the decoder deliver more than its buffer holds, and every
    /// event it reports is counted.
    #[test]
    fn noise_is_bounded_and_counted(
        noise in prop::collection::vec(prop_oneof![Just(0u8), 1u8..=255, 1u8..=255, 1u8..=255], 0..2000),
        chunks in chunks_strategy(),
    ) {
        let mut decoder = Decoder::new([0u8; 64]);
        let decoded = decode_chunked(&mut decoder, &noise, &chunks);
        prop_assert!(decoded.frames.iter().all(|f| f.len() <= 60));
        let stats = decoder.stats();
        prop_assert_eq!(stats.frames, decoded.frames.len() as u64);
        prop_assert_eq!(stats.errors(), decoded.errors.len() as u64);
        prop_assert_eq!(stats.bytes, noise.len() as u64);
        // And after the noise, a delimiter and a good frame get through.
        let (stream, _) = encode_all(&[b"after the noise".to_vec()]);
        let after = decode_chunked(&mut decoder, &stream, &chunks);
        prop_assert_eq!(after.frames, vec![b"after the noise".to_vec()]);
    }
}

/// A run of non-zero bytes far longer than the buffer is reported once, skipped, and the
/// decoder is back in step at the next delimiter.
#[test]
fn overlong_run_is_skipped() {
    let mut decoder = Decoder::new([0u8; 32]);
    let mut stream = vec![0x42u8; 10_000];
    let (good, _) = encode_all(&[vec![1, 2, 3]]);
    stream.extend_from_slice(&good);
    let decoded = decode_chunked(&mut decoder, &stream, &[7, 1000, 3]);
    assert_eq!(decoded.errors, vec![DecodeError::TooLong]);
    assert_eq!(decoded.frames, vec![vec![1, 2, 3]]);
    assert_eq!(decoder.stats().too_long, 1);
}

/// A decoder that joins a stream in the middle of a frame loses that fragment (reported), then
/// decodes the rest.
#[test]
fn joining_mid_stream() {
    let frames = vec![vec![0xAB; 40], vec![0, 1, 2], vec![]];
    let (stream, ranges) = encode_all(&frames);
    let mut decoder = Decoder::new([0u8; 64]);
    let decoded = decode_chunked(&mut decoder, &stream[ranges[0].start + 10..], &[5]);
    assert_eq!(decoded.frames, frames[1..]);
    assert_eq!(decoded.errors.len(), 1);
}
