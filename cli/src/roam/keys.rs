//! Static key files and hex keys for `bridgeless roam`.
//!
//! A key file holds the 32-octet X25519 private key as 64 hex digits and a newline, mode
//! 0600. The public key is derived from it; it is what a peer names this side by.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use bridgeless_roaming::StaticKeypair;

/// 32 octets from 64 hex digits (surrounding white space ignored).
pub fn parse_key(text: &str) -> Result<[u8; 32], String> {
    let text = text.trim();
    if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!(
            "expected 64 hex digits (a 32-octet key), found {} characters",
            text.len()
        ));
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16)
            .map_err(|_| "expected hex digits".to_string())?;
    }
    Ok(out)
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A new private key from the operating system's random source.
pub fn generate() -> io::Result<[u8; 32]> {
    bridgeless_roaming::stream::os_seed()
}

/// The public key of a private key.
pub fn public(private: &[u8; 32]) -> [u8; 32] {
    StaticKeypair::from_private(*private).public()
}

/// Writes the private key to a new file, mode 0600. An existing file is never overwritten.
pub fn write_new(path: &Path, private: &[u8; 32]) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    writeln!(file, "{}", hex(private))?;
    file.sync_all()
}

/// The private key of a key file. Warns on stderr when others may read it.
pub fn read(path: &Path) -> Result<[u8; 32], String> {
    let name = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{name}: {e}"))?;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        eprintln!(
            "bridgeless roam: warning: {name} is readable by others (mode {:o}); chmod 600 it",
            meta.permissions().mode() & 0o777
        );
    }
    parse_key(&text).map_err(|e| format!("{name}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let key: [u8; 32] = core::array::from_fn(|i| (i * 37) as u8);
        assert_eq!(parse_key(&format!(" {}\n", hex(&key))), Ok(key));
        assert!(parse_key("abc").is_err());
        assert!(parse_key(&"g".repeat(64)).is_err());
    }
}
