//! DHCPv6 prefix delegation (RFC 8415, the IA_PD subset on a point-to-point link): a server
//! that hands sub-prefixes of a pool to downstream routers and a client that requests one.
