//! Any bytes through the parse + classify entry point: must return Ok or Err(Quarantine), never
//! panic or hang. The threading and summary code runs on whatever parses.
#![no_main]

use libfuzzer_sys::fuzz_target;

struct NothingKnown;

impl mail::ThreadLookup for NothingKnown {
    fn conversation_of_message_id(&self, _: &str) -> Option<u64> {
        None
    }
    fn conversation_exists(&self, _: u64) -> bool {
        true
    }
    fn is_participant(&self, _: u64, _: &str) -> bool {
        true
    }
}

fuzz_target!(|data: &[u8]| {
    let options = mail::ReadOptions {
        own_addresses: vec!["support@acme.test".into()],
        ..mail::ReadOptions::default()
    };
    if let Ok(message) = mail::read_message(data, &options) {
        let key = mail::ThreadKey::new(b"fuzz key".to_vec());
        let _ = mail::decide_thread(&message, &key, &NothingKnown);
        let _ = serde_json::to_string(&message.summary());
    }
    let _ = mail::tnef::unpack(data);
});
