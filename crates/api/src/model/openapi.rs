//! OpenAPI schemas of the model types whose JSON is written by hand (`feature = "openapi"`):
//! a job id and a service endpoint are strings, a health check an object tagged by `type`.

use std::borrow::Cow;

use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

use super::health_check::HealthCheck;
use super::job_id::JobId;
use super::service::ServiceEndpoint;

/// A string schema with a description.
fn string(description: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(SchemaType::new(Type::String))
        .description(Some(description))
        .into()
}

impl PartialSchema for JobId {
    fn schema() -> RefOr<Schema> {
        string("A job id: `name:version`, or `name:version:hash` with the SHA-1 of the job")
    }
}

impl ToSchema for JobId {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("JobId")
    }
}

impl PartialSchema for ServiceEndpoint {
    fn schema() -> RefOr<Schema> {
        string("A registered service: `name/protocol` (`name` alone means `name/http`)")
    }
}

impl ToSchema for ServiceEndpoint {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ServiceEndpoint")
    }
}

impl PartialSchema for HealthCheck {
    fn schema() -> RefOr<Schema> {
        let strings = || {
            ObjectBuilder::new()
                .schema_type(SchemaType::new(Type::Array))
                .into()
        };
        let text = || ObjectBuilder::new().schema_type(SchemaType::new(Type::String));
        ObjectBuilder::new()
            .schema_type(SchemaType::new(Type::Object))
            .description(Some(
                "How the agent decides a container is healthy: `{\"type\":\"http\",\"path\",\
                 \"port\"}`, `{\"type\":\"tcp\",\"port\"}` or `{\"type\":\"exec\",\"command\"}`",
            ))
            .property("type", text().enum_values(Some(["http", "tcp", "exec"])))
            .required("type")
            .property("path", text())
            .property("port", text())
            .property::<_, RefOr<Schema>>("command", strings())
            .into()
    }
}

impl ToSchema for HealthCheck {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("HealthCheck")
    }
}
