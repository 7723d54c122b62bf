//! A JSON body extractor whose rejections are Node-shaped: 400 with the parse error, 413 when the
//! body is over the limit.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

use crate::response::ApiError;

/// Like [`axum::Json`], but a malformed body is a 400 envelope with the reason and an oversized
/// one a 413 envelope.
///
/// # Examples
///
/// ```
/// use hydra_service::{Envelope, Json};
///
/// #[derive(serde::Deserialize)]
/// struct Greeting {
///     name: String,
/// }
///
/// // A body that is not a `Greeting` gets a 400 envelope saying why.
/// async fn greet(Json(g): Json<Greeting>) -> Envelope {
///     Envelope::ok(format!("hello, {}", g.name))
/// }
/// # let config = hydra_core::Config::from_value(
/// #     serde_json::json!({"hydra": {"serviceName": "greeter"}})).unwrap();
/// let service = hydra_service::HydraService::new(config).post("/v1/greet", greet);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let limit = req
            .extensions()
            .get::<crate::service::BodyLimit>()
            .map_or(usize::MAX, |l| l.0);
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(JsonRejection::BytesRejection(e)) if e.status() == 413 => {
                Err(ApiError::PayloadTooLarge { limit })
            }
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::BadRequest(
                "expected a JSON body (content-type: application/json)".into(),
            )),
            Err(e) => Err(ApiError::BadRequest(format!(
                "invalid JSON body: {}",
                e.body_text()
            ))),
        }
    }
}
