//! The KES routes live with KES's other wire types in the client crate (`minkms_client::kes`),
//! where the fuzz target reaches them; the server converts their refusals into its answers.

pub(crate) use minkms_client::kes::{api_table, claims, prefix_of, Call, Route};

use crate::api::error::ApiError;

impl From<minkms_client::kes::KesError> for ApiError {
    fn from(e: minkms_client::kes::KesError) -> Self {
        ApiError::new(e.status, e.message)
    }
}

/// The route of a request and its argument (see [`minkms_client::kes::find`]).
pub(crate) fn find(
    method: &http::Method,
    path: &str,
) -> Result<(&'static Route, String), ApiError> {
    Ok(minkms_client::kes::find(method, path)?)
}
