//! UMF messages: one type that reads long and short field names and writes the short form.
//!
//! Node builds a message by taking each field as `long || short`, so a field whose value is
//! JavaScript-falsy (`""`, `0`, `false`, `null`) counts as absent. We read the same way, so a
//! message means the same thing on both sides.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use sha2::Sha256;

use crate::jsjson::{self, truthy, ObjectWriter};
use crate::route::{Route, RouteError};

/// The UMF version Node writes.
pub const UMF_VERSION: &str = "UMF/1.4.6";

/// Why a payload is not a usable UMF message.
///
/// # Examples
///
/// ```
/// use hydra_protocol::umf::{Umf, UmfError};
/// assert!(matches!(Umf::parse("[1, 2]"), Err(UmfError::NotObject)));
/// assert!(matches!(Umf::parse_valid(r#"{"to":"svc:/"}"#), Err(UmfError::Invalid)));
/// assert!(matches!(Umf::parse(r#"{"to":{"svc":1}}"#), Err(UmfError::NotAString("to"))));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UmfError {
    /// The payload is not JSON.
    #[error("message is not JSON: {0}")]
    NotJson(String),
    /// The JSON is not an object.
    #[error("message is not a JSON object")]
    NotObject,
    /// `to`, `from` or `body` is missing (Node's text).
    #[error("UMF message requires \"to\", \"from\" and \"body\" fields")]
    Invalid,
    /// A string field holds another JSON type.
    #[error("UMF field `{0}` must be a string")]
    NotAString(&'static str),
    /// The `to` route does not parse.
    #[error(transparent)]
    Route(#[from] RouteError),
}

/// A UMF message. Field names are the long ones; [`Umf::to_short`] gives the wire form.
///
/// # Examples
///
/// ```
/// use hydra_protocol::Umf;
/// use serde_json::json;
/// let msg = Umf::new("hello-service:/", "client:/", json!({"ping": 1})).with_type("ping");
/// // On the wire: short names, Node's order, Node's JSON.
/// let wire = msg.to_wire();
/// assert!(wire.starts_with(r#"{"to":"hello-service:/","frm":"client:/","mid":""#));
/// assert_eq!(Umf::parse(&wire).unwrap(), msg);
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Umf {
    /// Where the message goes (`to`).
    pub to: String,
    /// Who sent it (`from` / `frm`).
    pub from: String,
    /// Headers (`headers` / `hdr`), for API requests the HTTP headers.
    pub headers: Option<Value>,
    /// Message id (`mid`), a UUID v4 with dashes unless given.
    pub mid: String,
    /// The mid this message replies to (`rmid`).
    pub rmid: Option<String>,
    /// HMAC signature (`signature` / `sig`).
    pub signature: Option<String>,
    /// Timeout (`timeout` / `tmo`), seconds for API requests.
    pub timeout: Option<Value>,
    /// ISO 8601 timestamp (`timestamp` / `ts`).
    pub timestamp: String,
    /// Message type (`type` / `typ`).
    pub typ: Option<String>,
    /// UMF version (`version` / `ver`).
    pub version: String,
    /// Route a reply goes back through (`via`).
    pub via: Option<String>,
    /// Forwarding information (`forward` / `fwd`).
    pub forward: Option<Value>,
    /// The payload (`body` / `bdy`); `Null` when absent.
    pub body: Value,
    /// Authorization (`authorization` / `aut`), the `Authorization` header of API requests.
    pub authorization: Option<Value>,
}

/// One UMF field's two names: the long form's and the short (wire) form's.
///
/// # Examples
///
/// ```
/// use hydra_protocol::umf::field;
/// let short: Vec<&str> = field::ALL.iter().map(|f| f.short).collect();
/// assert_eq!(&short[..3], ["to", "frm", "hdr"]);
/// assert_eq!(field::BODY.long, "body");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// The long-form name (`from`).
    pub long: &'static str,
    /// The short-form name (`frm`).
    pub short: &'static str,
}

/// Every UMF field, in Node's order: the one table of long and short names.
pub mod field {
    use super::Field;

    const fn f(long: &'static str, short: &'static str) -> Field {
        Field { long, short }
    }
    /// `to`.
    pub const TO: Field = f("to", "to");
    /// `from` / `frm`.
    pub const FROM: Field = f("from", "frm");
    /// `headers` / `hdr`.
    pub const HEADERS: Field = f("headers", "hdr");
    /// `mid`.
    pub const MID: Field = f("mid", "mid");
    /// `rmid`.
    pub const RMID: Field = f("rmid", "rmid");
    /// `signature` / `sig`.
    pub const SIGNATURE: Field = f("signature", "sig");
    /// `timeout` / `tmo`.
    pub const TIMEOUT: Field = f("timeout", "tmo");
    /// `timestamp` / `ts`.
    pub const TIMESTAMP: Field = f("timestamp", "ts");
    /// `type` / `typ`.
    pub const TYPE: Field = f("type", "typ");
    /// `version` / `ver`.
    pub const VERSION: Field = f("version", "ver");
    /// `via`.
    pub const VIA: Field = f("via", "via");
    /// `forward` / `fwd`.
    pub const FORWARD: Field = f("forward", "fwd");
    /// `body` / `bdy`.
    pub const BODY: Field = f("body", "bdy");
    /// `authorization` / `aut`.
    pub const AUTHORIZATION: Field = f("authorization", "aut");
    /// All of them, in the order Node writes them.
    pub const ALL: [Field; 14] = [
        TO,
        FROM,
        HEADERS,
        MID,
        RMID,
        SIGNATURE,
        TIMEOUT,
        TIMESTAMP,
        TYPE,
        VERSION,
        VIA,
        FORWARD,
        BODY,
        AUTHORIZATION,
    ];
}

/// A field's value as a message holds it: text (empty = absent) or JSON.
enum FieldValue<'a> {
    Text(&'a str),
    Json(Option<&'a Value>),
}

/// `long || short`, as Node reads a field.
fn take(m: &mut Map<String, Value>, f: Field) -> Option<Value> {
    let first = m.remove(f.long).filter(truthy);
    let second = if f.long == f.short {
        None
    } else {
        m.remove(f.short).filter(truthy)
    };
    first.or(second)
}

/// A text field's value. Node keeps any truthy value; a number where a string belongs is still
/// usable as text.
fn text(v: Option<Value>, f: Field) -> Result<Option<String>, UmfError> {
    match v {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(UmfError::NotAString(f.long)),
    }
}

/// A new message id: UUID v4 with dashes.
///
/// # Examples
///
/// ```
/// let mid = hydra_protocol::umf::new_mid();
/// assert_eq!(mid.len(), 36);
/// assert_eq!(mid.matches('-').count(), 4);
/// ```
pub fn new_mid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// An instance id: UUID v4 without dashes.
///
/// # Examples
///
/// ```
/// let id = hydra_protocol::umf::new_instance_id();
/// assert_eq!(id.len(), 32);
/// assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
/// ```
pub fn new_instance_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Now as ISO 8601 UTC with milliseconds, as JavaScript's `toISOString()`.
///
/// # Examples
///
/// ```
/// let now = hydra_protocol::umf::timestamp(); // e.g. 2026-12-02T16:00:00.123Z
/// assert_eq!(now.len(), 24);
/// assert!(now.ends_with('Z'));
/// ```
pub fn timestamp() -> String {
    iso_time(time::OffsetDateTime::now_utc())
}

/// Formats a time as JavaScript's `toISOString()` does.
///
/// # Examples
///
/// ```
/// use time::macros::datetime;
/// let t = datetime!(2026-12-02 17:30:05.25 +01:00);
/// assert_eq!(hydra_protocol::umf::iso_time(t), "2026-12-02T16:30:05.250Z");
/// ```
pub fn iso_time(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

impl Umf {
    /// A new message with defaults (mid, timestamp, version) filled in.
    ///
    /// # Examples
    ///
    /// ```
    /// use hydra_protocol::umf::{Umf, UMF_VERSION};
    /// let msg = Umf::new("hello-service:/", "client:/", serde_json::json!({"ping": 1}));
    /// assert_eq!(msg.version, UMF_VERSION);
    /// assert!(!msg.mid.is_empty() && !msg.timestamp.is_empty());
    /// ```
    pub fn new(to: impl Into<String>, from: impl Into<String>, body: Value) -> Self {
        Self {
            to: to.into(),
            from: from.into(),
            mid: new_mid(),
            timestamp: timestamp(),
            version: UMF_VERSION.to_string(),
            body,
            ..Self::default()
        }
    }

    /// Sets the type (`typ`).
    ///
    /// # Examples
    ///
    /// ```
    /// use hydra_protocol::Umf;
    /// let msg = Umf::new("hello-service:/", "client:/", serde_json::json!({})).with_type("refresh");
    /// assert_eq!(msg.typ.as_deref(), Some("refresh"));
    /// ```
    #[must_use]
    pub fn with_type(mut self, typ: impl Into<String>) -> Self {
        self.typ = Some(typ.into());
        self
    }

    /// Reads a message from JSON text (either field names), filling in defaults as Node does.
    ///
    /// # Errors
    /// [`UmfError::NotJson`] / [`UmfError::NotObject`] for payloads that are not a JSON object.
    /// The message is not validated: see [`Umf::validate`].
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), hydra_protocol::umf::UmfError> {
    /// use hydra_protocol::Umf;
    /// // Short names or long ones; Node's defaults for what is missing.
    /// let msg = Umf::parse(r#"{"to":"hello-service:/","frm":"client:/","bdy":{"ping":1}}"#)?;
    /// assert_eq!(msg.from, "client:/");
    /// assert_eq!(msg.body["ping"], 1);
    /// assert!(!msg.mid.is_empty());
    /// # Ok(()) }
    /// ```
    pub fn parse(text: &str) -> Result<Self, UmfError> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| UmfError::NotJson(e.to_string()))?;
        Self::from_owned(value)
    }

    /// Like [`Umf::from_value`], taking the value (no copies of the fields).
    ///
    /// # Errors
    /// As [`Umf::from_value`].
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), hydra_protocol::umf::UmfError> {
    /// use hydra_protocol::Umf;
    /// let value = serde_json::json!({"to": "hello-service:/", "from": "client:/", "body": "hi"});
    /// let msg = Umf::from_owned(value)?;
    /// assert_eq!(msg.body, "hi");
    /// # Ok(()) }
    /// ```
    pub fn from_owned(value: Value) -> Result<Self, UmfError> {
        let Value::Object(mut m) = value else {
            return Err(UmfError::NotObject);
        };
        let m = &mut m;
        let txt = |m: &mut Map<String, Value>, f: Field| text(take(m, f), f);
        Ok(Self {
            to: txt(m, field::TO)?.unwrap_or_default(),
            from: txt(m, field::FROM)?.unwrap_or_default(),
            headers: take(m, field::HEADERS),
            mid: txt(m, field::MID)?.unwrap_or_else(new_mid),
            rmid: txt(m, field::RMID)?,
            signature: txt(m, field::SIGNATURE)?,
            timeout: take(m, field::TIMEOUT),
            timestamp: txt(m, field::TIMESTAMP)?.unwrap_or_else(timestamp),
            typ: txt(m, field::TYPE)?,
            version: txt(m, field::VERSION)?.unwrap_or_else(|| UMF_VERSION.to_string()),
            via: txt(m, field::VIA)?,
            forward: take(m, field::FORWARD),
            body: take(m, field::BODY).unwrap_or(Value::Null),
            authorization: take(m, field::AUTHORIZATION),
        })
    }

    /// Like [`Umf::parse`], then [`Umf::validate`].
    ///
    /// # Errors
    /// As [`Umf::parse`], and [`UmfError::Invalid`] when `to`, `from` or `body` is missing.
    ///
    /// # Examples
    ///
    /// ```
    /// use hydra_protocol::umf::{Umf, UmfError};
    /// // Node treats an empty body as missing.
    /// let text = r#"{"to":"hello-service:/","frm":"client:/","bdy":""}"#;
    /// assert_eq!(Umf::parse_valid(text), Err(UmfError::Invalid));
    /// ```
    pub fn parse_valid(text: &str) -> Result<Self, UmfError> {
        let msg = Self::parse(text)?;
        msg.validate()?;
        Ok(msg)
    }

    /// Reads a message from a JSON value (either field names), filling in defaults as Node does.
    ///
    /// # Errors
    /// [`UmfError::NotObject`] when `value` is not an object, [`UmfError::NotAString`] when a
    /// string field holds an object or array.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), hydra_protocol::umf::UmfError> {
    /// use hydra_protocol::Umf;
    /// let value = serde_json::json!({"to": "hello-service:/", "frm": "client:/", "tmo": 5, "bdy": {}});
    /// let msg = Umf::from_value(&value)?;
    /// assert_eq!(msg.timeout, Some(serde_json::json!(5)));
    /// # Ok(()) }
    /// ```
    pub fn from_value(value: &Value) -> Result<Self, UmfError> {
        if !value.is_object() {
            return Err(UmfError::NotObject);
        }
        Self::from_owned(value.clone())
    }

    /// A message is valid when it has `to`, `from` and a body.
    ///
    /// # Errors
    /// [`UmfError::Invalid`] otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use hydra_protocol::Umf;
    /// let msg = Umf::new("hello-service:/", "client:/", serde_json::json!({"ping": 1}));
    /// assert!(msg.validate().is_ok());
    /// assert!(Umf::new("hello-service:/", "", serde_json::json!({"ping": 1})).validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<(), UmfError> {
        if self.to.is_empty() || self.from.is_empty() || !truthy(&self.body) {
            return Err(UmfError::Invalid);
        }
        Ok(())
    }

    /// The parsed `to` route.
    ///
    /// # Errors
    /// [`RouteError`] when `to` is not a route.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), hydra_protocol::route::RouteError> {
    /// use hydra_protocol::Umf;
    /// let msg = Umf::new("hello-service:[get]/v1/hello", "client:/", serde_json::json!({}));
    /// let route = msg.to_route()?;
    /// assert_eq!(route.service, "hello-service");
    /// assert_eq!(route.method.as_deref(), Some("get"));
    /// # Ok(()) }
    /// ```
    pub fn to_route(&self) -> Result<Route, RouteError> {
        Route::parse(&self.to)
    }

    /// Visits every field in Node's order (the signature only when `with_signature`).
    fn each_field(&self, with_signature: bool, mut visit: impl FnMut(Field, FieldValue<'_>)) {
        fn opt(v: &Option<String>) -> &str {
            v.as_deref().unwrap_or_default()
        }
        use FieldValue::{Json, Text};
        visit(field::TO, Text(&self.to));
        visit(field::FROM, Text(&self.from));
        visit(field::HEADERS, Json(self.headers.as_ref()));
        visit(field::MID, Text(&self.mid));
        visit(field::RMID, Text(opt(&self.rmid)));
        if with_signature {
            visit(field::SIGNATURE, Text(opt(&self.signature)));
        }
        visit(field::TIMEOUT, Json(self.timeout.as_ref()));
        visit(field::TIMESTAMP, Text(&self.timestamp));
        visit(field::TYPE, Text(opt(&self.typ)));
        visit(field::VERSION, Text(&self.version));
        visit(field::VIA, Text(opt(&self.via)));
        visit(field::FORWARD, Json(self.forward.as_ref()));
        visit(field::BODY, Json(Some(&self.body)));
        visit(field::AUTHORIZATION, Json(self.authorization.as_ref()));
    }

    /// The fields as a JSON object (short or long names), absent and falsy ones left out.
    fn fields(&self, short: bool, with_signature: bool) -> Map<String, Value> {
        let mut m = Map::new();
        self.each_field(with_signature, |f, v| {
            let name = if short { f.short } else { f.long };
            let v = match v {
                FieldValue::Text(s) => Value::String(s.to_string()),
                FieldValue::Json(v) => v.cloned().unwrap_or(Value::Null),
            };
            if truthy(&v) {
                m.insert(name.to_string(), v);
            }
        });
        m
    }

    /// The short form, keys in Node's order (`to, frm, hdr, mid, rmid, sig, tmo, ts, typ, ver,
    /// via, fwd, bdy, aut`), absent and falsy fields left out.
    ///
    /// # Examples
    ///
    /// ```
    /// use hydra_protocol::Umf;
    /// let msg = Umf::new("hello-service:/", "client:/", serde_json::json!({"ping": 1}));
    /// let short = msg.to_short();
    /// assert_eq!(short["frm"], "client:/");
    /// assert_eq!(short["bdy"]["ping"], 1);
    /// assert!(short.get("rmid").is_none()); // absent fields are left out
    /// ```
    pub fn to_short(&self) -> Value {
        Value::Object(self.fields(true, true))
    }

    /// The long form, keys in Node's order.
    ///
    /// # Examples
    ///
    /// ```
    /// use hydra_protocol::Umf;
    /// let msg = Umf::new("hello-service:/", "client:/", serde_json::json!({"ping": 1}));
    /// assert_eq!(msg.to_long()["from"], "client:/");
    /// ```
    pub fn to_long(&self) -> Value {
        Value::Object(self.fields(false, true))
    }

    /// The wire text: the short form as Node's `JSON.stringify` writes it.
    ///
    /// # Examples
    ///
    /// ```
    /// use hydra_protocol::Umf;
    /// let mut msg = Umf::new("hello-service:/", "client:/", serde_json::json!({"n": 1.0}));
    /// msg.mid = "m1".into();
    /// msg.timestamp = "2026-12-02T16:00:00.000Z".into();
    /// assert_eq!(
    ///     msg.to_wire(),
    ///     r#"{"to":"hello-service:/","frm":"client:/","mid":"m1","ts":"2026-12-02T16:00:00.000Z","ver":"UMF/1.4.6","bdy":{"n":1}}"#
    /// );
    /// ```
    pub fn to_wire(&self) -> String {
        let mut w = ObjectWriter::new();
        self.each_field(true, |f, v| match v {
            FieldValue::Text(s) => w.string(f.short, s),
            FieldValue::Json(v) => w.value(f.short, v),
        });
        w.finish()
    }

    /// The reply to this message, as Node's `sendReplyMessage` builds it: this message's fields,
    /// then `rmid` = this mid, `to` = this `from` (or this `via`), `from` = this `to`, then the
    /// fields of `response` on top (so the reply gets `response`'s fresh mid and timestamp).
    ///
    /// # Examples
    ///
    /// ```
    /// use hydra_protocol::Umf;
    /// use serde_json::json;
    /// let ask = Umf::new("hello-service:/", "a1b2@client:/", json!({"ping": 1}));
    /// let reply = ask.reply(&Umf::new("", "", json!({"pong": 1})));
    /// assert_eq!(reply.to, "a1b2@client:/");
    /// assert_eq!(reply.from, "hello-service:/");
    /// assert_eq!(reply.rmid.as_deref(), Some(ask.mid.as_str()));
    /// assert_eq!(reply.body, json!({"pong": 1}));
    /// ```
    pub fn reply(&self, response: &Umf) -> Umf {
        let mut reply = self.clone();
        reply.rmid = Some(self.mid.clone());
        reply.to = self.from.clone();
        reply.from = self.to.clone();
        reply.mid = response.mid.clone();
        reply.timestamp = response.timestamp.clone();
        reply.version = response.version.clone();
        let overlay_s = |dst: &mut String, src: &String| {
            if !src.is_empty() {
                dst.clone_from(src);
            }
        };
        overlay_s(&mut reply.to, &response.to);
        overlay_s(&mut reply.from, &response.from);
        fn overlay<T: Clone>(dst: &mut Option<T>, src: &Option<T>) {
            if src.is_some() {
                dst.clone_from(src);
            }
        }
        overlay(&mut reply.headers, &response.headers);
        overlay(&mut reply.rmid, &response.rmid);
        overlay(&mut reply.signature, &response.signature);
        overlay(&mut reply.timeout, &response.timeout);
        overlay(&mut reply.typ, &response.typ);
        overlay(&mut reply.via, &response.via);
        overlay(&mut reply.forward, &response.forward);
        overlay(&mut reply.authorization, &response.authorization);
        if truthy(&response.body) {
            reply.body = response.body.clone();
        }
        if let Some(via) = &self.via {
            reply.to.clone_from(via);
        }
        if self.forward.is_some() {
            reply.forward.clone_from(&self.forward);
        }
        reply
    }

    /// The text Node's `signMessage` hashes: `JSON.stringify` of the long form without the
    /// signature.
    ///
    /// # Examples
    ///
    /// ```
    /// use hydra_protocol::Umf;
    /// let msg = Umf::new("hello-service:/", "client:/", serde_json::json!({"ping": 1}));
    /// // The long form, as JSON.stringify writes it.
    /// assert!(msg.signing_text().starts_with(r#"{"to":"hello-service:/","from":"client:/""#));
    /// ```
    pub fn signing_text(&self) -> String {
        jsjson::to_string(&Value::Object(self.fields(false, false)))
    }

    /// The HMAC-SHA256 (hex) Node's `signMessage('sha256', secret)` would give this message.
    ///
    /// # Examples
    ///
    /// ```
    /// use hydra_protocol::Umf;
    /// let msg = Umf::new("hello-service:/", "client:/", serde_json::json!({"ping": 1}));
    /// let sig = msg.compute_signature(b"shared secret");
    /// assert_eq!(sig.len(), 64); // hex of a SHA-256 HMAC
    /// ```
    pub fn compute_signature(&self, secret: &[u8]) -> String {
        hex::encode(self.mac(secret).finalize().into_bytes())
    }

    fn mac(&self, secret: &[u8]) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts a key of any length");
        mac.update(self.signing_text().as_bytes());
        mac
    }

    /// Signs the message (HMAC-SHA256, hex), replacing any signature it had.
    ///
    /// # Examples
    ///
    /// ```
    /// use hydra_protocol::Umf;
    /// let mut msg = Umf::new("hello-service:/", "client:/", serde_json::json!({"ping": 1}));
    /// msg.sign(b"shared secret");
    /// assert!(msg.verify(b"shared secret"));
    /// ```
    pub fn sign(&mut self, secret: &[u8]) {
        self.signature = Some(self.compute_signature(secret));
    }

    /// Whether the message carries a signature that `secret` produced. Compared in constant time.
    ///
    /// # Examples
    ///
    /// ```
    /// use hydra_protocol::Umf;
    /// let mut msg = Umf::new("hello-service:/", "client:/", serde_json::json!({"ping": 1}));
    /// assert!(!msg.verify(b"shared secret")); // not signed
    /// msg.sign(b"shared secret");
    /// assert!(!msg.verify(b"another secret"));
    /// msg.body = serde_json::json!({"ping": 2}); // changed after signing
    /// assert!(!msg.verify(b"shared secret"));
    /// ```
    pub fn verify(&self, secret: &[u8]) -> bool {
        let Some(sig) = self.signature.as_deref() else {
            return false;
        };
        let Ok(bytes) = hex::decode(sig) else {
            return false;
        };
        self.mac(secret).verify_slice(&bytes).is_ok()
    }
}

impl Serialize for Umf {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_short().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Umf {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Umf::from_owned(value).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_are_filled() {
        let m = Umf::parse(r#"{"to":"a:/","frm":"b:/","bdy":{}}"#).unwrap();
        assert_eq!(m.version, UMF_VERSION);
        assert_eq!(m.mid.len(), 36);
        assert!(uuid::Uuid::parse_str(&m.mid).is_ok());
        assert_eq!(m.timestamp.len(), 24);
        assert!(m.timestamp.ends_with('Z'));
    }

    #[test]
    fn long_and_short_read_the_same() {
        let short = json!({"to":"a:/","frm":"b:/","hdr":{"h":1},"mid":"m","rmid":"r","sig":"s",
            "tmo":5,"ts":"t","typ":"x","ver":"v","via":"w","fwd":"f","bdy":{"k":1},"aut":"z"});
        let long = json!({"to":"a:/","from":"b:/","headers":{"h":1},"mid":"m","rmid":"r",
            "signature":"s","timeout":5,"timestamp":"t","type":"x","version":"v","via":"w",
            "forward":"f","body":{"k":1},"authorization":"z"});
        let a = Umf::from_value(&short).unwrap();
        let b = Umf::from_value(&long).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_short(), short);
        assert_eq!(b.to_long(), long);
    }

    #[test]
    fn short_form_key_order_is_nodes() {
        let long = json!({"authorization":"z","body":{"k":1},"forward":"f","via":"w",
            "version":"v","type":"x","timestamp":"t","timeout":5,"signature":"s","rmid":"r",
            "mid":"m","headers":{"h":1},"from":"b:/","to":"a:/"});
        let wire = Umf::from_value(&long).unwrap().to_wire();
        assert_eq!(
            wire,
            r#"{"to":"a:/","frm":"b:/","hdr":{"h":1},"mid":"m","rmid":"r","sig":"s","tmo":5,"ts":"t","typ":"x","ver":"v","via":"w","fwd":"f","bdy":{"k":1},"aut":"z"}"#
        );
    }

    #[test]
    fn vector_messages_round_trip_byte_for_byte() {
        let dir = crate::testdata::vectors_dir().join("examples");
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("vectors missing at {}: {e}", dir.display()));
        let mut n = 0;
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if !name.starts_with("umf-") && !name.starts_with("queue-") {
                continue;
            }
            let text = std::fs::read_to_string(e.path()).unwrap();
            let text = text.trim();
            let m = Umf::parse_valid(text).unwrap();
            assert_eq!(m.to_wire(), text, "{name}");
            n += 1;
        }
        assert!(n >= 8, "expected the UMF vectors, found {n}");
    }

    #[test]
    fn falsy_fields_count_as_absent() {
        let m = Umf::from_value(&json!({"to":"a:/","from":"","frm":"b:/","bdy":0,"body":{"x":1}}))
            .unwrap();
        assert_eq!(m.from, "b:/");
        assert_eq!(m.body, json!({"x":1}));
        let m = Umf::from_value(&json!({"to":"a:/","frm":"b:/","bdy":0})).unwrap();
        assert_eq!(m.validate(), Err(UmfError::Invalid));
    }

    #[test]
    fn validation() {
        assert!(Umf::parse_valid(r#"{"to":"a:/","frm":"b:/","bdy":{}}"#).is_ok());
        for bad in [
            r#"{"frm":"b:/","bdy":{}}"#,
            r#"{"to":"a:/","bdy":{}}"#,
            r#"{"to":"a:/","frm":"b:/"}"#,
            r#"{"to":"a:/","frm":"b:/","bdy":null}"#,
        ] {
            assert_eq!(Umf::parse_valid(bad), Err(UmfError::Invalid), "{bad}");
        }
        assert_eq!(Umf::parse("123"), Err(UmfError::NotObject));
        assert_eq!(Umf::parse("[]"), Err(UmfError::NotObject));
        assert!(matches!(Umf::parse("not json"), Err(UmfError::NotJson(_))));
        assert_eq!(
            Umf::parse(r#"{"to":{"x":1},"frm":"b:/","bdy":1}"#),
            Err(UmfError::NotAString("to"))
        );
    }

    #[test]
    fn reply_as_node_builds_it() {
        // The pair recorded from Node (vectors/examples/umf-probe-to-node-echo.json and its reply).
        let original = Umf::parse(r#"{"to":"node-echo:/","frm":"ID5@hydra-probe:/","mid":"MID1","ts":"2026-11-27T17:50:40.521Z","typ":"lab.ping","ver":"UMF/1.4.6","bdy":{"msg":"ping from probe"}}"#).unwrap();
        let mut response =
            Umf::from_value(&json!({"bdy":{"echo":{"msg":"ping from probe"},"from":"node"}}))
                .unwrap();
        response.mid = "MID2".into();
        response.timestamp = "2026-11-27T17:50:40.528Z".into();
        let reply = original.reply(&response);
        assert_eq!(
            reply.to_wire(),
            r#"{"to":"ID5@hydra-probe:/","frm":"node-echo:/","mid":"MID2","rmid":"MID1","ts":"2026-11-27T17:50:40.528Z","typ":"lab.ping","ver":"UMF/1.4.6","bdy":{"echo":{"msg":"ping from probe"},"from":"node"}}"#
        );
    }

    #[test]
    fn reply_goes_via_and_keeps_forward() {
        let original = Umf::from_value(&json!({"to":"svc:/","frm":"client:/","via":"r1-c2@hydra-router:/","fwd":"x","bdy":{"q":1}})).unwrap();
        let response =
            Umf::from_value(&json!({"to":"elsewhere:/","fwd":"y","bdy":{"a":2}})).unwrap();
        let reply = original.reply(&response);
        assert_eq!(reply.to, "r1-c2@hydra-router:/");
        assert_eq!(reply.forward, Some(json!("x")));
        assert_eq!(reply.from, "svc:/");
        assert_eq!(reply.rmid.as_deref(), Some(original.mid.as_str()));
        assert_eq!(reply.body, json!({"a":2}));
    }

    #[test]
    fn signature_round_trip_and_tamper() {
        let mut m = Umf::new("a:/", "b:/", json!({"n": 1}));
        m.sign(b"secret");
        assert!(m.verify(b"secret"));
        assert!(!m.verify(b"other"));
        let mut wire = Umf::parse(&m.to_wire()).unwrap();
        assert!(wire.verify(b"secret"));
        wire.body = json!({"n": 2});
        assert!(!wire.verify(b"secret"));
        m.signature = Some("zz".into());
        assert!(!m.verify(b"secret"));
    }

    #[test]
    fn signing_text_is_long_form_without_signature() {
        let mut m =
            Umf::from_value(&json!({"to":"a:/","frm":"b:/","mid":"m","ts":"t","bdy":{"x":1}}))
                .unwrap();
        m.signature = Some("old".into());
        assert_eq!(
            m.signing_text(),
            r#"{"to":"a:/","from":"b:/","mid":"m","timestamp":"t","version":"UMF/1.4.6","body":{"x":1}}"#
        );
    }

    #[test]
    fn iso_time_matches_javascript() {
        let t = time::macros::datetime!(2026-11-27 17:16:33.123456 UTC);
        assert_eq!(iso_time(t), "2026-11-27T17:16:33.123Z");
    }
}

#[cfg(test)]
mod node_vectors {
    use super::*;

    /// Messages signed by Node hydra 1.9.3 (`tests/interop/make-signature-vectors.js`): the same
    /// input must give the same HMAC input, signature and short form here.
    #[test]
    fn signatures_match_node() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/interop/signature-vectors.json"
        );
        let vectors: Vec<Value> =
            serde_json::from_str(&std::fs::read_to_string(path).expect("signature vectors"))
                .unwrap();
        assert!(vectors.len() >= 6);
        for v in vectors {
            let name = v["name"].as_str().unwrap();
            let secret = v["secret"].as_str().unwrap().as_bytes();
            let mut m = Umf::parse(v["message_text"].as_str().unwrap()).unwrap();
            assert_eq!(
                m.signing_text(),
                v["hmac_input"].as_str().unwrap(),
                "{name}"
            );
            m.sign(secret);
            assert_eq!(m.signature.as_deref(), v["signature"].as_str(), "{name}");
            assert_eq!(m.to_wire(), crate::jsjson::to_string(&v["short"]), "{name}");
            // And what Node signed verifies here.
            let signed = Umf::from_value(&v["short"]).unwrap();
            assert!(signed.verify(secret), "{name}");
        }
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    fn json_leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-(1i64 << 53)..(1i64 << 53)).prop_map(Value::from),
            (-1e15f64..1e15).prop_map(Value::from),
            "[ -~\\PC]{0,12}".prop_map(Value::String),
        ]
    }

    fn json() -> impl Strategy<Value = Value> {
        json_leaf().prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec(("[a-z0-9]{1,6}", inner), 0..4)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    fn text() -> impl Strategy<Value = String> {
        "[ -~\\PC]{0,16}"
    }

    prop_compose! {
        fn message()(to in text(), from in text(), mid in "[ -~]{1,16}", ts in "[ -~]{1,16}", typ in proptest::option::of(text()),
                     via in proptest::option::of(text()), rmid in proptest::option::of(text()),
                     headers in proptest::option::of(json()), body in json(), fwd in proptest::option::of(json()),
                     long in any::<bool>()) -> (Value, bool) {
            let mut m = serde_json::Map::new();
            let name = |l: &'static str, s: &'static str| if long { l } else { s };
            m.insert("to".into(), Value::String(to));
            m.insert(name("from", "frm").into(), Value::String(from));
            m.insert("mid".into(), Value::String(mid));
            m.insert(name("timestamp", "ts").into(), Value::String(ts));
            if let Some(t) = typ { m.insert(name("type", "typ").into(), Value::String(t)); }
            if let Some(v) = via { m.insert("via".into(), Value::String(v)); }
            if let Some(r) = rmid { m.insert("rmid".into(), Value::String(r)); }
            if let Some(h) = headers { m.insert(name("headers", "hdr").into(), h); }
            if let Some(f) = fwd { m.insert(name("forward", "fwd").into(), f); }
            m.insert(name("body", "bdy").into(), body);
            (Value::Object(m), long)
        }
    }

    proptest! {
        #[test]
        fn wire_text_is_the_short_form_as_javascript_writes_it((v, _long) in message()) {
            let m = Umf::from_value(&v).unwrap();
            prop_assert_eq!(m.to_wire(), jsjson::to_string(&m.to_short()));
            prop_assert_eq!(Umf::from_owned(v.clone()).unwrap().to_wire(), m.to_wire());
        }

        #[test]
        fn long_and_short_round_trip((v, _long) in message()) {
            let m = Umf::from_value(&v).unwrap();
            // Equal on the wire (a float 0.0 and an integer 0 are one JSON number).
            let back = Umf::parse(&m.to_wire()).unwrap();
            prop_assert_eq!(back.to_wire(), m.to_wire());
            let via_long = Umf::from_value(&m.to_long()).unwrap();
            prop_assert_eq!(via_long.to_wire(), m.to_wire());
        }

        #[test]
        fn any_text_parses_or_fails_cleanly(s in "\\PC{0,64}") {
            let _ = Umf::parse(&s);
            if let Ok(route) = crate::route::Route::parse(&s) {
                prop_assert_eq!(crate::route::Route::parse(&route.to_string()), Ok(route));
            }
        }
    }
}
