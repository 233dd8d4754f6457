//! Capture reader: arbitrary bytes, read as a pcap or pcapng file from memory, never panic,
//! every record is bounded, numbering increases, and iteration ends (fused after a fatal error).
#![no_main]

use std::hint::black_box;
use std::io::Cursor;

use bridgeless_wire::pcap::{MAX_RECORD_LEN, Reader, RecordPayload};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(reader) = Reader::new(Cursor::new(data)) else {
        return;
    };
    let mut last_number = 0;
    let mut ended = false;
    let mut reader = reader;
    // Every record takes at least 12 bytes of input, so this cap is never reached by a
    // reader that ends as it should.
    for _ in 0..=data.len() / 12 + 2 {
        match reader.next() {
            None => {
                ended = true;
                break;
            }
            Some(Ok(record)) => {
                assert!(record.number > last_number, "record numbers increase");
                last_number = record.number;
                match black_box(&record.payload) {
                    RecordPayload::Ip(p) | RecordPayload::Unsupported(p) => {
                        assert!(p.len() <= MAX_RECORD_LEN as usize)
                    }
                    RecordPayload::NotIp { .. } => {}
                }
            }
            Some(Err(e)) => {
                let _ = black_box(e.to_string());
                if e.is_fatal() {
                    assert!(reader.next().is_none(), "fused after a fatal error");
                    ended = true;
                    break;
                }
            }
        }
    }
    assert!(ended, "reader did not end");
    assert!(reader.next().is_none());
});
