//! The Noise test vectors (Cacophony's and snow's) for our pattern, run through the exact
//! snow configuration the endpoint uses.

use bridgeless_roaming::crypto::{NOISE_PARAMS, noise_builder};
use serde_json::Value;

fn hex(v: &Value) -> Vec<u8> {
    let s = v.as_str().expect("hex string");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn noise_ik_vectors_pass() {
    let file: Value = serde_json::from_str(include_str!(
        "vectors/noise_ik_25519_chachapoly_blake2s.json"
    ))
    .unwrap();
    let vectors = file["vectors"].as_array().unwrap();
    assert_eq!(vectors.len(), 2);
    let mut with_hash = 0;
    for v in vectors {
        assert_eq!(v["protocol_name"], NOISE_PARAMS);
        let mut init = noise_builder([0; 32])
            .local_private_key(&hex(&v["init_static"]))
            .unwrap()
            .remote_public_key(&hex(&v["init_remote_static"]))
            .unwrap()
            .prologue(&hex(&v["init_prologue"]))
            .unwrap()
            .fixed_ephemeral_key_for_testing_only(&hex(&v["init_ephemeral"]))
            .build_initiator()
            .unwrap();
        let mut resp = noise_builder([0; 32])
            .local_private_key(&hex(&v["resp_static"]))
            .unwrap()
            .prologue(&hex(&v["resp_prologue"]))
            .unwrap()
            .fixed_ephemeral_key_for_testing_only(&hex(&v["resp_ephemeral"]))
            .build_responder()
            .unwrap();
        let messages = v["messages"].as_array().unwrap();
        let (mut out, mut plain) = (vec![0u8; 65_535], vec![0u8; 65_535]);
        // IK: two handshake messages, initiator first.
        for (i, m) in messages.iter().take(2).enumerate() {
            let (payload, ciphertext) = (hex(&m["payload"]), hex(&m["ciphertext"]));
            let (send, recv) = if i == 0 {
                (&mut init, &mut resp)
            } else {
                (&mut resp, &mut init)
            };
            let n = send.write_message(&payload, &mut out).unwrap();
            assert_eq!(
                out[..n],
                ciphertext[..],
                "{}: handshake message {i}",
                v["source"]
            );
            let p = recv.read_message(&out[..n], &mut plain).unwrap();
            assert_eq!(plain[..p], payload[..]);
        }
        assert!(init.is_handshake_finished() && resp.is_handshake_finished());
        if let Some(h) = v.get("handshake_hash") {
            assert_eq!(init.get_handshake_hash(), &hex(h)[..]);
            assert_eq!(resp.get_handshake_hash(), &hex(h)[..]);
            with_hash += 1;
        }
        let mut init = init.into_transport_mode().unwrap();
        let mut resp = resp.into_transport_mode().unwrap();
        for (i, m) in messages.iter().enumerate().skip(2) {
            let (payload, ciphertext) = (hex(&m["payload"]), hex(&m["ciphertext"]));
            let (send, recv) = if i % 2 == 0 {
                (&mut init, &mut resp)
            } else {
                (&mut resp, &mut init)
            };
            let n = send.write_message(&payload, &mut out).unwrap();
            assert_eq!(
                out[..n],
                ciphertext[..],
                "{}: transport message {i}",
                v["source"]
            );
            let p = recv.read_message(&out[..n], &mut plain).unwrap();
            assert_eq!(plain[..p], payload[..]);
        }
    }
    assert_eq!(with_hash, 1, "Cacophony's vector checks the handshake hash");
}
