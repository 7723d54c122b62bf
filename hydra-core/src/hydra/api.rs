//! HTTP API requests through the handle (the work is [`ApiClient`](crate::api)'s).

use super::Hydra;
use crate::api::ApiResponse;
use crate::error::HydraError;
use crate::umf::Umf;

impl Hydra {
    /// Makes the HTTP call `msg` describes on an instance of its service: the instance named in
    /// `to` when present, else a random one; on a connection failure the next instance is tried.
    /// Headers come from `headers`, `Authorization` from `authorization`, the JSON body from
    /// `body` (POST, PUT, PATCH), the timeout from `timeout` (seconds) or the builder's default.
    ///
    /// Any HTTP status is a successful call: look at [`ApiResponse::status`].
    ///
    /// # Errors
    /// [`HydraError::BadRequest`] with Node's reasons for an unusable message;
    /// [`HydraError::Unavailable`] "Unavailable {svc} instances" when none is present and
    /// "An instance of {svc} is unavailable" when every one failed to connect;
    /// [`HydraError::Timeout`] when the instance did not answer in time.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(hydra: hydra_core::Hydra) -> Result<(), hydra_core::HydraError> {
    /// use hydra_core::Umf;
    /// let call = Umf::new("hello-service:[get]/v1/hello/test", hydra.own_route(), serde_json::json!({}));
    /// let answer = hydra.api_request(&call).await?;
    /// if answer.status == 200 {
    ///     println!("{} answered {:?}", answer.instance_id, answer.json());
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn api_request(&self, msg: &Umf) -> Result<ApiResponse, HydraError> {
        self.engine.api.api_request(msg).await
    }
}
