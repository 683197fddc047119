//! The exmdb RPC protocol (placeholder until the codec lands).
