#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| multiproc_fuzz::manager_protocol(data));
