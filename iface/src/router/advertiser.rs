//! Router Advertisements sent by a router on one of its links (RFC 4861 §6.2).
