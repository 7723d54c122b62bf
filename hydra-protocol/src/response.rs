//! Node hydra's response envelope: `{statusCode, statusMessage, statusDescription, result}`.

use serde_json::{Map, Value};

/// Node's status message and description for an HTTP status code.
pub fn status_text(code: u16) -> (String, String) {
    let known = match code {
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
    };
    match known {
        Some((m, d)) => (m.to_string(), d.to_string()),
        None => (code.to_string(), format!("Unknown statusCode {code}")),
    }
}

/// Node's `createResponseObject(code, payload)`: the envelope with `payload`'s fields on top.
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
pub fn service_answer(code: u16, answer: Map<String, Value>) -> Value {
    let mut payload = Map::new();
    payload.insert("statusCode".into(), Value::from(code));
    payload.extend(answer);
    envelope(code, Value::Object(payload))
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

    #[test]
    fn unknown_code() {
        let v = envelope(418, Value::Null);
        assert_eq!(v["statusMessage"], "418");
        assert_eq!(v["statusDescription"], "Unknown statusCode 418");
        assert_eq!(v["result"], json!({}));
    }
}
