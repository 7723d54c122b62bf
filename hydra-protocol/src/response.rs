//! Node hydra's response envelope: `{statusCode, statusMessage, statusDescription, result}`.

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::{canonical, jsjson};

/// Node's status message and description for an HTTP status code.
///
/// # Examples
///
/// ```
/// use hydra_protocol::response::status_text;
/// assert_eq!(status_text(404).0, "Not Found");
/// assert_eq!(status_text(418).1, "Unknown statusCode 418");
/// ```
pub fn status_text(code: u16) -> (String, String) {
    let (m, d) = status_words(code);
    (m.into_owned(), d.into_owned())
}

/// [`status_text`] without copying the words of Node's table.
fn status_words(code: u16) -> (Cow<'static, str>, Cow<'static, str>) {
    match known_status(code) {
        Some((m, d)) => (Cow::Borrowed(m), Cow::Borrowed(d)),
        None => (
            Cow::Owned(code.to_string()),
            Cow::Owned(format!("Unknown statusCode {code}")),
        ),
    }
}

/// The status message and description in Node's table, if `code` is in it.
fn known_status(code: u16) -> Option<(&'static str, &'static str)> {
    match code {
        200 => Some(("OK", "Request succeeded without error")),
        201 => Some(("Created", "Resource created")),
        202 => Some(("Accepted", "Request accepted")),
        204 => Some(("No Content", "Resource has no content")),
        301 => Some(("Moved Permanently", "Resource has been permanently moved")),
        302 => Some(("Found", "Resource was found under another URI")),
        304 => Some(("Not Modified", "Resource has not been modified")),
        400 => Some(("Bad Request", "Request is invalid, missing parameters?")),
        401 => Some(("Unauthorized", "User isn't authorized to access this resource")),
        402 => Some(("Payment Required", "This code is reserved for future use.")),
        403 => Some(("Forbidden", "The server understood the request but refuses to authorize it")),
        404 => Some(("Not Found", "The requested resource was not found on the server")),
        405 => Some(("Method not allowed", "The HTTP method used is not allowed")),
        406 => Some(("Not Acceptable", "The target resource does not have a current representation that would be acceptable to the user agent")),
        409 => Some(("Conflict", "Request has caused a conflict")),
        413 => Some(("Request Entity Too Large", "The webserver or proxy believes the request is too large")),
        429 => Some(("Too Many Requests", "Too many requests issue within a period")),
        500 => Some(("Server Error", "An error occurred on the server")),
        501 => Some(("Method Not Implemented", "The requested method / resource isn't implemented on the server")),
        502 => Some(("Connection Refused", "The connection to server was refused")),
        503 => Some(("Service Unavailable", "The server is currently unable to handle the request due to a temporary overloading or maintenance of the server")),
        // Not in Node's table; Node would print "Unknown statusCode 504".
        504 => Some(("Gateway Timeout", "The upstream server did not answer in time")),
        _ => None,
    }
}

/// Node's `createResponseObject(code, payload)`: the envelope with `payload`'s fields on top.
///
/// # Examples
///
/// ```
/// use hydra_protocol::response::envelope;
/// let body = envelope(503, serde_json::json!({"result": {"reason": "Unavailable hello-service instances"}}));
/// assert_eq!(body["statusMessage"], "Service Unavailable");
/// assert_eq!(body["result"]["reason"], "Unavailable hello-service instances");
/// ```
pub fn envelope(code: u16, payload: Value) -> Value {
    let (message, description) = status_text(code);
    let mut out = Map::new();
    out.insert("statusCode".into(), Value::from(code));
    out.insert("statusMessage".into(), Value::String(message));
    out.insert("statusDescription".into(), Value::String(description));
    out.insert("result".into(), Value::Object(Map::new()));
    if let Value::Object(fields) = payload {
        for (k, v) in fields {
            out.insert(k, v);
        }
    }
    Value::Object(out)
}

/// What Node answers for a service's JSON answer: `createResponseObject(code, {statusCode:
/// code, ...answer})`, the envelope with the service's own fields on top.
///
/// # Examples
///
/// ```
/// use hydra_protocol::response::service_answer;
/// let answer = serde_json::json!({"result": {"msg": "hello"}});
/// let body = service_answer(200, answer.as_object().unwrap().clone());
/// assert_eq!(body["statusCode"], 200);
/// assert_eq!(body["result"]["msg"], "hello");
/// ```
pub fn service_answer(code: u16, answer: Map<String, Value>) -> Value {
    let mut payload = Map::new();
    payload.insert("statusCode".into(), Value::from(code));
    payload.extend(answer);
    envelope(code, Value::Object(payload))
}

/// Node's answer for a service's JSON answer `body` with status `code`, as JSON text
/// ([`service_answer`], written as `JSON.stringify` writes it); `None` when `body` is not a JSON
/// object (it is passed on as it is).
///
/// An answer already in `JSON.stringify` form (the usual case, from Node and from Rust peers) is
/// spliced into the envelope without being parsed into a tree; anything else is parsed. Both
/// give the same bytes.
///
/// # Examples
///
/// ```
/// use hydra_protocol::response::service_answer_text;
/// let text = service_answer_text(200, br#"{"result":{"msg":"hello"}}"#).unwrap();
/// assert!(text.starts_with(r#"{"statusCode":200,"statusMessage":"OK""#));
/// assert!(text.ends_with(r#""result":{"msg":"hello"}}"#));
/// assert_eq!(service_answer_text(200, b"plain text"), None);
/// ```
pub fn service_answer_text(code: u16, body: &[u8]) -> Option<String> {
    if let Some(members) = canonical::object_members(body) {
        return Some(splice_answer(code, &members));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(fields)) => Some(jsjson::to_string(&service_answer(code, fields))),
        _ => None,
    }
}

/// The envelope's four fields in their places (a member of the answer of the same name taking
/// the place), then the answer's other members in their order.
fn splice_answer(code: u16, members: &[canonical::Member<'_>]) -> String {
    let (message, description) = status_words(code);
    let len: usize = members.iter().map(|(k, v)| k.len() + v.len() + 4).sum();
    let mut out = String::with_capacity(len + message.len() + description.len() + 80);
    let own = |name: &str| members.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
    out.push_str("{\"statusCode\":");
    match own("statusCode") {
        Some(v) => out.push_str(v),
        None => out.push_str(&code.to_string()),
    }
    out.push_str(",\"statusMessage\":");
    match own("statusMessage") {
        Some(v) => out.push_str(v),
        None => jsjson::write_str(&mut out, &message),
    }
    out.push_str(",\"statusDescription\":");
    match own("statusDescription") {
        Some(v) => out.push_str(v),
        None => jsjson::write_str(&mut out, &description),
    }
    out.push_str(",\"result\":");
    out.push_str(own("result").unwrap_or("{}"));
    for (k, v) in members {
        if !matches!(
            *k,
            "statusCode" | "statusMessage" | "statusDescription" | "result"
        ) {
            out.push(',');
            jsjson::write_str(&mut out, k);
            out.push(':');
            out.push_str(v);
        }
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hello_envelope() {
        let v = envelope(200, json!({"result": {"msg": "hi"}}));
        assert_eq!(
            crate::jsjson::to_string(&v),
            r#"{"statusCode":200,"statusMessage":"OK","statusDescription":"Request succeeded without error","result":{"msg":"hi"}}"#
        );
    }

    /// The answer as the full parse gives it.
    fn parsed(code: u16, body: &str) -> Option<String> {
        match serde_json::from_str::<Value>(body) {
            Ok(Value::Object(f)) => Some(jsjson::to_string(&service_answer(code, f))),
            _ => None,
        }
    }

    #[test]
    fn spliced_answers_match_the_parsed_ones() {
        for (code, body) in [
            (
                200,
                r#"{"statusCode":200,"statusMessage":"OK","statusDescription":"Request succeeded without error","result":{"msg":"hi"}}"#,
            ),
            (201, r#"{"result":[1,2],"extra":"x","statusCode":299}"#),
            (404, r#"{"zz":1,"statusDescription":"gone","a":{"b":null}}"#),
            (418, "{}"),
            (200, r#"{"a":1.5}"#),
            (200, "{\"1\":1,\"b\":2}"),
            (200, "[1,2]"),
            (200, "not json"),
        ] {
            assert_eq!(
                service_answer_text(code, body.as_bytes()),
                parsed(code, body),
                "{body}"
            );
        }
        assert!(canonical::object_members(br#"{"result":[1,2],"extra":"x"}"#).is_some());
    }

    proptest::proptest! {
        #[test]
        fn any_object_answer_is_written_as_the_parse_writes_it(
            kv in proptest::collection::vec(
                ("(statusCode|statusMessage|statusDescription|result|[a-c1]{1,2})",
                 proptest::prelude::any::<i32>(), "[ -~\\n]{0,5}"),
                0..6),
            code in 100u16..600,
            float in proptest::prelude::any::<bool>(),
        ) {
            let mut map = Map::new();
            for (k, n, s) in kv {
                let v = if float { serde_json::json!(f64::from(n) / 8.0) } else { serde_json::json!([n, s]) };
                map.insert(k, v);
            }
            let body = jsjson::to_string(&Value::Object(map));
            proptest::prop_assert_eq!(service_answer_text(code, body.as_bytes()), parsed(code, &body));
        }
    }

    #[test]
    fn unknown_code() {
        let v = envelope(418, Value::Null);
        assert_eq!(v["statusMessage"], "418");
        assert_eq!(v["statusDescription"], "Unknown statusCode 418");
        assert_eq!(v["result"], json!({}));
    }
}
