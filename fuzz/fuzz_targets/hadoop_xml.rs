//! A Hadoop site file (core-site.xml, yarn-site.xml, hdfs-site.xml), then the YARN and WebHDFS
//! settings taken from it.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        livy_rs::fuzzing::hadoop_xml(text);
    }
});
