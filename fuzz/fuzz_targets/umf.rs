//! UMF text from a peer: parsing never panics, and what parses writes the same wire text back.
#![no_main]

use hydra_protocol::Umf;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = Umf::parse_valid(text);
    let Ok(m) = Umf::parse(text) else {
        return;
    };
    let wire = m.to_wire();
    let back = Umf::parse(&wire).expect("our own wire text parses");
    assert_eq!(back.to_wire(), wire, "wire text is stable");
    let via_long = Umf::from_value(&m.to_long()).expect("the long form parses");
    assert_eq!(via_long.to_wire(), wire, "long and short forms agree");
    let _ = m.validate();
    let _ = m.to_route();
    let _ = m.verify(b"secret");
    let reply = m.reply(&Umf::new("a:/", "b:/", serde_json::Value::Null));
    let _ = Umf::parse(&reply.to_wire()).expect("a reply parses");
});
