//! A body from the ResourceManager or a NameNode, through every decoder of the YARN clients.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| livy_rs::fuzzing::rm_json(data));
