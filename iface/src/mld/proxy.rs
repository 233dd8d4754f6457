//! MLD proxying (RFC 4605): a subtree's memberships aggregated upstream.
