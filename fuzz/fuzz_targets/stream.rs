//! Byte-stream framing: arbitrary bytes fed in arbitrary chunks never panic, every delivered
//! frame re-encodes and decodes to itself, counters add up, and arbitrary frames round-trip
//! through one stream cut into arbitrary chunks.
#![no_main]

use std::hint::black_box;

use arbitrary::Unstructured;
use bridgeless_wire::stream::{Decoder, decoder_buffer_len, encode, encoded_len_max};
use libfuzzer_sys::fuzz_target;

/// Feeds `stream` in chunks whose sizes cycle through `sizes` (plus one), and returns the
/// delivered frames and the number of errors.
fn feed_chunked(
    decoder: &mut Decoder<&mut [u8]>,
    stream: &[u8],
    sizes: &[u8],
) -> (Vec<Vec<u8>>, u64) {
    let mut frames = Vec::new();
    let mut errors = 0;
    let mut rest = stream;
    let mut sizes = sizes.iter().cycle();
    let max = decoder.max_frame_len();
    while !rest.is_empty() {
        let size = (usize::from(*sizes.next().unwrap_or(&0)) + 1).min(rest.len());
        let (mut chunk, tail) = rest.split_at(size);
        rest = tail;
        while !chunk.is_empty() {
            let (used, event) = decoder.feed(black_box(chunk));
            assert!(used >= 1 && used <= chunk.len(), "feed must make progress");
            match event {
                None => assert_eq!(used, chunk.len(), "feed stops only at events"),
                Some(Ok(frame)) => {
                    assert!(frame.len() <= max, "frame larger than the buffer allows");
                    frames.push(frame.to_vec());
                }
                Some(Err(_)) => errors += 1,
            }
            chunk = &chunk[used..];
        }
    }
    (frames, errors)
}

/// Encodes `frames` back to back into one stream.
fn encode_all(frames: &[&[u8]]) -> Vec<u8> {
    let mut stream = Vec::new();
    for frame in frames {
        let start = stream.len();
        stream.resize(start + encoded_len_max(frame.len()), 0);
        let n = encode(black_box(frame), &mut stream[start..]).expect("bound is enough");
        stream.truncate(start + n);
    }
    stream
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(capacity) = u.int_in_range(0usize..=1100) else {
        return;
    };
    let Ok(sizes) = u.arbitrary::<[u8; 4]>() else {
        return;
    };
    let stream = u.take_rest();

    // 1. Arbitrary bytes in arbitrary chunks.
    let mut buffer = vec![0u8; capacity];
    let mut decoder = Decoder::new(&mut buffer[..]);
    let (frames, errors) = feed_chunked(&mut decoder, stream, &sizes);
    let stats = decoder.stats();
    assert_eq!(stats.bytes, stream.len() as u64);
    assert_eq!(stats.frames, frames.len() as u64);
    assert_eq!(stats.errors(), errors);

    // 2. Whatever was delivered re-encodes and decodes to itself, through a decoder whose
    //    buffer is exactly large enough.
    for frame in &frames {
        let wire = encode_all(&[frame]);
        let mut buffer = vec![0u8; decoder_buffer_len(frame.len())];
        let mut decoder = Decoder::new(&mut buffer[..]);
        let (again, errors) = feed_chunked(&mut decoder, &wire, &[u8::MAX]);
        assert_eq!(errors, 0);
        assert_eq!(again, std::slice::from_ref(frame));
    }

    // 3. The input, cut into frames at the chunk sizes, round-trips through one stream.
    let mut pieces: Vec<&[u8]> = Vec::new();
    let mut rest = stream;
    for &size in sizes.iter().cycle().take(64) {
        if rest.is_empty() {
            break;
        }
        let (piece, tail) = rest.split_at((usize::from(size) * 3).min(rest.len()));
        pieces.push(piece);
        rest = tail;
    }
    pieces.push(rest);
    let wire = encode_all(&pieces);
    let largest = pieces.iter().map(|p| p.len()).max().unwrap_or(0);
    let mut buffer = vec![0u8; decoder_buffer_len(largest)];
    let mut decoder = Decoder::new(&mut buffer[..]);
    let mut reversed = sizes;
    reversed.reverse();
    let (again, errors) = feed_chunked(&mut decoder, &wire, &reversed);
    assert_eq!(errors, 0);
    assert_eq!(again, pieces);
});
