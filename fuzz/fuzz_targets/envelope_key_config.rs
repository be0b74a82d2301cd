//! `KeyConfig::decode` / `decode_list`: whatever decodes encodes back to the same bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use payseal_protocol::envelope::KeyConfig;

fuzz_target!(|data: &[u8]| {
    if let Ok(config) = KeyConfig::decode(data) {
        assert_eq!(KeyConfig::decode(&config.encode()).unwrap(), config);
    }
    if let Ok(list) = KeyConfig::decode_list(data) {
        assert_eq!(
            KeyConfig::decode_list(&KeyConfig::encode_list(&list)).unwrap(),
            list
        );
    }
});
