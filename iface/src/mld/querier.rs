//! MLD as a router: the querier that tracks listeners on one link.
