//! TODO: pcap
