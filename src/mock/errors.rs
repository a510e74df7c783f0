//! Error bodies in the shape of each API family.

use serde_json::{Value, json};

use crate::contract::ErrorFamily;

use super::state::random_hex;

pub fn error_body(family: ErrorFamily, status: u16, message: &str) -> Value {
    match family {
        ErrorFamily::EcsV1 => {
            json!({"error": {"code": format!("Ecs.{:04}", status), "message": message}})
        }
        ErrorFamily::Nova => {
            // nova's own table (nova/api/openstack/wsgi.py Fault): anything
            // else is a computeFault.
            let key = match status {
                400 => "badRequest",
                401 => "unauthorized",
                403 => "forbidden",
                404 => "itemNotFound",
                405 => "badMethod",
                409 => "conflictingRequest",
                413 | 429 => "overLimit",
                415 => "badMediaType",
                501 => "notImplemented",
                503 => "serviceUnavailable",
                _ => "computeFault",
            };
            json!({key: {"code": status, "message": message}})
        }
        ErrorFamily::VpcV3 => {
            json!({"request_id": random_hex(), "error_code": format!("VPC.{:04}", status), "error_msg": message})
        }
        ErrorFamily::ApiGateway => {
            json!({"error_code": "APIGW.0301", "error_msg": format!("Incorrect IAM authentication information: {message}"), "request_id": random_hex()})
        }
    }
}

/// The family of a path that matched no operation, from its version prefix.
pub fn family_of_path(path: &str) -> ErrorFamily {
    if path.starts_with("/v2.1/") {
        ErrorFamily::Nova
    } else if path.starts_with("/v3/") {
        ErrorFamily::VpcV3
    } else {
        ErrorFamily::EcsV1
    }
}
