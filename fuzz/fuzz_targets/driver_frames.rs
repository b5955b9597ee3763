//! Bytes a driver (or anyone reaching the channel port) sends: frames, messages, statements.
//! The first byte picks the frame limit.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| livy_rs::fuzzing::driver_frames(data));
